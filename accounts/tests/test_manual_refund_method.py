"""A staff refund goes back only a way the money came (SPEC §16 Refunds follow the money).

``record_manual_refund(method=…)`` names the way back; it must be the method
of a charge of the order that still has the amount left, and the refund row
is tied to that charge (``refund_of``). Anything else is refused with a
message and writes nothing.
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.exceptions import RefundError
from accounts.models import Payment
from accounts.services import record_counter_payment, record_manual_refund
from accounts.tests.assertions import assert_ledger_consistent
from rentals.tests.admin_support import ledger_snapshot
from rentals.tests.factories import pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def card_paid(booked_rental, staff_user):
    """¥2,900 paid only by bank card at the counter's terminal."""
    record_counter_payment(rental=booked_rental, amount=Decimal("2900.00"), method="BANK", by_user=staff_user)
    return booked_rental


def _refunds(rental):
    return list(rental.payments.filter(transaction_type=Payment.TransactionType.REFUND))


@pytest.mark.parametrize("method", ["WECHAT", "ALIPAY", "CASH"])
def test_a_refund_by_a_way_the_money_never_came_is_refused(card_paid, staff_user, method):
    before = ledger_snapshot(card_paid)

    with pytest.raises(RefundError) as caught:
        record_manual_refund(
            rental=card_paid, amount=Decimal("100.00"), reason="Goodwill", by_user=staff_user, method=method
        )

    assert caught.value.code == "method_not_paid"
    assert "it came by: Bank card" in caught.value.messages[0]
    assert ledger_snapshot(card_paid) == before
    assert _refunds(card_paid) == []


def test_the_way_the_money_came_is_taken_and_tied_to_its_charge(card_paid, staff_user):
    charge = card_paid.payments.get(transaction_type=Payment.TransactionType.CHARGE)

    refund = record_manual_refund(
        rental=card_paid, amount=Decimal("100.00"), reason="Goodwill", by_user=staff_user, method="BANK"
    )

    assert (refund.payment_method, refund.refund_of_id, refund.status) == ("BANK", charge.pk, Payment.Status.REFUNDED)
    assert_ledger_consistent(card_paid)


def test_no_more_than_is_left_of_the_money_that_came_that_way(booked_rental, staff_user):
    pay(booked_rental, "2000.00", payment_method=Payment.Method.ALIPAY)
    record_counter_payment(rental=booked_rental, amount=Decimal("900.00"), method="CASH", by_user=staff_user)
    before = ledger_snapshot(booked_rental)

    with pytest.raises(RefundError) as caught:
        record_manual_refund(
            rental=booked_rental, amount=Decimal("1000.00"), reason="Goodwill", by_user=staff_user, method="CASH"
        )

    assert caught.value.code == "method_amount_exceeded"
    assert "¥900.00" in caught.value.messages[0]
    assert ledger_snapshot(booked_rental) == before
    cash = booked_rental.payments.get(payment_method="CASH", transaction_type=Payment.TransactionType.CHARGE)
    refund = record_manual_refund(
        rental=booked_rental, amount=Decimal("900.00"), reason="Goodwill", by_user=staff_user, method="CASH"
    )
    assert refund.refund_of_id == cash.pk
    assert_ledger_consistent(booked_rental)


def test_the_staff_page_shows_the_refusal(staff_client, card_paid):
    before = ledger_snapshot(card_paid)

    response = staff_client.post(
        reverse("admin:rentals_rental_refund", args=[card_paid.pk]),
        {"amount": "100.00", "reason": "Goodwill", "goodwill": "on", "method": "WECHAT"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "No money of this order came in by WeChat Pay" in response.content.decode()
    assert ledger_snapshot(card_paid) == before
