"""Query budgets of the customer pages.

My orders, the consumption report (whole history and a chosen month) and the
notifications cost the same number of queries for 3, 200 and 2,000 orders, at
most ``BUDGET``; the order detail and the pay page the same for 2 and for 50
charges and refunds.

What a list page runs in steady state (signed-in customer):
  session, user, customer profile,
  my orders: the COUNT of the page links, the page of rentals joined to car,
    stores and review, one prefetch of their payments;
  the report: the totals (one grouped aggregate, which also gives the order
    count), the page of rentals, one prefetch of their payments, the monthly
    chart (one grouped query);
  notifications: the COUNT, the page;
  the unread-notification count of the navbar.
When the throttled status refresh is due it adds its own queries (the unpaid
bookings to release, then SAVEPOINT/SELECT/RELEASE per move): ``REFRESH_EXTRA``.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, Payment
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.services import refresh_statuses_if_due
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BUDGET = 8
REFRESH_EXTRA = 7
DETAIL_BUDGET = 13
SIZES = (3, 200, 2000)


def make_customer_with_orders(n: int, location):
    """``n`` orders booked one a day up to now, each with a PAID charge of 500 and a
    REFUNDED refund of 100 (2n payments) and a notification, bulk-created; the
    stored sums are written as refresh_financials would write them."""
    customer = CustomerFactory()
    vehicle = VehicleFactory(location=location)
    base = RentalFactory.build(customer=customer, vehicle=vehicle)
    now = timezone.now()
    rentals = []
    for i in range(n):
        cancelled = bool(i % 2)
        rental = Rental(
            customer=customer,
            vehicle=vehicle,
            pickup_location=location,
            return_location=location,
            start_time=base.start_time + (base.end_time - base.start_time) * i * 2,
            end_time=base.end_time + (base.end_time - base.start_time) * i * 2,
            status=Rental.Status.CANCELLED if cancelled else Rental.Status.PENDING,
            created_at=now - timedelta(days=i),
            amount_paid=Decimal("500.00"),
            amount_refunded=Decimal("100.00"),
            settlement_status=Rental.SettlementStatus.PARTIAL,
        )
        rental.apply_quote()
        rentals.append(rental)
    rentals = Rental.objects.bulk_create(rentals)
    payments, notes = [], []
    for rental in rentals:
        common = {
            "rental": rental,
            "user": customer.user,
            "payment_method": Payment.Method.ALIPAY,
            "paid_at": rental.created_at,
        }
        payments.append(
            Payment(
                amount=Decimal("500.00"),
                status=Payment.Status.PAID,
                transaction_type=Payment.TransactionType.CHARGE,
                transaction_id=f"PAYB{rental.pk:08d}",
                **common,
            )
        )
        payments.append(
            Payment(
                amount=Decimal("100.00"),
                status=Payment.Status.REFUNDED,
                transaction_type=Payment.TransactionType.REFUND,
                transaction_id=f"REFB{rental.pk:08d}",
                **common,
            )
        )
        notes.append(
            Notification(
                user=customer.user,
                rental=rental,
                notification_type=Notification.Type.PAYMENT_SUCCESS,
                title="Payment received",
                message="Thank you",
            )
        )
    Payment.objects.bulk_create(payments)
    Notification.objects.bulk_create(notes)
    return customer


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def listed(response) -> int:
    if "report" in response.context:
        return len(response.context["report"]["rows"])
    if "rows" in response.context:
        return len(response.context["rows"])
    return len(response.context["notifications"])


LIST_URLS = [
    reverse("accounts:orders"),
    reverse("accounts:orders") + "?status=CANCELLED&page=2",
    reverse("accounts:consumption_report"),
    reverse("accounts:consumption_report") + "?page=last",
    reverse("accounts:consumption_report") + f"?year={timezone.now().year}&month={timezone.now().month}",
    reverse("accounts:notifications"),
]


@pytest.fixture(scope="module")
def customers_by_size(django_db_setup, django_db_blocker):
    """The three customers, made once for the module (rolled back at its end)."""
    from django.db import transaction

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            from vehicles.tests.factories import LocationFactory

            location = LocationFactory()
            yield {n: make_customer_with_orders(n, location) for n in SIZES}
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.mark.parametrize("url", LIST_URLS)
def test_list_pages_cost_the_same_for_3_200_and_2000_orders(
    client, customers_by_size, url, django_assert_max_num_queries
):
    counts = {}
    for n, customer in customers_by_size.items():
        client.force_login(customer.user)
        refresh_statuses_if_due()  # the throttled refresh has run recently (steady state)
        page_url = url.replace("page=last", f"page={-(-n // 20)}")
        with django_assert_max_num_queries(BUDGET):
            response = client.get(page_url)
        assert response.status_code == 200
        if "page=" not in url and "month=" not in url:
            assert listed(response) == min(n, 20)
        counts[n] = count_queries(client, page_url)
    assert len(set(counts.values())) == 1 and counts[3] <= BUDGET, counts


@pytest.mark.parametrize("url_name", ["accounts:orders", "accounts:consumption_report"])
def test_list_pages_stay_within_budget_when_the_status_refresh_runs(
    client, location, url_name, django_assert_max_num_queries
):
    customer = make_customer_with_orders(200, location)
    client.force_login(customer.user)
    # cache cleared by the autouse fixture: this view runs the bulk refresh itself
    with django_assert_max_num_queries(BUDGET + REFRESH_EXTRA):
        client.get(reverse(url_name))


def add_payments(rental, pairs: int) -> None:
    """``pairs`` PAID charges of 100 and REFUNDED refunds of 10, with stored sums to match."""
    user = rental.customer.user
    rows = []
    for i in range(pairs):
        rows.append(
            Payment(
                rental=rental,
                user=user,
                amount=Decimal("100.00"),
                status=Payment.Status.PAID,
                transaction_type=Payment.TransactionType.CHARGE,
                payment_method=Payment.Method.WECHAT,
                transaction_id=f"PAYD{rental.pk:06d}{i:04d}",
                paid_at=timezone.now(),
            )
        )
        rows.append(
            Payment(
                rental=rental,
                user=user,
                amount=Decimal("10.00"),
                status=Payment.Status.REFUNDED,
                transaction_type=Payment.TransactionType.REFUND,
                payment_method=Payment.Method.WECHAT,
                transaction_id=f"REFD{rental.pk:06d}{i:04d}",
                paid_at=timezone.now(),
                description="Goodwill",
            )
        )
    Payment.objects.bulk_create(rows)
    rental.refresh_financials()


@pytest.mark.parametrize("url_name", ["accounts:order_detail", "accounts:pay"])
def test_order_detail_and_pay_page_cost_the_same_for_2_and_50_payments(
    client, customer, vehicle, url_name, django_assert_max_num_queries
):
    client.force_login(customer.user)
    few, many = RentalFactory(customer=customer, vehicle=vehicle), RentalFactory(customer=customer, vehicle=vehicle)
    add_payments(few, 1)
    add_payments(many, 25)
    refresh_statuses_if_due()
    counts = {}
    for name, rental in (("2", few), ("50", many)):
        url = reverse(url_name, args=[rental.pk])
        with django_assert_max_num_queries(DETAIL_BUDGET):
            response = client.get(url)
        assert response.status_code == 200
        if url_name == "accounts:order_detail":
            assert response.content.decode().count('class="list-group-item transaction"') == int(name)
        counts[name] = count_queries(client, url)
    assert counts["2"] == counts["50"] <= DETAIL_BUDGET, counts


def test_a_hold_orders_detail_costs_one_query_more_for_its_holds_whatever_its_takes_and_releases(
    client, customer, vehicle
):
    """A HOLD order (SPEC §18) reads its holds with their releases in one
    statement, its takes' traffic fines with its payments: one query more
    than a CHARGE order, the same for 1 take and 1 release as for 25 of each."""
    from accounts.models import HoldRelease, TakeReason
    from accounts.tests.hold_support import held_rental, make_hold, release, take

    client.force_login(customer.user)
    plain = RentalFactory(customer=customer, vehicle=vehicle)
    add_payments(plain, 1)
    rentals = {}
    for n in (1, 25):
        rental = held_rental(
            customer=customer,
            vehicle=vehicle,
            start_time=plain.start_time + timedelta(days=10 * n),
            end_time=plain.start_time + timedelta(days=10 * n + 2),
        )
        hold = make_hold(rental, amount=Decimal("9000.00"))
        for i in range(n):
            take(hold, Decimal("10.00"), TakeReason.TRAFFIC_FINE, fine_reference=f"F{n}-{i}")
            release(hold, Decimal("10.00"), status=HoldRelease.Status.DONE)
        rentals[n] = rental
    refresh_statuses_if_due()
    counts = {n: count_queries(client, reverse("accounts:order_detail", args=[r.pk])) for n, r in rentals.items()}
    charge = count_queries(client, reverse("accounts:order_detail", args=[plain.pk]))
    assert counts[1] == counts[25] == charge + 1 <= DETAIL_BUDGET, (counts, charge)


def test_the_order_detail_loads_the_customer_profile_and_unread_count_with_the_user(client, customer, vehicle):
    """Session, user joined to its customer profile with its unread count as a
    subquery (accounts.backends), the rental with car, stores, review and
    invoice request, its payments: four queries, none of them for the
    customer profile, the unread count or the invoice alone."""
    client.force_login(customer.user)
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    add_payments(rental, 2)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED)
    Notification.objects.create(user=customer.user, notification_type=Notification.Type.PAYMENT_SUCCESS, title="t")
    refresh_statuses_if_due()
    url = reverse("accounts:order_detail", args=[rental.pk])
    client.get(url)

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)

    assert response.status_code == 200
    assert response.context["request"].customer == customer
    assert 'data-unread-count="1"' in response.content.decode()
    assert 'id="invoice"' in response.content.decode()
    statements = [query["sql"] for query in ctx.captured_queries]
    assert len(statements) == 4, statements
    alone = [sql for sql in statements if sql.lstrip().startswith(("SELECT COUNT(*)", 'SELECT "customers_customer"'))]
    assert alone == [] and not [sql for sql in statements if 'FROM "accounts_invoicerequest"' in sql], statements
    (user_query,) = [sql for sql in statements if 'FROM "auth_user"' in sql]
    assert 'LEFT OUTER JOIN "customers_customer"' in user_query and '"accounts_notification"' in user_query


def test_a_signed_in_user_without_a_customer_profile_gets_403_without_a_profile_query(client, django_user_model):
    staff = django_user_model.objects.create_user(username="counter-clerk", password="x", is_staff=True)
    client.force_login(staff)

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("accounts:orders"))

    assert response.status_code == 403
    assert not [q for q in ctx.captured_queries if 'FROM "customers_customer"' in q["sql"]]


# --- every customer page against its minimal Django page (bench/minimal_pages.py) ---------
#
# The minimal pages do what a plain Django page with the same content needs
# (Django's own backend: a plain user query; the order joined to car and
# stores, its payments; no template tags); ``bench/page_cpu.py`` measures
# their CPU against these pages. Measured here (SQLite, database sessions:
# the session is one query on both sides):
#   minimal charge status 3 (session, user, charge),
#   minimal order page 4 (session, user, order, payments),
#   minimal pay page 4 (the same),
#   minimal order list 5 (session, user, COUNT, page, payments),
#   minimal report 7 (session, user, totals, months, COUNT, page, payments).
# Each customer page may spend at most one query more than its minimal page.
MINIMAL_QUERIES = {"status": 3, "order": 4, "pay": 4, "list": 5, "report": 7}


@pytest.fixture
def signed_in(client, customer, vehicle, time_machine, settings):
    """A customer with a completed order (a charge, a refund), an unpaid booking
    with an open sandbox charge, an ongoing order and unread notifications; the
    status refresh has run (steady state)."""
    from accounts.tests.factories import PendingChargeFactory

    time_machine.move_to(timezone.now(), tick=False)
    # Django's own backend signs the minimal pages' session in (these tests' settings only)
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, "django.contrib.auth.backends.ModelBackend"]
    client.force_login(customer.user, backend="django.contrib.auth.backends.ModelBackend")
    minimal = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client.force_login(customer.user)
    completed = RentalFactory(customer=customer, vehicle=vehicle)
    add_payments(completed, 1)
    Rental.objects.filter(pk=completed.pk).update(status=Rental.Status.COMPLETED)
    start = timezone.now() + timedelta(days=2)
    unpaid = RentalFactory(customer=customer, vehicle=vehicle, start_time=start, end_time=start + timedelta(days=2))
    charge = PendingChargeFactory(rental=unpaid, amount=unpaid.order_total, provider="sandbox")
    ongoing = RentalFactory(
        customer=customer,
        vehicle=vehicle,
        start_time=timezone.now() - timedelta(hours=2),
        end_time=timezone.now() + timedelta(days=1),
    )
    Rental.objects.filter(pk=ongoing.pk).update(status=Rental.Status.ONGOING)
    for rental in (completed, unpaid, ongoing):
        Notification.objects.create(
            user=customer.user, rental=rental, notification_type=Notification.Type.PAYMENT_SUCCESS, title="t"
        )
    refresh_statuses_if_due()
    return {
        "client": client,
        "minimal_session": minimal,
        "completed": completed,
        "unpaid": unpaid,
        "ongoing": ongoing,
        "charge": charge,
    }


def _minimal_count(data, path) -> int:
    client = data["client"]
    project = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    client.cookies[django_settings.SESSION_COOKIE_NAME] = data["minimal_session"]
    try:
        client.get(path)
        return count_queries(client, path)
    finally:
        client.cookies[django_settings.SESSION_COOKIE_NAME] = project


CUSTOMER_PAGES = [
    # (page, minimal page kind, project URL, minimal URL); {x} is filled from the fixture
    ("my orders", "list", "/accounts/orders/", "/minimal/orders/"),
    ("my orders, a status", "list", "/accounts/orders/?status=COMPLETED", "/minimal/orders/"),
    ("order detail (completed)", "order", "/accounts/orders/{completed}/", "/minimal/orders/{completed}/"),
    ("order detail (unpaid)", "order", "/accounts/orders/{unpaid}/", "/minimal/orders/{unpaid}/"),
    ("order detail (ongoing)", "order", "/accounts/orders/{ongoing}/", "/minimal/orders/{ongoing}/"),
    ("pay page", "pay", "/accounts/orders/{unpaid}/pay/", "/minimal/orders/{unpaid}/pay/"),
    ("cancel page", "order", "/rentals/{unpaid}/cancel/", "/minimal/orders/{unpaid}/"),
    ("extend page", "order", "/accounts/orders/{ongoing}/extend/", "/minimal/orders/{ongoing}/"),
    ("review page", "order", "/accounts/orders/{completed}/review/", "/minimal/orders/{completed}/"),
    ("invoice request", "order", "/accounts/orders/{completed}/invoice/", "/minimal/orders/{completed}/"),
    ("consumption report", "report", "/accounts/consumption-report/", "/minimal/report/"),
    ("consumption report, a year", "report", "/accounts/consumption-report/?year={year}", "/minimal/report/"),
    ("notifications", "list", "/accounts/notifications/", "/minimal/orders/"),
    ("charge status JSON", "status", "/payments/{charge}/status/", "/minimal/status/{charge}/"),
    ("payment return", "order", "/payments/{charge}/return/", "/minimal/orders/{unpaid}/"),
    ("sandbox checkout", "order", "/payments/sandbox/{charge}/", "/minimal/orders/{unpaid}/"),
]


def _fill(url: str, data) -> str:
    return url.format(
        completed=data["completed"].pk,
        unpaid=data["unpaid"].pk,
        ongoing=data["ongoing"].pk,
        charge=data["charge"].transaction_id,
        year=timezone.localtime().year,
    )


@pytest.mark.urls("bench.minimal_pages")
@pytest.mark.parametrize(("page", "kind", "url", "minimal_url"), CUSTOMER_PAGES, ids=[p[0] for p in CUSTOMER_PAGES])
def test_each_customer_page_costs_at_most_one_query_more_than_its_minimal_page(
    signed_in, settings, page, kind, url, minimal_url
):
    settings.PAYMENT_SANDBOX_ENABLED = True
    minimal = _minimal_count(signed_in, _fill(minimal_url, signed_in))
    assert minimal == MINIMAL_QUERIES[kind], (page, minimal)
    client = signed_in["client"]
    client.get(_fill(url, signed_in))  # first view: nothing left to refresh
    queries = count_queries(client, _fill(url, signed_in))
    print(f"{page}: {queries} queries, minimal {minimal}")
    assert queries <= minimal + 1, page
