"""rentals.services.cancel_rental: SPEC §5 cancelling, refund user fallback,
manual handling for walk-ins, never refunding twice, and all-or-nothing."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

import accounts.services
import rentals.services
from accounts import selectors
from accounts.models import Notification, Payment, PaymentEvent
from accounts.services import record_counter_payment, record_manual_refund
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PendingChargeFactory
from customers.tests.factories import UserFactory
from rentals.exceptions import InvalidTransition, RentalError
from rentals.models import Rental, RentalEvent
from rentals.services import cancel_rental, create_rental, pickup_rental, process_return
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock_in_english(time_machine):
    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield


def _hand_over(rental, staff_user, time_machine) -> None:
    """Staff hand the car over half an hour before the start (within EARLY_PICKUP_MINUTES)."""
    time_machine.move_to(START - timedelta(minutes=30), tick=False)
    pickup_rental(rental=rental, by_user=staff_user)


def _refunds(rental):
    return list(Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND))


def _snapshot(rental):
    """Everything a cancel could touch, to prove a refused or failed one changed nothing."""
    rental = Rental.objects.get(pk=rental.pk)
    return {
        "rental": {f.attname: getattr(rental, f.attname) for f in Rental._meta.concrete_fields},
        "vehicle": Vehicle.objects.filter(pk=rental.vehicle_id).values().get(),
        "payments": list(Payment.objects.filter(rental=rental).order_by("pk").values()),
        "payment_events": PaymentEvent.objects.count(),
        "rental_events": list(RentalEvent.objects.filter(rental=rental).values_list("event", flat=True)),
        "notifications": Notification.objects.count(),
    }


# --- who may cancel what --------------------------------------------------------


def test_customer_cancels_a_pending_order(customer, vehicle):
    rental = book(customer, vehicle)

    assert cancel_rental(rental=rental, reason="  Trip postponed  ", by_user=customer.user) is None

    # the caller's instance sees the result too
    assert rental.status == Rental.Status.CANCELLED
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.cancel_reason == "Trip postponed"
    assert rental.cancelled_at == NOW
    assert rental.cancellation_fee == Decimal("0.00")
    event = RentalEvent.objects.get(rental=rental, event="cancelled")
    assert (event.from_status, event.to_status, event.actor) == ("PENDING", "CANCELLED", customer.user)
    note = Notification.objects.get(user=customer.user, notification_type=Notification.Type.ORDER_CANCELLED)
    assert note.rental == rental
    assert "Trip postponed" in note.message
    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.AVAILABLE
    assert_ledger_consistent(rental)


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_reason_is_required(customer, vehicle, reason):
    rental = book(customer, vehicle)
    before = _snapshot(rental)

    with pytest.raises(RentalError) as excinfo:
        cancel_rental(rental=rental, reason=reason, by_user=customer.user)

    assert excinfo.value.messages == ["Please tell us why you are cancelling."]
    assert _snapshot(rental) == before


def test_customer_cannot_cancel_once_the_car_is_picked_up(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    _hand_over(rental, staff_user, time_machine)
    before = _snapshot(rental)

    with pytest.raises(InvalidTransition) as excinfo:
        cancel_rental(rental=rental, reason="Changed my mind", by_user=customer.user)

    assert isinstance(excinfo.value, ValidationError)
    assert excinfo.value.messages == ["The car has been picked up; please contact the store to end this rental."]
    assert _snapshot(rental) == before


def test_customer_cannot_cancel_after_the_start_time_even_before_a_refresh(customer, vehicle, time_machine):
    # At start_time the order is ONGOING by SPEC §5, whether or not a page has
    # refreshed the stored status yet.
    rental = book(customer, vehicle)
    pay(rental)
    time_machine.move_to(START + timedelta(hours=2), tick=False)
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING
    before = _snapshot(rental)

    with pytest.raises(InvalidTransition):
        cancel_rental(rental=rental, reason="No-show", by_user=customer.user)

    assert _snapshot(rental) == before


def test_customer_cannot_charge_a_cancellation_fee(customer, vehicle):
    rental = book(customer, vehicle)
    before = _snapshot(rental)

    with pytest.raises(RentalError) as excinfo:
        cancel_rental(rental=rental, reason="x", by_user=customer.user, cancellation_fee=Decimal("10"))

    assert excinfo.value.messages == ["Only staff can charge a cancellation fee."]
    assert _snapshot(rental) == before


def test_negative_fee_is_refused(customer, vehicle, staff_user):
    rental = book(customer, vehicle)
    with pytest.raises(RentalError, match="can't be negative"):
        cancel_rental(rental=rental, reason="x", by_user=staff_user, cancellation_fee=Decimal("-1"))
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING


def test_fee_above_the_order_total_is_refused(customer, vehicle, staff_user):
    rental = book(customer, vehicle)
    before = _snapshot(rental)

    with pytest.raises(RentalError) as excinfo:
        cancel_rental(rental=rental, reason="x", by_user=staff_user, cancellation_fee=Decimal("2900.01"))

    assert excinfo.value.messages == ["The cancellation fee can't exceed the order total of ¥2,900.00."]
    assert _snapshot(rental) == before


@pytest.mark.parametrize("by_staff", [False, True])
def test_closed_orders_cannot_be_cancelled(customer, vehicle, staff_user, by_staff):
    rental = book(customer, vehicle)
    cancel_rental(rental=rental, reason="first", by_user=customer.user)
    before = _snapshot(rental)

    with pytest.raises(InvalidTransition) as excinfo:
        cancel_rental(rental=rental, reason="again", by_user=staff_user if by_staff else customer.user)

    assert excinfo.value.messages == ["An order that is Cancelled cannot become Cancelled."]
    assert _snapshot(rental) == before


def test_a_completed_order_cannot_be_cancelled(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    time_machine.move_to(END, tick=False)
    process_return(rental=rental, returned_at=END, location=vehicle.location, by_user=staff_user)
    before = _snapshot(rental)

    with pytest.raises(InvalidTransition, match="Completed cannot become Cancelled"):
        cancel_rental(rental=rental, reason="too late", by_user=staff_user)

    assert _snapshot(rental) == before


# --- staff cancels on-road orders ----------------------------------------------------


def test_staff_cancels_an_ongoing_order_with_a_fee(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    _hand_over(rental, staff_user, time_machine)
    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.RENTED

    refund = cancel_rental(rental=rental, reason="No-show", by_user=staff_user, cancellation_fee=Decimal("300"))

    rental.refresh_from_db()
    assert refund.amount == Decimal("2600.00")
    assert rental.status == Rental.Status.CANCELLED
    assert rental.cancellation_fee == Decimal("300.00")
    assert rental.amount_paid == Decimal("2900.00")
    assert rental.amount_refunded == Decimal("2600.00")
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert RentalEvent.objects.get(rental=rental, event="cancelled").payload == {
        "reason": "No-show",
        "cancellation_fee": "300.00",
    }
    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.AVAILABLE
    assert_ledger_consistent(rental)


def test_staff_cancels_an_overdue_unpaid_order_with_a_fee(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    time_machine.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)  # handed over unpaid: no longer a booking that lapses
    time_machine.move_to(END + timedelta(hours=3), tick=False)
    rental.auto_update_status()
    assert rental.status == Rental.Status.OVERDUE

    assert (
        cancel_rental(rental=rental, reason="Never came", by_user=staff_user, cancellation_fee=Decimal("450")) is None
    )

    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.outstanding_amount == Decimal("450.00")
    assert rental.settlement_status == Rental.SettlementStatus.UNSETTLED
    assert _refunds(rental) == []
    assert_ledger_consistent(rental)

    # the fee can then be paid at the counter, which squares the order
    record_counter_payment(rental=rental, amount=Decimal("450"), method=Payment.Method.CASH, by_user=staff_user)
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_fee_above_net_paid_leaves_the_order_owing(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    pay(rental, "100.00")
    _hand_over(rental, staff_user, time_machine)

    assert cancel_rental(rental=rental, reason="Damage", by_user=staff_user, cancellation_fee=Decimal("300")) is None

    rental.refresh_from_db()
    assert rental.outstanding_amount == Decimal("200.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert_ledger_consistent(rental)


def test_the_car_stays_rented_when_another_rental_holds_it(customer, vehicle, staff_user, time_machine):
    first = book(customer, vehicle)
    _hand_over(first, staff_user, time_machine)
    second = create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=END + timedelta(hours=1),
        end_time=END + timedelta(days=2),
        pickup_location=vehicle.location,
        return_location=vehicle.location,
    )
    pay(second, "100.00")
    time_machine.move_to(END + timedelta(hours=2), tick=False)
    first.auto_update_status()
    second.auto_update_status()
    assert (first.status, second.status) == (Rental.Status.OVERDUE, Rental.Status.ONGOING)

    cancel_rental(rental=first, reason="Written off", by_user=staff_user)

    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.RENTED


# --- open charges -------------------------------------------------------------------


def test_open_charges_are_cancelled(customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental, "1000.00")
    pending = PendingChargeFactory(rental=rental, amount=Decimal("1900.00"))

    refund = cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    pending.refresh_from_db()
    assert pending.status == Payment.Status.CANCELLED
    assert pending.failure_reason == "Order cancelled"
    assert PaymentEvent.objects.filter(payment=pending, event="charge_cancelled", to_status="CANCELLED").exists()
    assert refund.amount == Decimal("1000.00")
    assert_ledger_consistent(rental)


# --- the refund: who, how, how much -------------------------------------------------------


def test_refund_goes_back_the_way_it_came(customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental, "1000.00", payment_method=Payment.Method.ALIPAY, paid_at=NOW - timedelta(hours=2))
    pay(rental, "1900.00", payment_method=Payment.Method.WECHAT, paid_at=NOW - timedelta(hours=1))

    refund = cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    # one refund per charge, newest first, each back the way its money came (SPEC §16)
    assert refund.payment_method == Payment.Method.WECHAT
    assert refund.amount == Decimal("1900.00")
    assert [(r.payment_method, r.amount, r.refund_of.payment_method) for r in _refunds(rental)] == [
        (Payment.Method.WECHAT, Decimal("1900.00"), Payment.Method.WECHAT),
        (Payment.Method.ALIPAY, Decimal("1000.00"), Payment.Method.ALIPAY),
    ]
    assert refund.description_text == "Refund on cancellation: Plans changed"
    # asked of the provider (PENDING), confirmed by its notification (REFUNDED), SPEC §11
    assert PaymentEvent.objects.filter(payment=refund, event="refund_requested", to_status="PENDING").exists()
    assert PaymentEvent.objects.filter(payment=refund, event="refund_confirmed", to_status="REFUNDED").exists()
    assert (
        Notification.objects.filter(
            user=customer.user, rental=rental, notification_type=Notification.Type.REFUND_ISSUED
        ).count()
        == 2
    )
    cancelled_note = Notification.objects.get(notification_type=Notification.Type.ORDER_CANCELLED)
    assert "¥2,900.00 will be refunded." in cancelled_note.message_text


def test_refund_method_is_bank_when_nothing_was_paid(customer, vehicle):
    rental = book(customer, vehicle)
    assert selectors.refund_method(rental=rental) == Payment.Method.BANK


def test_refund_goes_to_the_user_on_the_payments(customer, vehicle):
    payer = UserFactory()  # e.g. a colleague paid for the order
    rental = book(customer, vehicle)
    pay(rental, user=payer)

    refund = cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    assert refund.user == payer
    assert Notification.objects.filter(user=payer, notification_type=Notification.Type.REFUND_ISSUED).exists()


def test_refund_falls_back_to_the_customers_user(customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental, user=None)

    refund = cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    assert refund.user == customer.user


def test_walk_in_with_no_user_anywhere_needs_a_manual_refund(walk_in_customer, vehicle, staff_user):
    rental = book(walk_in_customer, vehicle)
    record_counter_payment(rental=rental, amount=Decimal("2900"), method=Payment.Method.CASH, by_user=staff_user)

    refund = cancel_rental(rental=rental, reason="Customer called", by_user=staff_user)

    rental.refresh_from_db()
    assert refund is None
    assert _refunds(rental) == []
    assert rental.status == Rental.Status.CANCELLED
    assert rental.requires_manual_refund is True
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert rental.settlement_status != Rental.SettlementStatus.SETTLED
    assert rental.money_figures().refund_due == Decimal("2900.00")
    flag = RentalEvent.objects.get(rental=rental, event="manual_refund_required")
    assert flag.payload == {"amount": "2900.00", "reason": "cancellation"}
    assert flag.actor == staff_user
    assert not Notification.objects.exists()
    assert_ledger_consistent(rental)

    # a second pass (a command, refund_deposit) writes nothing and flags once
    assert rental.refund_deposit() is None
    assert RentalEvent.objects.filter(rental=rental, event="manual_refund_required").count() == 1

    # the way out: staff refund by hand
    record_manual_refund(rental=rental, amount=Decimal("2900"), reason="Cash back at the counter", by_user=staff_user)
    rental.refresh_from_db()
    assert rental.requires_manual_refund is False
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    (manual,) = _refunds(rental)
    assert manual.user is None
    assert manual.payment_method == Payment.Method.CASH
    assert_ledger_consistent(rental)


def test_a_refund_is_never_written_twice(customer, vehicle, staff_user):
    rental = book(customer, vehicle)
    pay(rental)
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    assert rental.refund_deposit() is None
    assert rental.refund_deposit(user=staff_user) is None
    with pytest.raises(InvalidTransition):
        cancel_rental(rental=rental, reason="again", by_user=staff_user)

    assert len(_refunds(rental)) == 1
    assert_ledger_consistent(rental)


# --- all or nothing ---------------------------------------------------------------------


def test_a_failure_after_the_refund_rolls_the_whole_cancel_back(
    customer, vehicle, staff_user, monkeypatch, time_machine
):
    rental = book(customer, vehicle)
    pay(rental)
    _hand_over(rental, staff_user, time_machine)
    PendingChargeFactory(rental=rental, amount=Decimal("50.00"))
    before = _snapshot(rental)
    assert before["vehicle"]["status"] == Vehicle.Status.RENTED
    real_notify = accounts.services.notify
    refund_rows_seen = []

    def failing_notify(**kwargs):
        if kwargs["notification_type"] == Notification.Type.ORDER_CANCELLED:
            # the refund row has been written by now
            refund_rows_seen.append(len(_refunds(rental)))
            raise RuntimeError("notification service down")
        return real_notify(**kwargs)

    monkeypatch.setattr(rentals.services.cancellation, "notify", failing_notify)

    with pytest.raises(RuntimeError):
        cancel_rental(rental=rental, reason="No-show", by_user=staff_user, cancellation_fee=Decimal("100"))

    assert refund_rows_seen == [1]
    assert _snapshot(rental) == before
    fresh = Rental.objects.get(pk=rental.pk)
    assert fresh.status == Rental.Status.ONGOING
    assert fresh.settlement_status == Rental.SettlementStatus.PARTIAL
    assert _refunds(rental) == []
    assert_ledger_consistent(fresh)
