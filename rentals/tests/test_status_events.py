"""Every status change of a rental leaves a RentalEvent (``transition_rental``,
and the bulk moves by time): the audit trail of each order, read in order, is a
chain of moves from its booking to the status it has now."""

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from accounts.models import Payment
from accounts.services import start_payment
from accounts.tests.payment_support import deliver, success_payload
from rentals import ops
from rentals.exceptions import InvalidTransition
from rentals.models import Rental, RentalEvent
from rentals.services import (
    advance_rental_status,
    advance_statuses,
    cancel_rental,
    lapse_unpaid_bookings,
    pickup_rental,
    process_return,
    transition_rental,
)
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db


def moves(rental: Rental) -> list[tuple[str, str, str]]:
    """(event, from, to) of the rental's status moves, oldest first."""
    return list(
        RentalEvent.objects.filter(rental=rental)
        .exclude(to_status="")
        .order_by("created_at", "pk")
        .values_list("event", "from_status", "to_status")
    )


def assert_audited(rental: Rental) -> list[str]:
    """The moves form one chain from the booking to the stored status; returns their events."""
    rental.refresh_from_db()
    chain = moves(rental)
    assert chain[0] == ("created", "", Rental.Status.PENDING), chain
    for (_event, _from, to), (_next_event, next_from, _next_to) in pairwise(chain):
        assert next_from == to, chain
    assert chain[-1][2] == rental.status, chain
    return [event for event, _from, _to in chain]


def test_booking_and_paying_online(client, frozen_clock, customer, vehicle):
    rental = book(customer, vehicle)
    charge = start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    assert deliver(client, success_payload(charge)).status_code == 200

    rental.refresh_from_db()
    assert rental.money_figures().remaining == Decimal("0.00")
    assert assert_audited(rental) == ["created"]


@pytest.mark.parametrize("one_by_one", [True, False])
def test_a_lapsed_booking(frozen_clock, customer, vehicle, one_by_one):
    rental = book(customer, vehicle)
    frozen_clock.move_to(NOW + timedelta(hours=2), tick=False)
    if one_by_one:
        assert advance_rental_status(rental=rental)
    else:
        assert lapse_unpaid_bookings() == 1
    assert assert_audited(rental) == ["created", "lapsed"]


def test_cancel_by_the_customer(frozen_clock, customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental)
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    assert assert_audited(rental) == ["created", "cancelled"]


def test_pickup_then_cancel_by_staff_with_a_fee(frozen_clock, customer, vehicle, staff_user):
    rental = book(customer, vehicle)
    pay(rental)
    frozen_clock.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    cancel_rental(rental=rental, reason="Breakdown", by_user=staff_user, cancellation_fee=Decimal("300.00"))
    assert assert_audited(rental) == ["created", "picked_up", "cancelled"]
    assert RentalEvent.objects.get(rental=rental, event="cancelled").actor == staff_user


def test_pickup_and_return(frozen_clock, customer, vehicle, staff_user):
    rental = book(customer, vehicle)
    pay(rental)
    frozen_clock.move_to(START, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    frozen_clock.move_to(END, tick=False)
    process_return(rental=rental, returned_at=END, location=rental.return_location, by_user=staff_user)
    assert assert_audited(rental) == ["created", "picked_up", "returned"]


@pytest.mark.parametrize(("late", "road"), [(False, Rental.Status.ONGOING), (True, Rental.Status.OVERDUE)])
def test_a_return_of_an_order_never_refreshed_audits_the_hop_to_the_road(
    frozen_clock, customer, vehicle, staff_user, late, road
):
    rental = book(customer, vehicle)
    pay(rental)
    when = END + timedelta(hours=2) if late else START + timedelta(hours=5)
    frozen_clock.move_to(when, tick=False)
    assert rental.status == Rental.Status.PENDING

    process_return(rental=rental, returned_at=when, location=rental.return_location, by_user=staff_user)

    assert assert_audited(rental) == ["created", "status_by_time", "returned"]
    assert moves(rental)[1:] == [
        ("status_by_time", Rental.Status.PENDING, road),
        ("returned", road, Rental.Status.COMPLETED),
    ]


def test_advance_by_time_one_order(frozen_clock, customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental)
    frozen_clock.move_to(START + timedelta(minutes=1), tick=False)
    assert advance_rental_status(rental=rental)
    frozen_clock.move_to(END + timedelta(minutes=1), tick=False)
    assert advance_rental_status(rental=rental)
    assert assert_audited(rental) == ["created", "status_by_time", "status_by_time"]
    assert rental.status == Rental.Status.OVERDUE


def test_the_bulk_moves_and_the_batch_job(frozen_clock, customer, vehicle, other_location):
    from vehicles.tests.factories import VehicleFactory

    rentals = []
    for _ in range(3):
        car = VehicleFactory(location=vehicle.location)
        rentals.append(book(customer, car))
        pay(rentals[-1])
    unpaid = book(customer, vehicle)
    frozen_clock.move_to(START + timedelta(minutes=1), tick=False)
    counts = advance_statuses()
    assert counts["to_ongoing"] == 3 and counts["lapsed"] == 1
    frozen_clock.move_to(END + timedelta(hours=1), tick=False)
    ops.update_historical_orders()

    for rental in rentals:
        assert assert_audited(rental) == ["created", "status_by_time", "status_by_time"]
        assert rental.status == Rental.Status.OVERDUE
    assert assert_audited(unpaid) == ["created", "lapsed"]


def test_a_move_the_table_does_not_allow_is_refused_and_leaves_nothing(frozen_clock, customer, vehicle):
    rental = book(customer, vehicle)
    with pytest.raises(InvalidTransition):
        transition_rental(rental=rental, to=Rental.Status.COMPLETED)
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING
    assert assert_audited(rental) == ["created"]


def test_transition_rental_saves_the_fields_and_the_note(frozen_clock, customer, vehicle, staff_user):
    rental = book(customer, vehicle)
    event = transition_rental(
        rental=rental, to=Rental.Status.CANCELLED, by_user=staff_user, note="by phone", cancel_reason="asked"
    )
    rental.refresh_from_db()
    assert (rental.status, rental.cancel_reason) == (Rental.Status.CANCELLED, "asked")
    assert (event.actor, event.payload) == (staff_user, {"note": "by phone"})
