"""Goodwill refunds never turn into a debt (SPEC §16): the part of a staff
refund above what was due lowers what the order owes by the same amount."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Payment
from accounts.services import record_manual_refund
from rentals.models import Rental
from rentals.services import process_return
from rentals.tests.admin_support import NOW, admin_url, ongoing_rental

pytestmark = pytest.mark.django_db


def _goodwill(staff_client, rental, amount):
    return staff_client.post(
        admin_url("refund", rental), {"amount": amount, "reason": "Sorry for the dirty car", "goodwill": "on"}
    )


def test_goodwill_on_a_settled_order_keeps_it_settled(
    frozen, staff_client, client, vehicle, customer, staff_user, assert_ledger
):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3))
    process_return(rental=rental, returned_at=NOW, location=vehicle.location, by_user=staff_user)
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    settled_at = rental.settled_at

    response = _goodwill(staff_client, rental, "50.00")

    assert response.status_code == 302
    refund = rental.payments.filter(transaction_type="REFUND").latest("id")
    assert (refund.amount, refund.goodwill_amount) == (Decimal("50.00"), Decimal("50.00"))
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.settled_at == settled_at
    assert rental.goodwill_amount == Decimal("50.00")
    figures = rental.money_figures()
    assert (figures.owed, figures.remaining, figures.refund_due) == (Decimal("850.00"), Decimal("0"), Decimal("0"))
    assert_ledger(rental)

    # the customer's pay page asks for nothing
    client.force_login(customer.user)
    page = client.get(reverse("accounts:pay", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert page.context["payable"] is False
    assert page.context["figures"].remaining == Decimal("0")


def test_repeated_goodwill_on_an_open_order_never_makes_it_payable(
    frozen, staff_client, vehicle, customer, assert_ledger
):
    """The finding: three goodwill refunds of 1,000 on an open order made 3,000 payable."""
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))  # paid 2,900

    for _ in range(2):
        assert _goodwill(staff_client, rental, "1000.00").status_code == 302
    third = _goodwill(staff_client, rental, "1000.00")  # only 900 is left of what was paid

    assert third.status_code == 200 and third.context["form"].errors["amount"]
    rental.refresh_from_db()
    assert rental.amount_refunded == Decimal("2000.00")
    assert rental.goodwill_amount == Decimal("2000.00")
    assert rental.money_figures().remaining == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert_ledger(rental)


def test_only_the_part_above_what_is_due_is_goodwill(frozen, vehicle, customer, staff_user, assert_ledger):
    # the deposit (2,000) is due back, and staff give 100 more in the same refund
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED, actual_return_time=NOW)
    rental.refresh_from_db()
    rental.refresh_financials()
    assert rental.money_figures().refund_due == Decimal("2000.00")

    refund = record_manual_refund(
        rental=rental, amount=Decimal("2100"), reason="Deposit and a voucher", by_user=staff_user
    )

    assert refund.goodwill_amount == Decimal("100.00")
    assert refund.refund_of.payment_method == Payment.Method.ALIPAY
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    figures = rental.money_figures()
    assert (figures.net_paid, figures.owed) == (Decimal("800.00"), Decimal("800.00"))
    assert_ledger(rental)
