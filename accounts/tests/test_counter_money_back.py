"""Counter money goes back at the counter (SPEC §17).

A refund of a charge staff took at the counter (``record_counter_payment``:
cash or the card terminal, BANK) is never marked REFUNDED by a job or by the
customer's own cancel: nobody handed anything back. The order is flagged for
manual handling, as cash always was, and the refund becomes REFUNDED when
staff record it as handed over (``record_manual_refund``).
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Notification, Payment
from accounts.refund_rules import is_counter_money
from accounts.services import record_counter_payment, record_manual_refund, refund_due_rows
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PaymentFactory
from rentals.models import Rental
from rentals.ops import update_historical_orders
from rentals.services import cancel_rental
from rentals.tests.admin_support import admin_url
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db


def _refunds(rental):
    return list(rental.payments.filter(transaction_type=Payment.TransactionType.REFUND).order_by("id"))


@pytest.fixture
def card_paid(booked_rental, staff_user):
    """¥2,900 taken on the counter's card terminal."""
    record_counter_payment(rental=booked_rental, amount=Decimal("2900.00"), method="BANK", by_user=staff_user)
    return booked_rental


@pytest.fixture
def returned_card_paid(frozen_clock, customer, vehicle):
    """A completed order paid 2,900 on the card terminal whose 2,000 deposit is still due back."""
    rental = Rental.objects.create(
        customer=customer,
        vehicle=vehicle,
        pickup_location=vehicle.location,
        return_location=vehicle.location,
        start_time=NOW - timedelta(days=5),
        end_time=NOW - timedelta(days=2),
        status=Rental.Status.COMPLETED,
    )
    PaymentFactory(
        rental=rental,
        amount=Decimal("2900.00"),
        payment_method=Payment.Method.BANK,
        provider=Payment.COUNTER_PROVIDER,
        user=customer.user,
    )
    rental.refresh_financials()
    return rental


@pytest.mark.parametrize(
    ("method", "provider", "counter"),
    [
        ("CASH", "counter", True),
        ("BANK", "counter", True),
        ("CASH", "internal", True),
        ("BANK", "sandbox", False),
        ("WECHAT", "wechatpay", False),
        ("ALIPAY", "alipay", False),
    ],
)
def test_the_one_rule(method, provider, counter):
    assert is_counter_money(method=method, provider=provider) is counter


def _hand_back(rental, staff_user, amount):
    refund = record_manual_refund(
        rental=rental, amount=Decimal(amount), reason="Refunded on the card terminal", by_user=staff_user
    )
    rental.refresh_from_db()
    assert (refund.payment_method, refund.status, refund.provider) == ("BANK", "REFUNDED", "internal")
    assert refund.refund_of.provider == Payment.COUNTER_PROVIDER
    assert rental.requires_manual_refund is False
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_customers_own_cancel_leaves_card_terminal_money_for_the_counter(client, customer, card_paid, staff_user):
    client.force_login(customer.user)

    response = client.post(
        reverse("rentals:cancel", args=[card_paid.pk]), {"reason": "Plans changed"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 302
    assert _refunds(card_paid) == []
    card_paid.refresh_from_db()
    assert card_paid.status == Rental.Status.CANCELLED
    assert card_paid.requires_manual_refund is True
    assert card_paid.settlement_status != Rental.SettlementStatus.SETTLED
    assert card_paid.money_figures().refund_due == Decimal("2900.00")
    assert card_paid.events.filter(event="manual_refund_required").exists()
    notice = Notification.objects.get(notification_type=Notification.Type.ORDER_CANCELLED)
    assert "will be handed back to you at the" in notice.message_text
    assert not Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).exists()
    assert_ledger_consistent(card_paid)

    _hand_back(card_paid, staff_user, "2900.00")


def test_the_nightly_job_leaves_card_terminal_money_for_the_counter(returned_card_paid, staff_user):
    summary = update_historical_orders(rental_id=returned_card_paid.pk)

    assert _refunds(returned_card_paid) == []
    assert summary.refunds == []
    assert [(m.rental_id, m.amount) for m in summary.manual] == [(returned_card_paid.pk, Decimal("2000.00"))]
    returned_card_paid.refresh_from_db()
    assert returned_card_paid.requires_manual_refund is True
    assert returned_card_paid.settlement_status != Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(returned_card_paid)

    _hand_back(returned_card_paid, staff_user, "2000.00")


def test_a_refund_with_nobody_at_the_counter_writes_nothing(returned_card_paid):
    due = refund_due_rows(rental=returned_card_paid, reason="deposit")

    assert due.refunds == [] and due.manual == Decimal("2000.00")
    returned_card_paid.refresh_from_db()
    assert returned_card_paid.requires_manual_refund is True


def test_staff_at_the_counter_refund_the_terminal_at_once_and_the_preview_says_so(staff_client, card_paid, staff_user):
    page = staff_client.post(
        admin_url("cancel", card_paid),
        {"reason": "Customer at the desk", "cancellation_fee": "0", "_preview": "1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Card terminal: to refund at the counter" in page.content.decode()

    refund = cancel_rental(rental=card_paid, reason="Customer at the desk", by_user=staff_user)

    assert (refund.payment_method, refund.amount, refund.status) == ("BANK", Decimal("2900.00"), "REFUNDED")
    card_paid.refresh_from_db()
    assert card_paid.settlement_status == Rental.SettlementStatus.SETTLED
