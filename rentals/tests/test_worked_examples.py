"""Every worked example of SPEC §4, through the real services, figures exact.

Car: ¥300 a day, ¥2,000 deposit; three days; default settings.
"""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.models import Notification, Payment
from accounts.selectors import get_payment_summary
from accounts.services import record_counter_payment
from accounts.tests.assertions import assert_ledger_consistent
from rentals.models import Rental
from rentals.services import cancel_rental, process_return
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def _return(time_machine, rental: Rental, *, late=timedelta(0), location=None) -> Rental:
    """The car leaves at start_time (status by time) and comes back ``late`` after end_time."""
    time_machine.move_to(START, tick=False)
    assert rental.auto_update_status() is True
    assert rental.status == Rental.Status.ONGOING
    returned_at = END + late
    time_machine.move_to(returned_at, tick=False)
    rental.auto_update_status()
    return process_return(rental=rental, returned_at=returned_at, location=location or rental.pickup_location)


def _refunds(rental: Rental) -> list[Payment]:
    return list(rental.payments.filter(transaction_type=Payment.TransactionType.REFUND))


def test_regular_books_same_location(customer, vehicle):
    rental = book(customer, vehicle)

    assert rental.status == Rental.Status.PENDING
    assert rental.total_amount == Decimal("900.00")
    assert rental.discount_amount == Decimal("0.00")
    assert rental.deposit == Decimal("2000.00")
    assert rental.cross_location_fee == Decimal("0.00")
    assert rental.get_order_amount_breakdown()["order_total"] == Decimal("2900.00")
    assert rental.outstanding_amount == Decimal("2900.00")
    summary = get_payment_summary(rental=rental)
    assert summary == {
        "paid_amount": Decimal("0.00"),
        "refunded_amount": Decimal("0.00"),
        "net_paid": Decimal("0.00"),
        "order_total_amount": Decimal("2900.00"),
        "remaining_amount": Decimal("2900.00"),
        "refund_due": Decimal("0.00"),
        "refund_in_flight": Decimal("0.00"),
    }
    assert rental.settlement_status == Rental.SettlementStatus.UNSETTLED
    assert_ledger_consistent(rental)


def test_pays_2900_and_returns_on_time(customer, vehicle, time_machine):
    rental = book(customer, vehicle)
    pay(rental, "2900.00")
    assert rental.outstanding_amount == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL

    _return(time_machine, rental)

    rental.refresh_from_db()
    (refund,) = _refunds(rental)
    assert refund.amount == Decimal("2000.00")
    assert refund.status == Payment.Status.REFUNDED
    assert refund.user == customer.user
    assert refund.payment_method == Payment.Method.ALIPAY
    assert refund.transaction_id.startswith("REF")
    assert rental.status == Rental.Status.COMPLETED
    assert rental.overdue_fee == Decimal("0.00")
    summary = get_payment_summary(rental=rental)
    assert summary["paid_amount"] == Decimal("2900.00")
    assert summary["refunded_amount"] == Decimal("2000.00")
    assert summary["net_paid"] == Decimal("900.00")
    assert summary["remaining_amount"] == Decimal("0.00")
    assert summary["refund_due"] == Decimal("0.00")
    assert rental.amount_paid == Decimal("2900.00")
    assert rental.amount_refunded == Decimal("2000.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.settled_at == END
    assert Notification.objects.filter(
        user=customer.user, rental=rental, notification_type=Notification.Type.REFUND_ISSUED
    ).exists()
    assert_ledger_consistent(rental)


def test_returns_26_hours_late(customer, vehicle, time_machine):
    rental = book(customer, vehicle)
    pay(rental, "2900.00")

    _return(time_machine, rental, late=timedelta(hours=26))

    rental.refresh_from_db()
    assert rental.overdue_fee == Decimal("900.00")  # 2 days × 300 × 1.5
    assert rental.get_order_amount_breakdown()["order_total"] == Decimal("3800.00")
    (refund,) = _refunds(rental)
    assert refund.amount == Decimal("1100.00")
    assert get_payment_summary(rental=rental)["net_paid"] == Decimal("1800.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


@pytest.mark.parametrize(
    ("late", "overdue_fee", "refund"),
    [
        (timedelta(minutes=50), "0.00", "2000.00"),
        (timedelta(minutes=61), "450.00", "1550.00"),
    ],
)
def test_returns_50_or_61_minutes_late(customer, vehicle, time_machine, late, overdue_fee, refund):
    rental = book(customer, vehicle)
    pay(rental, "2900.00")

    _return(time_machine, rental, late=late)

    rental.refresh_from_db()
    assert rental.overdue_fee == Decimal(overdue_fee)
    assert [r.amount for r in _refunds(rental)] == [Decimal(refund)]
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_vip_books(vip_customer, vehicle):
    rental = book(vip_customer, vehicle)

    assert rental.discount_amount == Decimal("135.00")
    assert rental.total_amount == Decimal("765.00")
    assert rental.deposit == Decimal("0.00")
    breakdown = rental.get_order_amount_breakdown()
    assert breakdown["base_rent"] == Decimal("900.00")
    assert breakdown["order_total"] == Decimal("765.00")
    assert rental.outstanding_amount == Decimal("765.00")
    assert_ledger_consistent(rental)


def test_vip_pays_765_and_returns_26_hours_late(vip_customer, vehicle, staff_user, time_machine):
    rental = book(vip_customer, vehicle)
    pay(rental, "765.00")

    _return(time_machine, rental, late=timedelta(hours=26))

    rental.refresh_from_db()
    assert rental.overdue_fee == Decimal("900.00")
    assert _refunds(rental) == []
    summary = get_payment_summary(rental=rental)
    assert summary["order_total_amount"] == Decimal("1665.00")
    assert summary["remaining_amount"] == Decimal("900.00")
    assert summary["refund_due"] == Decimal("0.00")
    assert rental.outstanding_amount == Decimal("900.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert rental.settled_at is None
    assert_ledger_consistent(rental)

    # the completed order can still be paid; then it is square
    record_counter_payment(rental=rental, amount=Decimal("900.00"), method=Payment.Method.CASH, by_user=staff_user)

    rental.refresh_from_db()
    assert rental.amount_paid == Decimal("1665.00")
    assert rental.outstanding_amount == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.settled_at is not None
    assert _refunds(rental) == []
    assert_ledger_consistent(rental)


def test_pays_2900_and_cancels_while_pending(customer, vehicle):
    rental = book(customer, vehicle)
    charge = pay(rental, "2900.00")

    refund = cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    rental.refresh_from_db()
    assert refund is not None
    # asked of the sandbox after commit, confirmed by its signed notification (SPEC §11)
    refund.refresh_from_db()
    assert refund.transaction_type == Payment.TransactionType.REFUND
    assert refund.status == Payment.Status.REFUNDED
    assert refund.amount == Decimal("2900.00")
    assert refund.payment_method == charge.payment_method
    assert refund.user == customer.user
    assert "Plans changed" in refund.description
    assert [r.pk for r in _refunds(rental)] == [refund.pk]
    assert rental.status == Rental.Status.CANCELLED
    assert rental.cancel_reason == "Plans changed"
    assert rental.cancelled_at == NOW
    summary = get_payment_summary(rental=rental)
    assert summary["net_paid"] == Decimal("0.00")
    assert summary["remaining_amount"] == Decimal("0.00")
    assert summary["refund_due"] == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.settled_at == NOW
    assert_ledger_consistent(rental)


def test_cancels_without_paying(customer, vehicle):
    rental = book(customer, vehicle)

    refund = cancel_rental(rental=rental, reason="Found a cheaper car", by_user=customer.user)

    rental.refresh_from_db()
    assert refund is None
    assert not Payment.objects.filter(rental=rental).exists()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.amount_paid == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.settled_at == NOW
    assert_ledger_consistent(rental)


def test_returned_at_another_location(customer, vehicle, other_location, time_machine):
    rental = book(customer, vehicle)
    assert rental.cross_location_fee == Decimal("0.00")
    pay(rental, "2900.00")

    _return(time_machine, rental, location=other_location)

    rental.refresh_from_db()
    assert rental.actual_return_location == other_location
    assert rental.cross_location_fee == Decimal("200.00")
    assert rental.get_order_amount_breakdown()["order_total"] == Decimal("3100.00")
    (refund,) = _refunds(rental)
    assert refund.amount == Decimal("1800.00")  # the 2000 deposit less the 200 one-way fee
    assert get_payment_summary(rental=rental)["net_paid"] == Decimal("1100.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_planned_one_way_booking_returned_at_the_pickup_store(customer, vehicle, other_location, time_machine):
    # the one-way fee follows the actual return store, else the planned one
    rental = book(customer, vehicle, return_location=other_location)
    assert rental.cross_location_fee == Decimal("200.00")
    assert rental.get_order_amount_breakdown()["order_total"] == Decimal("3100.00")
    pay(rental, "3100.00")

    _return(time_machine, rental, location=vehicle.location)

    rental.refresh_from_db()
    assert rental.cross_location_fee == Decimal("0.00")
    assert [r.amount for r in _refunds(rental)] == [Decimal("2200.00")]
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)
