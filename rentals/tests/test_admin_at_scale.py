"""The staff change lists stay cheap as the tables grow: the same number of
queries for 3 orders as for 60, no ``SELECT DISTINCT`` (no date drill-down
computed from every row, no search joined over the payments), no second count
of the whole table; searches find by order number, phone, plate and
transaction id exactly, each order once. ``bench/staff_pages.py`` measures the
same pages at 100,000 orders."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Payment, PaymentEvent
from customers.tests.factories import CustomerFactory
from rentals.models import Rental, RentalEvent
from rentals.tests.admin_support import NOW
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss", "boss@example.com", "pw-boss-123"))
    return client


def add_orders(n: int, *, first: int = 0) -> list[Rental]:
    """``n`` orders spread over two years, over three customers and three cars,
    each with a failed charge attempt, a PAID charge and two audit rows."""
    customers = [CustomerFactory() for _ in range(3)]
    vehicles = [VehicleFactory() for _ in range(3)]
    rentals = []
    for i in range(first, first + n):
        vehicle = vehicles[i % 3]
        start = NOW - timedelta(days=7 * i + 3)
        rental = Rental(
            customer=customers[i % 3],
            vehicle=vehicle,
            pickup_location=vehicle.location,
            return_location=vehicle.location,
            start_time=start,
            end_time=start + timedelta(days=2),
            status=Rental.Status.COMPLETED if i % 2 else Rental.Status.ONGOING,
            created_at=start - timedelta(days=1),
        )
        rental.apply_quote()
        rentals.append(rental)
    rentals = Rental.objects.bulk_create(rentals)
    payments = []
    for rental in rentals:
        for attempt, status in enumerate((Payment.Status.FAILED, Payment.Status.PAID)):
            payments.append(
                Payment(
                    rental=rental,
                    user=rental.customer.user,
                    amount=Decimal("500.00"),
                    status=status,
                    transaction_type=Payment.TransactionType.CHARGE,
                    transaction_id=f"PAYS{rental.pk:08d}{attempt}",
                    provider_reference=f"SBX-{rental.pk}-{attempt}",
                    payment_method=Payment.Method.ALIPAY,
                    provider="sandbox",
                    paid_at=rental.start_time if status == Payment.Status.PAID else None,
                    created_at=rental.start_time - timedelta(hours=1),
                )
            )
    payments = Payment.objects.bulk_create(payments)
    PaymentEvent.objects.bulk_create(
        PaymentEvent(payment=p, rental=p.rental, event="status_changed", to_status=p.status, created_at=p.created_at)
        for p in payments
    )
    RentalEvent.objects.bulk_create(
        RentalEvent(rental=r, event="created", to_status=r.status, created_at=r.created_at) for r in rentals
    )
    for rental in rentals:
        rental.refresh_financials()
    return rentals


def get(client, url, params=None):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200, url
    return response, [q["sql"] for q in queries.captured_queries]


CHANGELISTS = [
    ("/admin/rentals/rental/", {}),
    ("/admin/rentals/rental/", {"status__exact": "ONGOING"}),
    ("/admin/rentals/rental/", {"settlement_status__exact": "SETTLED"}),
    ("/admin/rentals/rental/", {"overdue": "yes"}),
    ("/admin/rentals/rental/", {"start_time__year": "2025"}),
    ("/admin/rentals/rental/", {"start_time__year": "2025", "start_time__month": "6"}),
    ("/admin/rentals/rental/", {"q": "13800000001"}),
    ("/admin/rentals/rentalevent/", {}),
    ("/admin/rentals/rentalevent/", {"created_at__year": "2025"}),
    ("/admin/accounts/payment/", {}),
    ("/admin/accounts/payment/", {"status__exact": "PAID", "payment_method__exact": "ALIPAY"}),
    ("/admin/accounts/payment/", {"created_at__year": "2025", "created_at__month": "6"}),
    ("/admin/accounts/payment/", {"provider__exact": "sandbox"}),
    ("/admin/accounts/payment/", {"q": "PAYS000000011"}),
    ("/admin/accounts/paymentevent/", {}),
    ("/admin/accounts/paymentevent/", {"q": "status_changed"}),
]


@pytest.mark.parametrize(("url", "params"), CHANGELISTS)
def test_a_change_list_costs_the_same_queries_for_3_orders_as_for_60(admin_client, frozen, url, params):
    add_orders(3)
    cache.clear()
    _small, small_queries = get(admin_client, url, params)

    add_orders(57, first=3)
    cache.clear()
    _large, large_queries = get(admin_client, url, params)

    assert len(large_queries) == len(small_queries)
    # session, user, the page's count, its rows, the drill-down's first and last date
    # (two index lookups), the provider filter's values (read once, then cached)
    assert len(large_queries) <= 10


@pytest.mark.parametrize(("url", "params"), CHANGELISTS)
def test_no_change_list_reads_distinct_rows_or_counts_the_whole_table_twice(admin_client, frozen, url, params):
    add_orders(6)
    get(admin_client, url, params)  # fills the provider filter's cached values

    response, queries = get(admin_client, url, params)

    assert not [sql for sql in queries if "DISTINCT" in sql.upper()]
    assert response.context["cl"].show_full_result_count is False
    # (the session's user counts its unread notices in a subquery: not a table count)
    counts = [sql for sql in queries if "COUNT(" in sql.upper() and 'FROM "auth_user"' not in sql]
    assert len(counts) <= 1  # the page's own count only


def ids(response) -> list[int]:
    return [row.pk for row in response.context["cl"].result_list]


def test_rental_search_finds_by_order_number_phone_plate_and_transaction_id_each_once(admin_client, frozen):
    rentals = add_orders(9)
    target = rentals[4]
    same_customer = sorted((r.pk for r in rentals if r.customer_id == target.customer_id), reverse=True)
    same_car = sorted((r.pk for r in rentals if r.vehicle_id == target.vehicle_id), reverse=True)
    charge = target.payments.get(status=Payment.Status.PAID)

    by_number, _ = get(admin_client, "/admin/rentals/rental/", {"q": str(target.pk)})
    by_phone, _ = get(admin_client, "/admin/rentals/rental/", {"q": f" {target.customer.phone} "})
    by_plate, _ = get(admin_client, "/admin/rentals/rental/", {"q": target.vehicle.plate_number})
    by_tx, _ = get(admin_client, "/admin/rentals/rental/", {"q": charge.transaction_id})
    by_name, _ = get(admin_client, "/admin/rentals/rental/", {"q": target.customer.name})

    assert ids(by_number) == [target.pk]
    assert sorted(ids(by_phone), reverse=True) == same_customer
    assert sorted(ids(by_plate), reverse=True) == same_car
    assert ids(by_tx) == [target.pk]
    assert by_tx.context["cl"].result_count == 1  # two payments, one order
    assert sorted(ids(by_name), reverse=True) == same_customer


def test_rental_search_is_exact_on_phone_plate_and_transaction_id(admin_client, frozen):
    rentals = add_orders(3)
    target = rentals[0]

    part_of_phone, _ = get(admin_client, "/admin/rentals/rental/", {"q": target.customer.phone[:7]})
    part_of_tx, _ = get(admin_client, "/admin/rentals/rental/", {"q": "PAYS"})
    lower_plate, _ = get(admin_client, "/admin/rentals/rental/", {"q": target.vehicle.plate_number.lower()})

    assert ids(part_of_phone) == []
    assert ids(part_of_tx) == []
    # digits are an order or phone number, never a part of a name (客户15 for "15")
    digits = "".join(ch for ch in target.customer.name if ch.isdigit())
    by_digits, _ = get(admin_client, "/admin/rentals/rental/", {"q": digits})
    assert ids(by_digits) == list(Rental.objects.filter(pk=int(digits)).values_list("pk", flat=True))
    # plates are stored in capitals; a plate typed in small letters still finds the car
    assert target.pk in ids(lower_plate)


@pytest.mark.parametrize("term", ["99999999999999999999999", "' OR 1=1 --", "１２３", "%", "_"])
def test_odd_search_terms_find_nothing_without_an_error(admin_client, frozen, term):
    add_orders(3)

    for url in (
        "/admin/rentals/rental/",
        "/admin/accounts/payment/",
        "/admin/accounts/paymentevent/",
        "/admin/rentals/rentalevent/",
    ):
        response, _ = get(admin_client, url, {"q": term})
        assert ids(response) == []


def test_payment_search_finds_by_transaction_id_provider_reference_order_number_and_phone(admin_client, frozen):
    rentals = add_orders(6)
    target = rentals[2]
    charge = target.payments.get(status=Payment.Status.PAID)
    of_order = sorted(p.pk for p in target.payments.all())
    of_customer = sorted(Payment.objects.filter(rental__customer=target.customer).values_list("pk", flat=True))

    by_tx, _ = get(admin_client, "/admin/accounts/payment/", {"q": charge.transaction_id})
    by_reference, _ = get(admin_client, "/admin/accounts/payment/", {"q": charge.provider_reference})
    by_order, _ = get(admin_client, "/admin/accounts/payment/", {"q": str(target.pk)})
    by_phone, _ = get(admin_client, "/admin/accounts/payment/", {"q": target.customer.phone})

    assert ids(by_tx) == [charge.pk]
    assert ids(by_reference) == [charge.pk]
    assert sorted(ids(by_order)) == of_order
    assert sorted(ids(by_phone)) == of_customer


def test_audit_trail_search_by_transaction_id_order_number_and_event(admin_client, frozen):
    rentals = add_orders(4)
    target = rentals[1]
    charge = target.payments.get(status=Payment.Status.PAID)

    by_tx, _ = get(admin_client, "/admin/accounts/paymentevent/", {"q": charge.transaction_id})
    by_order, _ = get(admin_client, "/admin/accounts/paymentevent/", {"q": str(target.pk)})
    rental_events, _ = get(admin_client, "/admin/rentals/rentalevent/", {"q": str(target.pk)})
    by_event, _ = get(admin_client, "/admin/rentals/rentalevent/", {"q": "created"})

    assert ids(by_tx) == list(PaymentEvent.objects.filter(payment=charge).values_list("pk", flat=True))
    assert sorted(ids(by_order)) == sorted(PaymentEvent.objects.filter(rental=target).values_list("pk", flat=True))
    assert ids(rental_events) == list(target.events.values_list("pk", flat=True))
    assert len(ids(by_event)) == 4


# --- the date drill-down ---------------------------------------------------------------


def choices(response) -> list[str]:
    return [str(choice["title"]) for choice in response.context["cl"].date_drilldown["choices"]]


def test_the_drill_down_lists_the_years_months_and_days_between_the_first_and_last_order(admin_client, frozen):
    rentals = add_orders(70)  # a week apart, from 2024-11 to 2026-03
    first = min(r.start_time for r in rentals)

    years, year_queries = get(admin_client, "/admin/rentals/rental/")
    months, _ = get(admin_client, "/admin/rentals/rental/", {"start_time__year": "2025"})
    days, _ = get(admin_client, "/admin/rentals/rental/", {"start_time__year": "2026", "start_time__month": "2"})
    one_day, _ = get(
        admin_client,
        "/admin/rentals/rental/",
        {"start_time__year": "2026", "start_time__month": "2", "start_time__day": "7"},
    )

    assert first.year == 2024
    assert choices(years) == ["2024", "2025", "2026"]
    assert '<a href="?start_time__year=2025">2025</a>' in years.content.decode()
    assert not [sql for sql in year_queries if "trunc" in sql.lower()]
    assert choices(months) == [
        "January 2025", "February 2025", "March 2025", "April 2025", "May 2025", "June 2025",
        "July 2025", "August 2025", "September 2025", "October 2025", "November 2025", "December 2025",
    ]  # fmt: skip
    assert months.context["cl"].date_drilldown["back"]["title"] == "All dates"
    assert choices(days) == [f"February {d}" for d in range(1, 29)]
    assert choices(one_day) == ["February 7"]
    # the drilled-down list holds exactly the orders starting that day (Shanghai time)
    local_dates = {r.pk: r.start_time.astimezone(NOW.tzinfo).date() for r in rentals}
    assert len(ids(one_day)) == 1
    assert ids(one_day) == [pk for pk, d in local_dates.items() if (d.year, d.month, d.day) == (2026, 2, 7)]
    assert sorted(ids(days)) == sorted(pk for pk, d in local_dates.items() if (d.year, d.month) == (2026, 2))


def test_the_drill_down_keeps_to_the_span_of_the_table(admin_client, frozen):
    add_orders(2)  # orders start 2026-03-07 and 2026-02-28

    months, _ = get(admin_client, "/admin/rentals/rental/", {"start_time__year": "2026"})
    days, _ = get(admin_client, "/admin/rentals/rental/", {"start_time__year": "2026", "start_time__month": "3"})

    assert choices(months) == ["February 2026", "March 2026"]
    assert choices(days) == ["March 1", "March 2", "March 3", "March 4", "March 5", "March 6", "March 7"]


def test_an_empty_table_shows_no_drill_down(admin_client, frozen):
    response, _ = get(admin_client, "/admin/accounts/payment/")

    assert response.context["cl"].date_drilldown == {"show": False}


def test_a_day_that_does_not_exist_is_not_a_server_error(admin_client, frozen):
    add_orders(2)

    response = admin_client.get(
        "/admin/rentals/rental/", {"start_time__year": "2026", "start_time__month": "2", "start_time__day": "31"}
    )

    assert response.status_code in (200, 302)
