"""accounts.services.record_counter_payment and record_manual_refund (SPEC §8 staff flows)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.exceptions import PaymentError, RefundError
from accounts.models import Notification, Payment, PaymentEvent
from accounts.services import record_counter_payment, record_manual_refund
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import PendingChargeFactory
from customers.tests.factories import UserFactory
from rentals.models import Rental
from rentals.services import cancel_rental, pickup_rental, process_return
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock_in_english(frozen_clock):
    return frozen_clock


def _ledger(rental):
    return list(
        Payment.objects.filter(rental=rental).order_by("pk").values_list("transaction_type", "status", "amount")
    )


@pytest.fixture
def rental(customer, vehicle):
    return book(customer, vehicle)


# --- record_counter_payment ---------------------------------------------------------------


@pytest.mark.parametrize("method", [Payment.Method.CASH, Payment.Method.BANK])
def test_counter_payment_is_a_paid_charge_at_once(rental, customer, staff_user, method):
    charge = record_counter_payment(rental=rental, amount=Decimal("1000"), method=method, by_user=staff_user)

    charge.refresh_from_db()
    assert charge.transaction_type == Payment.TransactionType.CHARGE
    assert charge.status == Payment.Status.PAID
    assert charge.amount == Decimal("1000.00")
    assert charge.payment_method == method
    assert charge.user == customer.user
    assert charge.paid_at == NOW
    assert charge.transaction_id.startswith("PAY")
    event = PaymentEvent.objects.get(payment=charge)
    assert (event.event, event.to_status, event.actor) == ("counter_payment", "PAID", staff_user)
    assert event.payload["staff"] == "clerk"
    assert event.payload["amount"] == "1000.00"
    # the caller's instance is refreshed
    assert rental.amount_paid == Decimal("1000.00")
    assert rental.outstanding_amount == Decimal("1900.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    note = Notification.objects.get(notification_type=Notification.Type.PAYMENT_SUCCESS)
    assert note.user == customer.user
    assert note.title_text == "Payment of ¥1,000.00 received"
    assert_ledger_consistent(rental)


def test_walk_in_counter_payment_has_no_user(walk_in_customer, vehicle, staff_user):
    rental = book(walk_in_customer, vehicle)

    charge = record_counter_payment(rental=rental, amount=Decimal("2900"), method="CASH", by_user=staff_user)

    assert charge.user is None
    assert not Notification.objects.exists()
    assert rental.outstanding_amount == Decimal("0.00")
    assert_ledger_consistent(rental)


def test_payments_add_up_to_the_remaining_amount(rental, staff_user):
    record_counter_payment(rental=rental, amount=Decimal("0.01"), method="CASH", by_user=staff_user)
    record_counter_payment(rental=rental, amount=Decimal("2899.99"), method="BANK", by_user=staff_user)

    assert rental.amount_paid == Decimal("2900.00")
    assert rental.outstanding_amount == Decimal("0.00")
    with pytest.raises(PaymentError) as excinfo:
        record_counter_payment(rental=rental, amount=Decimal("1"), method="CASH", by_user=staff_user)
    assert excinfo.value.messages == ["This order owes nothing."]
    assert len(_ledger(rental)) == 2
    assert_ledger_consistent(rental)


def test_open_online_charges_are_cancelled_first(rental, staff_user):
    pending = PendingChargeFactory(rental=rental, amount=Decimal("2900.00"))

    record_counter_payment(rental=rental, amount=Decimal("2900"), method="CASH", by_user=staff_user)

    pending.refresh_from_db()
    assert pending.status == Payment.Status.CANCELLED
    assert pending.failure_reason == "Paid at the counter"
    assert PaymentEvent.objects.filter(payment=pending, event="charge_cancelled", actor=staff_user).exists()
    assert_ledger_consistent(rental)


def test_a_completed_order_that_owes_can_be_paid(rental, vehicle, staff_user, time_machine):
    pay(rental, "2900.00")
    time_machine.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    time_machine.move_to(END, tick=False)
    process_return(rental=rental, returned_at=END, location=vehicle.location, damage_fee=Decimal("2500"))
    rental.refresh_from_db()
    assert rental.outstanding_amount == Decimal("500.00")

    record_counter_payment(rental=rental, amount=Decimal("500"), method="BANK", by_user=staff_user)

    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_cancellation_fee_can_be_paid(rental, staff_user, time_machine):
    # handed over unpaid, then ended by staff with a fee nobody has paid yet
    time_machine.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    cancel_rental(rental=rental, reason="Returned at once", by_user=staff_user, cancellation_fee=Decimal("200"))
    rental.refresh_from_db()

    with pytest.raises(PaymentError, match="more than the ¥200.00 still owed"):
        record_counter_payment(rental=rental, amount=Decimal("300"), method="CASH", by_user=staff_user)
    record_counter_payment(rental=rental, amount=Decimal("200"), method="CASH", by_user=staff_user)

    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by_user": None}, "Only staff can do this."),
        ({"method": Payment.Method.ALIPAY}, "At the counter you can take cash or a bank card."),
        ({"method": "BITCOIN"}, "At the counter you can take cash or a bank card."),
        ({"amount": Decimal("0")}, "The amount must be more than zero."),
        ({"amount": Decimal("-5")}, "The amount must be more than zero."),
        ({"amount": Decimal("0.004")}, "The amount must be more than zero."),
        ({"amount": Decimal("2900.01")}, "The amount ¥2,900.01 is more than the ¥2,900.00 still owed."),
    ],
)
def test_counter_payment_refusals_change_nothing(rental, staff_user, kwargs, message):
    call = {"rental": rental, "amount": Decimal("100"), "method": "CASH", "by_user": staff_user, **kwargs}
    events_before = PaymentEvent.objects.count()

    with pytest.raises(PaymentError) as excinfo:
        record_counter_payment(**call)

    assert isinstance(excinfo.value, ValidationError)
    assert excinfo.value.messages == [message]
    assert _ledger(rental) == []
    assert PaymentEvent.objects.count() == events_before
    assert_ledger_consistent(rental)


def test_a_customer_cannot_record_a_counter_payment(rental, customer):
    with pytest.raises(PaymentError, match="Only staff"):
        record_counter_payment(rental=rental, amount=Decimal("100"), method="CASH", by_user=customer.user)
    assert _ledger(rental) == []


def test_counter_payment_reads_the_ledger_under_lock(rental, staff_user):
    stale = Rental.objects.get(pk=rental.pk)
    pay(rental, "2900.00")  # paid online meanwhile; the stale copy still shows 0 paid

    with pytest.raises(PaymentError, match="owes nothing"):
        record_counter_payment(rental=stale, amount=Decimal("2900"), method="CASH", by_user=staff_user)

    assert len(_ledger(rental)) == 1


# --- record_manual_refund -------------------------------------------------------------------


def test_manual_refund_within_net_paid(rental, customer, staff_user):
    pay(rental, "2900.00", payment_method=Payment.Method.WECHAT)

    refund = record_manual_refund(rental=rental, amount=Decimal("100"), reason="  Goodwill  ", by_user=staff_user)

    refund.refresh_from_db()
    assert refund.transaction_type == Payment.TransactionType.REFUND
    assert refund.status == Payment.Status.REFUNDED
    assert refund.amount == Decimal("100.00")
    assert refund.user == customer.user
    assert refund.payment_method == Payment.Method.WECHAT
    assert refund.description_text == "Manual refund: Goodwill"
    assert refund.transaction_id.startswith("REF")
    event = PaymentEvent.objects.get(payment=refund)
    assert (event.event, event.actor) == ("manual_refund", staff_user)
    assert event.payload["reason"] == "Goodwill"
    assert rental.amount_refunded == Decimal("100.00")
    # nothing was due back, so all of it is goodwill: it lowers what the
    # order owes instead of becoming a debt (SPEC §16)
    assert refund.goodwill_amount == Decimal("100.00")
    assert rental.goodwill_amount == Decimal("100.00")
    assert rental.outstanding_amount == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert Notification.objects.filter(user=customer.user, notification_type=Notification.Type.REFUND_ISSUED).exists()
    assert_ledger_consistent(rental)


def test_manual_refund_of_everything_paid_is_allowed_but_no_more(rental, staff_user):
    pay(rental, "1000.00")
    record_manual_refund(rental=rental, amount=Decimal("400"), reason="a", by_user=staff_user)

    with pytest.raises(RefundError) as excinfo:
        record_manual_refund(rental=rental, amount=Decimal("600.01"), reason="b", by_user=staff_user)
    assert excinfo.value.messages == ["A refund of ¥600.01 would exceed the ¥600.00 actually paid."]

    record_manual_refund(rental=rental, amount=Decimal("600"), reason="b", by_user=staff_user)
    assert rental.amount_refunded == Decimal("1000.00")
    with pytest.raises(RefundError):
        record_manual_refund(rental=rental, amount=Decimal("0.01"), reason="c", by_user=staff_user)
    assert len(_ledger(rental)) == 3
    assert_ledger_consistent(rental)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by_user": None}, "Only staff can do this."),
        ({"reason": ""}, "Please give a reason for the refund."),
        ({"reason": "   "}, "Please give a reason for the refund."),
        ({"amount": Decimal("0")}, "A refund must be more than zero."),
        ({"amount": Decimal("-1")}, "A refund must be more than zero."),
        ({"amount": Decimal("2900.01")}, "A refund of ¥2,900.01 would exceed the ¥2,900.00 actually paid."),
    ],
)
def test_manual_refund_refusals_change_nothing(rental, staff_user, kwargs, message):
    pay(rental, "2900.00")
    call = {"rental": rental, "amount": Decimal("100"), "reason": "Goodwill", "by_user": staff_user, **kwargs}
    events_before = PaymentEvent.objects.count()

    with pytest.raises(PaymentError) as excinfo:
        record_manual_refund(**call)

    assert excinfo.value.messages == [message]
    assert len(_ledger(rental)) == 1
    assert PaymentEvent.objects.count() == events_before
    assert_ledger_consistent(rental)


def test_nothing_paid_nothing_to_refund(rental, staff_user):
    with pytest.raises(RefundError, match="would exceed the ¥0.00 actually paid"):
        record_manual_refund(rental=rental, amount=Decimal("1"), reason="x", by_user=staff_user)


def test_manual_refund_recipient(rental, customer, staff_user):
    payer = UserFactory()
    charge = pay(rental, "1000.00", user=payer)
    other = UserFactory()

    to_payer = record_manual_refund(rental=rental, amount=Decimal("10"), reason="a", by_user=staff_user)
    to_other = record_manual_refund(
        rental=rental, amount=Decimal("10"), reason="b", by_user=staff_user, user=other, method=charge.payment_method
    )

    assert to_payer.user == payer
    assert to_other.user == other
    # The way back is the way the money came (SPEC §16).
    assert to_other.payment_method == charge.payment_method
    assert to_other.refund_of_id == charge.pk


def test_manual_refund_clears_the_manual_handling_flag(walk_in_customer, vehicle, staff_user, time_machine):
    rental = book(walk_in_customer, vehicle)
    record_counter_payment(rental=rental, amount=Decimal("2900"), method="CASH", by_user=staff_user)
    time_machine.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    time_machine.move_to(END, tick=False)
    process_return(rental=rental, returned_at=END, location=vehicle.location, by_user=staff_user)
    rental.refresh_from_db()
    assert rental.requires_manual_refund is True
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL

    # a partial manual refund leaves the flag: money is still due back
    record_manual_refund(rental=rental, amount=Decimal("500"), reason="Part in cash", by_user=staff_user)
    assert rental.requires_manual_refund is True
    record_manual_refund(rental=rental, amount=Decimal("1500"), reason="Rest in cash", by_user=staff_user)

    assert rental.requires_manual_refund is False
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.amount_refunded == Decimal("2000.00")
    assert all(user is None for user in Payment.objects.filter(rental=rental).values_list("user", flat=True))
    assert_ledger_consistent(rental)
