"""rentals.services.process_return and Rental.refund_deposit (SPEC §4, §5 returning)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from accounts.models import Notification, Payment
from accounts.services import record_counter_payment
from accounts.tests.assertions import assert_ledger_consistent
from rentals.exceptions import InvalidTransition, RentalError
from rentals.models import Rental, RentalEvent
from rentals.services import cancel_rental, pickup_rental, process_return
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, paid, pay
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock_in_english(time_machine):
    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield


def _on_road(time_machine, rental, staff_user):
    time_machine.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)


def _return_at(time_machine, rental, when, location, **kwargs):
    time_machine.move_to(when, tick=False)
    return process_return(rental=rental, returned_at=when, location=location, **kwargs)


def _refunds(rental):
    return list(Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND))


@pytest.fixture
def paid_on_road(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    _on_road(time_machine, rental, staff_user)
    return rental


# --- fees -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("late", "overdue_fee", "refund"),
    [
        # a day early (§19): two days' rent ¥600 + 20 % of the unused day's ¥300 back with the deposit
        (-timedelta(days=1), "0.00", "2240.00"),
        (timedelta(0), "0.00", "2000.00"),
        (timedelta(minutes=60), "0.00", "2000.00"),
        (timedelta(minutes=61), "450.00", "1550.00"),
        (timedelta(hours=26), "900.00", "1100.00"),
        (timedelta(days=4), "1800.00", "200.00"),
    ],
)
def test_overdue_fee_is_taken_from_the_deposit(paid_on_road, time_machine, staff_user, late, overdue_fee, refund):
    rental = paid_on_road

    returned = _return_at(time_machine, rental, END + late, rental.pickup_location, by_user=staff_user)

    assert returned.pk == rental.pk
    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    assert rental.actual_return_time == END + late
    assert rental.overdue_fee == Decimal(overdue_fee)
    assert [r.amount for r in _refunds(rental)] == [Decimal(refund)]
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_fees_beyond_the_deposit_leave_the_completed_order_owing(paid_on_road, time_machine, staff_user):
    rental = paid_on_road

    _return_at(time_machine, rental, END + timedelta(days=5), rental.pickup_location, by_user=staff_user)

    rental.refresh_from_db()
    assert rental.overdue_fee == Decimal("2250.00")
    assert _refunds(rental) == []
    assert rental.outstanding_amount == Decimal("250.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    note = Notification.objects.get(notification_type=Notification.Type.RENTAL_RETURNED)
    assert "¥250.00 is still to be paid for fees found at return." in note.message_text
    assert_ledger_consistent(rental)

    record_counter_payment(rental=rental, amount=Decimal("250"), method=Payment.Method.BANK, by_user=staff_user)
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_damage_and_one_way_fees(paid_on_road, time_machine, staff_user, other_location):
    rental = paid_on_road

    _return_at(
        time_machine,
        rental,
        END + timedelta(hours=2),
        other_location,
        damage_fee=Decimal("300.5"),
        note="Scratch on the rear bumper",
        by_user=staff_user,
    )

    rental.refresh_from_db()
    assert rental.overdue_fee == Decimal("450.00")
    assert rental.cross_location_fee == Decimal("200.00")
    assert rental.damage_fee == Decimal("300.50")
    assert rental.return_note == "Scratch on the rear bumper"
    assert rental.get_order_amount_breakdown()["order_total"] == Decimal("3850.50")
    (refund,) = _refunds(rental)
    assert refund.amount == Decimal("1049.50")  # 2000 − 450 − 200 − 300.50
    assert (
        refund.description_text == "Deposit refund, less overdue fee ¥450.00, one-way fee ¥200.00, damage fee ¥300.50"
    )
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    event = RentalEvent.objects.get(rental=rental, event="returned")
    assert (event.from_status, event.to_status, event.actor) == ("ONGOING", "COMPLETED", staff_user)
    assert event.payload["damage_fee"] == "300.50"
    assert event.payload["cross_location_fee"] == "200.00"
    assert_ledger_consistent(rental)


def test_an_unpaid_return_owes_the_rental_fee_but_not_the_deposit(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    _on_road(time_machine, rental, staff_user)

    _return_at(time_machine, rental, END, vehicle.location, by_user=staff_user)

    rental.refresh_from_db()
    assert rental.outstanding_amount == Decimal("900.00")
    assert rental.settlement_status == Rental.SettlementStatus.UNSETTLED
    assert not Payment.objects.filter(rental=rental).exists()
    assert_ledger_consistent(rental)


def test_vip_return_with_damage_owes_the_fee(vip_customer, vehicle, staff_user, time_machine):
    rental = book(vip_customer, vehicle)
    pay(rental, "765.00")
    _on_road(time_machine, rental, staff_user)

    _return_at(time_machine, rental, END, vehicle.location, damage_fee=Decimal("120"), by_user=staff_user)

    rental.refresh_from_db()
    assert _refunds(rental) == []
    assert rental.outstanding_amount == Decimal("120.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert_ledger_consistent(rental)


def test_walk_in_deposit_needs_a_manual_refund(walk_in_customer, vehicle, staff_user, time_machine):
    rental = book(walk_in_customer, vehicle)
    record_counter_payment(rental=rental, amount=Decimal("2900"), method=Payment.Method.CASH, by_user=staff_user)
    _on_road(time_machine, rental, staff_user)

    _return_at(time_machine, rental, END, vehicle.location, by_user=staff_user)

    rental.refresh_from_db()
    assert _refunds(rental) == []
    assert rental.requires_manual_refund is True
    assert rental.money_figures().refund_due == Decimal("2000.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert_ledger_consistent(rental)


# --- the car ------------------------------------------------------------------------


def test_the_car_is_available_again_at_the_return_store(paid_on_road, vehicle, other_location, time_machine):
    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.RENTED

    _return_at(time_machine, paid_on_road, END, other_location)

    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.AVAILABLE
    assert vehicle.location == other_location


def test_the_car_stays_rented_while_another_on_road_rental_holds_it(customer, vehicle, staff_user, time_machine):
    first = book(customer, vehicle)
    second = book(customer, vehicle, start=END + timedelta(hours=2), end=END + timedelta(days=2))
    paid(second, Decimal("100.00"))
    _on_road(time_machine, first, staff_user)
    # the first is not back yet when the second starts by time
    time_machine.move_to(END + timedelta(hours=3), tick=False)
    assert second.auto_update_status() is True
    assert second.status == Rental.Status.ONGOING

    process_return(rental=first, returned_at=END + timedelta(hours=3), location=vehicle.location)

    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.RENTED
    first.refresh_from_db()
    assert first.status == Rental.Status.COMPLETED


def test_a_car_sent_to_maintenance_stays_there(paid_on_road, vehicle, time_machine):
    Vehicle.objects.filter(pk=vehicle.pk).update(status=Vehicle.Status.MAINTENANCE)

    _return_at(time_machine, paid_on_road, END, vehicle.location)

    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.MAINTENANCE


def test_a_started_order_not_yet_refreshed_can_be_returned(customer, vehicle, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    time_machine.move_to(END, tick=False)
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING

    process_return(rental=rental, returned_at=END, location=vehicle.location)

    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    assert [r.amount for r in _refunds(rental)] == [Decimal("2000.00")]
    assert_ledger_consistent(rental)


# --- refusals -------------------------------------------------------------------------


def _unchanged(rental, vehicle):
    fresh = Rental.objects.get(pk=rental.pk)
    return (
        fresh.status,
        fresh.actual_return_time,
        fresh.overdue_fee,
        fresh.damage_fee,
        Payment.objects.filter(rental=rental).count(),
        Vehicle.objects.get(pk=vehicle.pk).status,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"damage_fee": Decimal("-1")}, "A damage fee can't be negative."),
        ({"returned_at": None}, "Please give the return time."),
        ({"returned_at": END.replace(tzinfo=None)}, "Please give the return time."),
        ({"returned_at": END + timedelta(minutes=10)}, "The return time can't be in the future."),
        ({"returned_at": START - timedelta(minutes=1)}, "The return time can't be before the pick-up."),
    ],
)
def test_bad_returns_are_refused_and_change_nothing(paid_on_road, vehicle, time_machine, kwargs, message):
    time_machine.move_to(END, tick=False)
    before = _unchanged(paid_on_road, vehicle)
    call = {"rental": paid_on_road, "returned_at": END, "location": vehicle.location, **kwargs}

    with pytest.raises(RentalError) as excinfo:
        process_return(**call)

    assert excinfo.value.messages == [message]
    assert _unchanged(paid_on_road, vehicle) == before


def test_an_order_not_yet_started_cannot_be_returned(customer, vehicle):
    rental = book(customer, vehicle)
    with pytest.raises(InvalidTransition) as excinfo:
        process_return(rental=rental, returned_at=NOW, location=vehicle.location)
    assert excinfo.value.messages == [
        "Only a car that is out on rental can be returned (this order is Pending pick-up)."
    ]
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING


def test_closed_orders_cannot_be_returned(paid_on_road, customer, vehicle, staff_user, time_machine):
    _return_at(time_machine, paid_on_road, END, vehicle.location)
    with pytest.raises(InvalidTransition, match="this order is Completed"):
        process_return(rental=paid_on_road, returned_at=END, location=vehicle.location)

    cancelled = book(customer, vehicle, start=END + timedelta(days=1), end=END + timedelta(days=2))
    cancel_rental(rental=cancelled, reason="x", by_user=customer.user)
    with pytest.raises(InvalidTransition, match="this order is Cancelled"):
        process_return(rental=cancelled, returned_at=END, location=vehicle.location)
    assert len(_refunds(paid_on_road)) == 1


# --- refund_deposit -------------------------------------------------------------------


def test_refund_deposit_twice_refunds_once(customer, vehicle, staff_user, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    _on_road(time_machine, rental, staff_user)
    # a return recorded without the refund step, as an older flow did
    time_machine.move_to(END, tick=False)
    Rental.objects.filter(pk=rental.pk).update(
        status=Rental.Status.COMPLETED, actual_return_time=END, actual_return_location=vehicle.location
    )
    rental.refresh_from_db()
    rental.refresh_financials()
    assert rental.money_figures().refund_due == Decimal("2000.00")

    first = rental.refund_deposit()
    second = rental.refund_deposit()

    assert first.amount == Decimal("2000.00")
    assert first.user == customer.user
    assert first.description_text == "Deposit refund"
    assert second is None
    assert len(_refunds(rental)) == 1
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_refund_deposit_after_a_return_finds_nothing_due(paid_on_road, vehicle, time_machine, staff_user):
    _return_at(time_machine, paid_on_road, END, vehicle.location)

    assert paid_on_road.refund_deposit() is None
    assert paid_on_road.refund_deposit(user=staff_user) is None

    assert len(_refunds(paid_on_road)) == 1
    assert_ledger_consistent(paid_on_road)


def test_refund_deposit_pays_the_given_user(paid_on_road, vehicle, time_machine, staff_user):
    Rental.objects.filter(pk=paid_on_road.pk).update(status=Rental.Status.COMPLETED, actual_return_time=START)
    paid_on_road.refresh_from_db()

    refund = paid_on_road.refund_deposit(user=staff_user)

    assert refund.user == staff_user
    assert refund.amount == Decimal("2000.00")


def test_refund_deposit_on_an_active_order_refunds_nothing(paid_on_road):
    assert paid_on_road.refund_deposit() is None
    assert _refunds(paid_on_road) == []
