"""Paging and periods of the customer pages: the consumption report (20 orders
a page, totals for the whole history or the chosen period on every page, a
validated ?year=&month= filter), my orders (20 a page, a validated ?status=
filter) and notifications (20 a page), all with the same pagination partial."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.models import Notification, Payment
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPORT = reverse("accounts:consumption_report")
ORDERS = reverse("accounts:orders")


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def booked_orders(customer, vehicle, times, *, paid=Decimal("300.00"), status=Rental.Status.COMPLETED):
    """One order booked at each of ``times`` (local), paid ``paid`` the same moment,
    with its stored sums refreshed from the ledger."""
    orders = []
    for when in times:
        rental = RentalFactory(customer=customer, vehicle=vehicle, created_at=when)
        Rental.objects.filter(pk=rental.pk).update(status=status)
        Payment.objects.create(
            rental=rental,
            user=customer.user,
            amount=paid,
            status=Payment.Status.PAID,
            transaction_type=Payment.TransactionType.CHARGE,
            payment_method=Payment.Method.ALIPAY,
            transaction_id=f"PAYPG{rental.pk:08d}",
            paid_at=when,
        )
        rental.refresh_from_db()
        rental.refresh_financials()
        orders.append(rental)
    return orders


@pytest.fixture
def many_orders(customer, vehicle):
    """25 orders in March 2026 (one a day) and 5 in January 2025, newest booked last."""
    march = [datetime(2026, 3, day, 12, 0, tzinfo=SHANGHAI) for day in range(1, 26)]
    january = [datetime(2025, 1, day, 9, 0, tzinfo=SHANGHAI) for day in range(1, 6)]
    return booked_orders(customer, vehicle, january + march)


def order_ids(response) -> list[int]:
    return [row.rental.pk for row in response.context["report"]["rows"]]


def test_report_lists_20_orders_a_page_newest_first_with_whole_history_totals_on_every_page(
    customer_client, many_orders
):
    first = customer_client.get(REPORT, HTTP_ACCEPT_LANGUAGE="en")
    second = customer_client.get(REPORT, {"page": 2}, HTTP_ACCEPT_LANGUAGE="en")
    newest_first = [rental.pk for rental in sorted(many_orders, key=lambda r: r.created_at, reverse=True)]
    assert order_ids(first) == newest_first[:20]
    assert order_ids(second) == newest_first[20:]
    for response in (first, second):
        report = response.context["report"]
        assert report["order_count"] == 30
        assert report["totals"]["paid"] == Decimal("9000.00")
        assert report["monthly"] == [
            {"month": "2025-01", "paid": "1500.00", "refunded": "0.00", "net_paid": "1500.00"},
            {"month": "2026-03", "paid": "7500.00", "refunded": "0.00", "net_paid": "7500.00"},
        ]
        assert "Totals and chart: your whole history, whatever page you are on." in response.content.decode()
    assert first.context["report"]["totals"] == second.context["report"]["totals"]


def test_page_numbers_out_of_range_or_not_numbers_show_a_real_page(customer_client, many_orders):
    assert order_ids(customer_client.get(REPORT, {"page": "abc"})) == order_ids(customer_client.get(REPORT))
    assert len(order_ids(customer_client.get(REPORT, {"page": 999999}))) == 10  # the last page
    assert customer_client.get(ORDERS, {"page": "-3"}).status_code == 200


def test_month_and_year_filters_choose_the_orders_and_the_totals(customer_client, many_orders):
    january = customer_client.get(REPORT, {"year": 2025, "month": 1}, HTTP_ACCEPT_LANGUAGE="en")
    report = january.context["report"]
    assert report["order_count"] == 5 and len(report["rows"]) == 5
    assert report["totals"]["paid"] == Decimal("1500.00")
    assert report["monthly"] == [{"month": "2025-01", "paid": "1500.00", "refunded": "0.00", "net_paid": "1500.00"}]
    body = january.content.decode()
    assert "Totals and chart: the orders booked in January 2025, whatever page you are on." in body
    assert 'data-period="2025-01"' in body

    year = customer_client.get(REPORT, {"year": 2026, "page": 2}).context["report"]
    assert year["order_count"] == 25 and len(year["rows"]) == 5
    assert year["totals"]["paid"] == Decimal("7500.00")

    empty = customer_client.get(REPORT, {"year": 2024}, HTTP_ACCEPT_LANGUAGE="en")
    assert empty.status_code == 200 and 'id="no-orders-in-period"' in empty.content.decode()
    assert empty.context["report"]["totals"]["paid"] == Decimal("0.00")


def test_page_links_keep_the_period(customer_client, many_orders):
    body = customer_client.get(REPORT, {"year": 2026}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'href="?year=2026&amp;page=2"' in body
    assert 'aria-current="page"' in body and 'aria-label="Order pages"' in body


@pytest.mark.parametrize(
    "params, message",
    [
        ({"year": "abc"}, "The year must be a number such as 2026."),
        ({"year": "99999999999999999999"}, "Choose a year between 2000 and 2100."),
        ({"year": "1066"}, "Choose a year between 2000 and 2100."),
        ({"year": "2026", "month": "13"}, "The month must be a number from 1 to 12."),
        ({"year": "2026", "month": "0"}, "The month must be a number from 1 to 12."),
        ({"year": "2026", "month": "march"}, "The month must be a number from 1 to 12."),
        ({"month": "3"}, "Choose a year for the month."),
    ],
)
def test_absurd_periods_answer_400_with_a_reason(customer_client, many_orders, params, message):
    response = customer_client.get(REPORT, params, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'id="period-error"' in response.content.decode()


def test_my_orders_page_by_page_and_by_status(customer_client, customer, vehicle):
    completed = booked_orders(customer, vehicle, [datetime(2026, 2, day, tzinfo=SHANGHAI) for day in range(1, 23)])
    cancelled = booked_orders(
        customer, vehicle, [datetime(2026, 1, 1, tzinfo=SHANGHAI)], paid=Decimal("0.01"), status=Rental.Status.CANCELLED
    )
    first = customer_client.get(ORDERS, HTTP_ACCEPT_LANGUAGE="en")
    assert len(first.context["rows"]) == 20
    assert [row.rental.pk for row in customer_client.get(ORDERS, {"page": 2}).context["rows"]] == [
        completed[1].pk,
        completed[0].pk,
        cancelled[0].pk,
    ]
    only_cancelled = customer_client.get(ORDERS, {"status": "CANCELLED"})
    assert [row.rental.pk for row in only_cancelled.context["rows"]] == [cancelled[0].pk]
    assert (
        'href="?status=COMPLETED&amp;page=2"' in customer_client.get(ORDERS, {"status": "COMPLETED"}).content.decode()
    )
    none = customer_client.get(ORDERS, {"status": "OVERDUE"}, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="no-orders-with-status"' in none


def test_my_orders_unknown_status_is_400_with_a_reason(customer_client):
    response = customer_client.get(ORDERS, {"status": "DELETED"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "Unknown order status: DELETED." in response.content.decode()


def test_notifications_20_a_page_with_the_partial(customer_client, customer):
    Notification.objects.bulk_create(
        [
            Notification(user=customer.user, notification_type=Notification.Type.PAYMENT_SUCCESS, title=f"Note {i}")
            for i in range(25)
        ]
    )
    first = customer_client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="en")
    assert len(first.context["notifications"]) == 20
    body = first.content.decode()
    assert 'aria-label="Notification pages"' in body and 'aria-current="page"' in body
    assert "Page 1 of 2 · 25 items" in body
    second = customer_client.get(reverse("accounts:notifications"), {"page": 2})
    assert len(second.context["notifications"]) == 5


def test_another_customers_orders_never_count(customer_client, many_orders, vehicle):
    stranger = CustomerFactory()
    booked_orders(
        stranger, vehicle, [datetime(2026, 3, 10, tzinfo=SHANGHAI) + timedelta(hours=1)], paid=Decimal("999.00")
    )
    report = customer_client.get(REPORT, {"year": 2026, "month": 3}).context["report"]
    assert report["order_count"] == 25 and report["totals"]["paid"] == Decimal("7500.00")


def test_the_chart_follows_a_new_payment_at_once(customer_client, many_orders):
    """The monthly chart is cached until one of the customer's orders changes:
    a payment (which refreshes the order's stored sums) shows on the next view."""
    before = customer_client.get(REPORT).context["report"]["monthly"]
    rental = many_orders[0]
    Payment.objects.create(
        rental=rental,
        user=rental.customer.user,
        amount=Decimal("0.07"),
        status=Payment.Status.REFUNDED,
        transaction_type=Payment.TransactionType.REFUND,
        payment_method=Payment.Method.ALIPAY,
        transaction_id="REFPGNEW0001",
        paid_at=datetime(2025, 1, 20, tzinfo=SHANGHAI),
    )
    rental.refresh_financials()
    after = customer_client.get(REPORT).context["report"]["monthly"]
    assert before[0] == {"month": "2025-01", "paid": "1500.00", "refunded": "0.00", "net_paid": "1500.00"}
    assert after[0] == {"month": "2025-01", "paid": "1500.00", "refunded": "0.07", "net_paid": "1499.93"}
    assert customer_client.get(REPORT, {"year": 2025}).context["report"]["monthly"] == [after[0]]
