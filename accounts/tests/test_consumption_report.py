"""Consumption report /accounts/consumption-report/ (SPEC §7)."""

import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.models import Payment
from accounts.tests.factories import PaymentFactory, RefundFactory
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


@pytest.fixture
def orders(customer, vehicle, other_location, assert_ledger):
    """A cancelled order refunded in full, a completed one-way order whose deposit
    came back less the one-way fee, and an unpaid pending one."""
    cancelled = RentalFactory(customer=customer, vehicle=vehicle)
    PaymentFactory(rental=cancelled, amount=Decimal("2900.00"), paid_at=datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI))
    Rental.objects.filter(pk=cancelled.pk).update(status=Rental.Status.CANCELLED, cancel_reason="Plans changed")
    RefundFactory(rental=cancelled, amount=Decimal("2900.00"), paid_at=datetime(2026, 4, 2, 10, 0, tzinfo=SHANGHAI))
    cancelled.refresh_from_db()
    cancelled.refresh_financials()

    completed = RentalFactory(customer=customer, vehicle=vehicle, return_location=other_location)
    PaymentFactory(rental=completed, amount=Decimal("3100.00"), paid_at=datetime(2026, 4, 1, 0, 30, tzinfo=SHANGHAI))
    Rental.objects.filter(pk=completed.pk).update(status=Rental.Status.COMPLETED)
    RefundFactory(rental=completed, amount=Decimal("2000.00"), paid_at=datetime(2026, 4, 5, 9, 0, tzinfo=SHANGHAI))
    completed.refresh_from_db()
    completed.refresh_financials()

    pending = RentalFactory(customer=customer, vehicle=vehicle)
    for rental in (cancelled, completed, pending):
        assert_ledger(rental)
    return cancelled, completed, pending


def test_report_shows_per_order_figures_flow_and_what_was_refunded(customer_client, orders):
    cancelled, completed, pending = orders
    response = customer_client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    rows = {row.rental.pk: row for row in response.context["report"]["rows"]}
    assert rows[cancelled.pk].figures.refunded == Decimal("2900.00")
    assert rows[completed.pk].figures.net_paid == Decimal("1100.00")
    assert rows[completed.pk].figures.remaining == Decimal("0.00")
    assert rows[pending.pk].figures.remaining == Decimal("2900.00")
    assert [p.transaction_type for p in rows[completed.pk].movements] == ["CHARGE", "REFUND"]

    body = response.content.decode()
    # one status badge and one payment badge per order; the refunds are said in words
    assert body.count("data-payment-badge=") == 3
    assert "refunded-badge" not in body
    assert 'data-refunded="2900.00"' in body and 'data-refunded="2000.00"' in body
    assert '<span data-refund-kind="cancellation">¥2,900.00 refunded on cancellation</span>' in body
    assert '<span data-refund-kind="deposit">deposit ¥2,000.00 refunded</span>' in body
    assert "¥3,100.00" in body and "−¥2,000.00" in body and "+¥2,900.00" in body
    assert "One-way fee" in body


def test_report_totals_over_all_orders(customer_client, orders):
    report = customer_client.get(reverse("accounts:consumption_report")).context["report"]
    assert report["order_count"] == 3
    assert report["totals"]["paid"] == Decimal("6000.00")
    assert report["totals"]["refunded"] == Decimal("4900.00")
    assert report["totals"]["net_paid"] == Decimal("1100.00")
    assert report["totals"]["remaining"] == Decimal("2900.00")
    assert report["totals"]["refund_due"] == Decimal("0.00")
    # the completed order's 1,100 is spent; the unpaid booking holds nothing
    assert report["totals"]["spent"] == Decimal("1100.00")
    assert report["totals"]["deposit_held"] == Decimal("0.00")


def test_monthly_chart_data_is_net_paid_per_local_month(customer_client, orders):
    response = customer_client.get(reverse("accounts:consumption_report"))
    # 2026-03: +2900 (23:30 local on the 31st, still March in Shanghai)
    # 2026-04: +3100 − 2900 − 2000 = −1800
    assert response.context["report"]["monthly"] == [
        {"month": "2026-03", "paid": "2900.00", "refunded": "0.00", "net_paid": "2900.00"},
        {"month": "2026-04", "paid": "3100.00", "refunded": "4900.00", "net_paid": "-1800.00"},
    ]
    body = response.content.decode()
    start = body.index('<script id="monthly-data" type="application/json">') + len(
        '<script id="monthly-data" type="application/json">'
    )
    data = json.loads(body[start : body.index("</script>", start)])
    assert data == response.context["report"]["monthly"]
    assert "vendor/chartjs/chart.umd.min.js" in body and "js/consumption_chart.js" in body
    assert "cdn" not in body.lower()


def test_report_only_contains_own_orders(customer_client, orders):
    stranger_order = RentalFactory(customer=CustomerFactory())
    PaymentFactory(rental=stranger_order, amount=Decimal("999.00"))
    report = customer_client.get(reverse("accounts:consumption_report")).context["report"]
    assert stranger_order.pk not in {row.rental.pk for row in report["rows"]}
    assert report["totals"]["paid"] == Decimal("6000.00")


def test_empty_report(customer_client):
    response = customer_client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="no-orders"' in body and "chart.umd.min.js" not in body


def test_failed_and_pending_charges_are_not_spending(customer_client, customer):
    rental = RentalFactory(customer=customer)
    PaymentFactory(rental=rental, amount=Decimal("500.00"), status=Payment.Status.FAILED, paid_at=None)
    report = customer_client.get(reverse("accounts:consumption_report")).context["report"]
    assert report["totals"]["paid"] == Decimal("0.00") and report["monthly"] == []
