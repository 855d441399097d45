"""The deposit hold's model and figures (SPEC §18): holds are not money, the
deposit of a HOLD or CREDIT order is never owed as money, ``held`` is what a
HELD hold still holds, an order with a hold open is not SETTLED, and the
database keeps taken + released within the amount and one open hold per order."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import figures
from accounts.models import DepositHold, HoldRelease, Payment, TrafficFine
from accounts.tests.factories import PaymentFactory
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

D = Decimal


def hold_for(rental: Rental, *, status=DepositHold.Status.HELD, amount=None, n=1, **extra) -> DepositHold:
    return DepositHold.objects.create(
        rental=rental,
        provider="sandbox",
        payment_method=Payment.Method.ALIPAY,
        amount=amount if amount is not None else rental.deposit + D("2000.00"),
        transaction_id=f"HLDTEST{rental.pk:06d}{n:03d}",
        status=status,
        held_at=timezone.now() if status == DepositHold.Status.HELD else None,
        **extra,
    )


def held_rental(**kwargs) -> Rental:
    rental = RentalFactory(**kwargs)
    rental.deposit_mode = Rental.DepositMode.HOLD
    rental.save(update_fields=["deposit_mode"])
    return rental


def test_a_new_booking_gives_its_deposit_as_money_and_a_vip_has_none_to_give():
    regular = RentalFactory()
    vip = RentalFactory(customer=CustomerFactory(member_level=Customer.MemberLevel.VIP))
    assert regular.deposit > 0 and regular.deposit_mode == Rental.DepositMode.CHARGE
    assert vip.deposit == 0 and vip.deposit_mode == Rental.DepositMode.WAIVED


def test_a_held_deposit_is_not_owed_as_money_in_any_status():
    rental = held_rental()
    money = RentalFactory(
        vehicle=rental.vehicle,
        start_time=rental.end_time,
        end_time=rental.end_time + (rental.end_time - rental.start_time),
    )
    rent = rental.total_amount + rental.cross_location_fee
    for status in (Rental.Status.PENDING, Rental.Status.ONGOING, Rental.Status.OVERDUE, Rental.Status.COMPLETED):
        rental.status = status
        money.status = status
        assert rental.figures_for(D("0"), D("0")).owed == rent
        assert money.figures_for(D("0"), D("0")).owed == (
            rent + money.deposit if status != Rental.Status.COMPLETED else rent
        )
    # The money paid for the rent is not a deposit in hand, nor is any overpayment.
    rental.status = Rental.Status.ONGOING
    paid_more = rental.figures_for(rent + D("50.00"), D("0"))
    assert paid_more.deposit_held == 0 and paid_more.refund_due == D("50.00") and paid_more.remaining == 0


def test_held_is_the_rest_of_a_held_hold_and_not_money():
    rental = held_rental()
    PaymentFactory(rental=rental, amount=rental.total_amount + rental.cross_location_fee)
    hold = hold_for(rental, captured_amount=D("300.00"), released_amount=D("1000.00"))
    rental.refresh_financials()
    rental.refresh_from_db()
    assert hold.rest == hold.amount - D("1300.00")
    assert rental.amount_held == hold.rest
    result = rental.money_figures()
    assert result.held == hold.rest and result.hold_open
    assert result.paid == rental.total_amount + rental.cross_location_fee  # holds count no money
    assert figures.value_of("held", rental) == hold.rest
    row = Rental.objects.annotate(db_held=figures.sql("held")).get(pk=rental.pk)
    assert row.db_held == hold.rest


def test_an_order_with_a_hold_open_is_never_settled():
    rental = held_rental()
    PaymentFactory(rental=rental, amount=rental.total_amount + rental.cross_location_fee)
    hold = hold_for(rental)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED)
    rental.refresh_from_db()
    rental.refresh_financials()
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    # Asked and not confirmed: nothing held, still open.
    hold.status = DepositHold.Status.PENDING
    hold.save()
    rental.refresh_financials()
    rental.refresh_from_db()
    assert rental.amount_held == 0 and rental.settlement_status == Rental.SettlementStatus.PARTIAL
    hold.status = DepositHold.Status.RELEASED
    hold.released_amount = hold.amount
    hold.save()
    rental.refresh_financials()
    rental.refresh_from_db()
    assert rental.amount_held == 0 and rental.settlement_status == Rental.SettlementStatus.SETTLED


def test_the_database_keeps_taken_and_released_within_the_amount():
    hold = hold_for(held_rental(), amount=D("3000.00"))
    DepositHold.objects.filter(pk=hold.pk).update(captured_amount=D("1000.00"), released_amount=D("2000.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        DepositHold.objects.filter(pk=hold.pk).update(captured_amount=D("1000.01"))
    with pytest.raises(IntegrityError), transaction.atomic():
        DepositHold.objects.filter(pk=hold.pk).update(released_amount=D("-1.00"))
    hold.refresh_from_db()
    assert hold.captured_amount + hold.released_amount == hold.amount and hold.rest == 0


def test_one_open_hold_per_rental_and_ids_by_prefix():
    rental = held_rental()
    hold_for(rental, status=DepositHold.Status.PENDING)
    with pytest.raises(IntegrityError), transaction.atomic():
        hold_for(rental, n=2)
    hold_for(rental, status=DepositHold.Status.FAILED, n=3)  # closed ones may be many
    with pytest.raises(IntegrityError), transaction.atomic():
        DepositHold.objects.create(
            rental=rental, provider="sandbox", payment_method="ALIPAY", amount=D("1"), transaction_id="PAY1"
        )
    hold = rental.holds.get(status=DepositHold.Status.FAILED)
    with pytest.raises(IntegrityError), transaction.atomic():
        HoldRelease.objects.create(hold=hold, request_id="REL1", amount=D("1"))


def test_a_take_is_not_the_customers_open_charge():
    rental = held_rental()
    hold = hold_for(rental)
    PaymentFactory(rental=rental, status=Payment.Status.PENDING, paid_at=None, transaction_id="PAYOPEN01")
    take = PaymentFactory(
        rental=rental, status=Payment.Status.PENDING, paid_at=None, transaction_id="PAYTAKE01", hold=hold
    )
    assert not take.is_open
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentFactory(rental=rental, status=Payment.Status.PENDING, paid_at=None, transaction_id="PAYOPEN02")


def test_a_traffic_fine_is_recorded_once_per_reference():
    rental = held_rental()
    TrafficFine.objects.create(rental=rental, amount=D("200.00"), reference="3101-2026-0001")
    with pytest.raises(IntegrityError), transaction.atomic():
        TrafficFine.objects.create(rental=rental, amount=D("200.00"), reference="3101-2026-0001")
    with pytest.raises(IntegrityError), transaction.atomic():
        TrafficFine.objects.create(rental=rental, amount=D("0.00"), reference="3101-2026-0002")


def test_a_fine_is_a_fee_the_order_owes():
    rental = RentalFactory()
    before = rental.figures_for(D("0"), D("0"))
    rental.traffic_fine_fee = D("200.00")
    after = rental.figures_for(D("0"), D("0"))
    assert after.owed == before.owed + D("200.00")
