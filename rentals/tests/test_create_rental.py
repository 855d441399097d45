"""rentals.services.create_rental: SPEC §5 booking rules and §8 error messages."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from rentals.exceptions import BookingConflict, RentalError
from rentals.models import Rental, RentalEvent
from rentals.services import create_rental
from rentals.tests.factories import RentalFactory
from vehicles.models import Vehicle
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)
START = NOW + timedelta(days=5)
END = START + timedelta(days=3)


@pytest.fixture(autouse=True)
def _frozen_clock_in_english(time_machine):
    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield


def _book(customer, vehicle, start=START, end=END, **kwargs):
    kwargs.setdefault("pickup_location", vehicle.location)
    kwargs.setdefault("return_location", vehicle.location)
    return create_rental(customer=customer, vehicle=vehicle, start_time=start, end_time=end, **kwargs)


def _existing(vehicle, start=START, end=END, status=Rental.Status.PENDING):
    return RentalFactory(vehicle=vehicle, start_time=start, end_time=end, status=status)


# --- success ----------------------------------------------------------------------


def test_books_a_pending_rental_priced_by_the_rules(customer, vehicle, other_location):
    rental = _book(customer, vehicle, return_location=other_location)

    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING
    assert rental.customer == customer
    assert rental.vehicle == vehicle
    assert rental.pickup_location == vehicle.location
    assert rental.return_location == other_location
    assert (rental.start_time, rental.end_time) == (START, END)
    assert rental.total_amount == Decimal("900.00")
    assert rental.deposit == Decimal("2000.00")
    assert rental.cross_location_fee == Decimal("200.00")
    assert rental.amount_paid == Decimal("0.00")
    assert rental.settlement_status == Rental.SettlementStatus.UNSETTLED
    event = RentalEvent.objects.get(rental=rental)
    assert (event.event, event.to_status, event.actor) == ("created", "PENDING", customer.user)
    assert event.payload == {"order_total": "3100.00"}
    vehicle.refresh_from_db()
    assert vehicle.status == Vehicle.Status.AVAILABLE  # the car is only RENTED once on the road


def test_return_store_defaults_to_the_pickup_store(customer, vehicle):
    rental = create_rental(
        customer=customer, vehicle=vehicle, start_time=START, end_time=END, pickup_location=vehicle.location
    )
    assert rental.return_location == vehicle.location
    assert rental.cross_location_fee == Decimal("0.00")


def test_walk_in_customer_can_book(walk_in_customer, vehicle):
    rental = _book(walk_in_customer, vehicle)
    assert rental.customer.user is None
    assert RentalEvent.objects.get(rental=rental).actor is None


def test_a_rented_car_can_be_booked_for_a_later_period(customer, vehicle):
    vehicle.status = Vehicle.Status.RENTED
    vehicle.save()
    assert _book(customer, vehicle).pk is not None


def test_booking_query_budget(customer, vehicle, django_assert_max_num_queries):
    # SAVEPOINT, SELECT customer FOR UPDATE, COUNT unpaid bookings, SELECT
    # vehicle FOR UPDATE, SELECT overlapping rental, SELECT the cancellation
    # policy in force, INSERT rental, INSERT rental event, RELEASE SAVEPOINT
    with django_assert_max_num_queries(9):
        _book(customer, vehicle)


# --- times ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "code", "message"),
    [
        (NOW - timedelta(hours=1), END, "start_in_past", "The pick-up time must be in the future."),
        (NOW, END, "start_in_past", "The pick-up time must be in the future."),
        (START, START, "end_before_start", "The return time must be after the pick-up time."),
        (START, START - timedelta(hours=2), "end_before_start", "The return time must be after the pick-up time."),
        (None, END, "times_required", "Please choose a pick-up and a return time."),
        (START, None, "times_required", "Please choose a pick-up and a return time."),
        (START, START + timedelta(days=91), "too_long", "A booking can last at most 90 days."),
        (
            START.replace(tzinfo=None),
            END.replace(tzinfo=None),
            "naive_time",
            "Times must carry a time zone.",
        ),
    ],
)
def test_bad_times_are_refused_with_a_readable_message(customer, vehicle, start, end, code, message):
    with pytest.raises(RentalError) as excinfo:
        _book(customer, vehicle, start=start, end=end)

    assert isinstance(excinfo.value, ValidationError)
    assert excinfo.value.code == code
    assert excinfo.value.messages == [message]
    assert not Rental.objects.exists()
    assert not RentalEvent.objects.exists()


def test_ninety_days_is_allowed(customer, vehicle):
    rental = _book(customer, vehicle, end=START + timedelta(days=90))
    assert rental.total_amount == Decimal("27000.00")


# --- the car and the store --------------------------------------------------------


@pytest.mark.parametrize("status", [Vehicle.Status.MAINTENANCE, Vehicle.Status.RETIRED])
def test_a_car_in_maintenance_or_retired_is_refused(customer, vehicle, status):
    vehicle.status = status
    vehicle.save()

    with pytest.raises(RentalError) as excinfo:
        _book(customer, vehicle)

    assert excinfo.value.code == "vehicle_unavailable"
    label = Vehicle.Status(status).label
    assert excinfo.value.messages == [f"{vehicle} can't be booked right now ({label})."]
    assert not Rental.objects.exists()


def test_the_car_is_read_under_lock_not_from_the_callers_copy(customer, vehicle):
    # the caller's instance is stale: the car went to maintenance meanwhile
    Vehicle.objects.filter(pk=vehicle.pk).update(status=Vehicle.Status.MAINTENANCE)

    with pytest.raises(RentalError, match="can't be booked"):
        _book(customer, vehicle)


def test_wrong_pickup_store_is_refused(customer, vehicle, other_location):
    with pytest.raises(RentalError) as excinfo:
        _book(customer, vehicle, pickup_location=other_location)

    assert excinfo.value.code == "wrong_pickup_location"
    assert excinfo.value.messages == [f"This car is picked up at {vehicle.location}."]
    assert not Rental.objects.exists()


# --- overlaps ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START, END),  # the same period
        (START - timedelta(days=1), START + timedelta(hours=1)),  # overlaps the start
        (END - timedelta(hours=1), END + timedelta(days=2)),  # overlaps the end
        (START + timedelta(hours=5), START + timedelta(days=1)),  # inside
        (START - timedelta(hours=5), END + timedelta(hours=5)),  # around
    ],
)
def test_overlapping_booking_is_refused_with_a_readable_message(customer, vehicle, start, end):
    _existing(vehicle)

    with pytest.raises(BookingConflict) as excinfo:
        _book(customer, vehicle, start=start, end=end)

    assert isinstance(excinfo.value, ValidationError)
    assert excinfo.value.code == "overlap"
    assert excinfo.value.messages == [
        "This car is already booked from 2026-03-06 09:00 to 2026-03-09 09:00. Please choose other times."
    ]
    assert Rental.objects.count() == 1


@pytest.mark.parametrize("status", [Rental.Status.PENDING, Rental.Status.ONGOING, Rental.Status.OVERDUE])
def test_every_active_status_blocks_the_car(customer, vehicle, status):
    _existing(vehicle, status=status)
    with pytest.raises(BookingConflict):
        _book(customer, vehicle)


@pytest.mark.parametrize("status", [Rental.Status.COMPLETED, Rental.Status.CANCELLED])
def test_closed_rentals_do_not_block_the_car(customer, vehicle, status):
    _existing(vehicle, status=status)
    assert _book(customer, vehicle).pk is not None


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (END, END + timedelta(days=2)),  # starts when the other ends
        (START - timedelta(days=2), START),  # ends when the other starts
    ],
)
def test_adjacent_bookings_are_allowed(customer, vehicle, start, end):
    _existing(vehicle)
    rental = _book(customer, vehicle, start=start, end=end)
    assert Rental.objects.filter(vehicle=vehicle, status=Rental.Status.PENDING).count() == 2
    assert rental.start_time == start


def test_another_car_is_free_for_the_same_period(customer, vehicle):
    _existing(vehicle)
    other_car = VehicleFactory(location=vehicle.location)
    assert _book(customer, other_car).vehicle == other_car


def test_the_conflict_names_the_earliest_clash(customer, vehicle):
    _existing(vehicle, start=START + timedelta(days=2), end=START + timedelta(days=3))
    _existing(vehicle, start=START, end=START + timedelta(days=1))

    with pytest.raises(BookingConflict) as excinfo:
        _book(customer, vehicle)

    assert "from 2026-03-06 09:00 to 2026-03-07 09:00" in excinfo.value.messages[0]
