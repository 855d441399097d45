"""Status moves by time (SPEC §5): status_by_time, auto_update_status,
advance_statuses (bulk) and the cache-throttled refresh_statuses_if_due."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import rentals.services
from accounts.models import Notification
from customers.tests.factories import WalkInCustomerFactory
from rentals.models import Rental, RentalEvent
from rentals.services import (
    STATUS_REFRESH_CACHE_KEY,
    advance_statuses,
    cancel_rental,
    create_rental,
    refresh_statuses_if_due,
)
from rentals.tests.factories import RentalFactory, paid
from vehicles.models import Vehicle
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
START = NOW + timedelta(days=1)
END = START + timedelta(days=3)


@pytest.fixture(autouse=True)
def _frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)


def _book(customer, vehicle, start=START, end=END, pay=True) -> Rental:
    rental = create_rental(
        customer=customer, vehicle=vehicle, start_time=start, end_time=end, pickup_location=vehicle.location
    )
    return paid(rental) if pay else rental


def _status(rental) -> str:
    return Rental.objects.values_list("status", flat=True).get(pk=rental.pk)


def _car_status(vehicle) -> str:
    return Vehicle.objects.values_list("status", flat=True).get(pk=vehicle.pk)


# --- status_by_time (pure) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "at", "expected"),
    [
        ("PENDING", START - timedelta(seconds=1), "PENDING"),
        ("PENDING", START, "ONGOING"),
        ("PENDING", END, "ONGOING"),
        ("PENDING", END + timedelta(seconds=1), "OVERDUE"),
        ("ONGOING", START - timedelta(hours=1), "ONGOING"),  # picked up early
        ("ONGOING", END, "ONGOING"),
        ("ONGOING", END + timedelta(seconds=1), "OVERDUE"),
        ("OVERDUE", END + timedelta(days=9), "OVERDUE"),
        ("COMPLETED", END + timedelta(days=9), "COMPLETED"),
        ("CANCELLED", END + timedelta(days=9), "CANCELLED"),
    ],
)
def test_status_by_time(status, at, expected):
    rental = Rental(status=status, start_time=START, end_time=END, amount_paid=Decimal("100.00"))
    assert rental.status_by_time(at) == expected


@pytest.mark.parametrize(
    ("created", "at", "expected"),
    [
        # held BOOKING_PAYMENT_MINUTES (30) after booking ...
        (NOW, NOW + timedelta(minutes=29, seconds=59), "PENDING"),
        (NOW, NOW + timedelta(minutes=30), "CANCELLED"),
        # ... and never past the start
        (START - timedelta(minutes=10), START - timedelta(seconds=1), "PENDING"),
        (START - timedelta(minutes=10), START, "CANCELLED"),
        (NOW, END + timedelta(days=1), "CANCELLED"),
    ],
)
def test_an_unpaid_booking_lapses_instead_of_moving_by_time(created, at, expected):
    rental = Rental(status="PENDING", start_time=START, end_time=END, created_at=created)
    assert rental.status_by_time(at) == expected


# --- auto_update_status ------------------------------------------------------------------


def test_pending_becomes_ongoing_at_start_and_the_car_rented(customer, vehicle, time_machine):
    rental = _book(customer, vehicle)
    assert rental.auto_update_status() is False
    assert _status(rental) == "PENDING"

    time_machine.move_to(START, tick=False)
    assert rental.auto_update_status() is True

    assert rental.status == "ONGOING"
    assert _status(rental) == "ONGOING"
    assert _car_status(vehicle) == Vehicle.Status.RENTED
    event = RentalEvent.objects.get(rental=rental, event="status_by_time")
    assert (event.from_status, event.to_status) == ("PENDING", "ONGOING")
    assert rental.auto_update_status() is False
    assert RentalEvent.objects.filter(rental=rental, event="status_by_time").count() == 1


def test_ongoing_becomes_overdue_after_end_and_the_customer_is_told(customer, vehicle, time_machine):
    rental = _book(customer, vehicle)
    time_machine.move_to(START, tick=False)
    rental.auto_update_status()

    time_machine.move_to(END, tick=False)
    assert rental.auto_update_status() is False
    time_machine.move_to(END + timedelta(minutes=1), tick=False)
    assert rental.auto_update_status() is True

    assert _status(rental) == "OVERDUE"
    note = Notification.objects.get(notification_type=Notification.Type.RENTAL_OVERDUE)
    assert (note.user, note.rental) == (customer.user, rental)


def test_pending_past_its_end_is_overdue_after_one_refresh(customer, vehicle, time_machine):
    rental = _book(customer, vehicle)
    time_machine.move_to(END + timedelta(hours=1), tick=False)

    assert rental.auto_update_status(now=END + timedelta(hours=1)) is True

    assert _status(rental) == "OVERDUE"
    assert _car_status(vehicle) == Vehicle.Status.RENTED


def test_an_explicit_now_is_used(customer, vehicle):
    rental = _book(customer, vehicle)
    assert rental.auto_update_status(now=START + timedelta(hours=1)) is True
    assert _status(rental) == "ONGOING"


def test_a_stale_instance_does_not_move_a_closed_rental(customer, vehicle, time_machine):
    rental = _book(customer, vehicle)
    stale = Rental.objects.get(pk=rental.pk)
    cancel_rental(rental=rental, reason="x", by_user=customer.user)
    time_machine.move_to(START, tick=False)

    assert stale.auto_update_status() is False

    assert stale.status == "CANCELLED"
    assert _status(rental) == "CANCELLED"
    assert _car_status(vehicle) == Vehicle.Status.AVAILABLE


def test_a_car_in_maintenance_is_not_marked_rented(customer, vehicle, time_machine):
    rental = _book(customer, vehicle)
    Vehicle.objects.filter(pk=vehicle.pk).update(status=Vehicle.Status.MAINTENANCE)
    time_machine.move_to(START, tick=False)

    rental.auto_update_status()

    assert _car_status(vehicle) == Vehicle.Status.MAINTENANCE


# --- advance_statuses (bulk) ----------------------------------------------------------------


@pytest.fixture
def fleet(location):
    """Rentals in every situation the bulk refresh meets, at NOW + 2 days."""

    def rental(start, end, status="PENDING", walk_in=False):
        kwargs = {"customer": WalkInCustomerFactory()} if walk_in else {}
        return paid(
            RentalFactory(
                vehicle=VehicleFactory(location=location), start_time=start, end_time=end, status=status, **kwargs
            )
        )

    at = NOW + timedelta(days=2)
    return at, {
        "future": rental(at + timedelta(hours=1), at + timedelta(days=1)),
        "starting": rental(at - timedelta(hours=1), at + timedelta(days=1)),
        "starting_now": rental(at, at + timedelta(days=1)),
        "pending_past_end": rental(at - timedelta(days=1), at - timedelta(hours=1)),
        "ongoing_past_end": rental(at - timedelta(days=1), at - timedelta(minutes=1), status="ONGOING"),
        "walk_in_past_end": rental(at - timedelta(days=1), at - timedelta(minutes=1), status="ONGOING", walk_in=True),
        "ongoing": rental(at - timedelta(days=1), at + timedelta(days=1), status="ONGOING"),
        "completed": rental(at - timedelta(days=1), at - timedelta(hours=1), status="COMPLETED"),
        "cancelled": rental(at - timedelta(days=1), at - timedelta(hours=1), status="CANCELLED"),
    }


EXPECTED = {
    "future": "PENDING",
    "starting": "ONGOING",
    "starting_now": "ONGOING",
    "pending_past_end": "OVERDUE",
    "ongoing_past_end": "OVERDUE",
    "walk_in_past_end": "OVERDUE",
    "ongoing": "ONGOING",
    "completed": "COMPLETED",
    "cancelled": "CANCELLED",
}


@pytest.mark.parametrize("batch_size", [1000, 2])
def test_advance_statuses_moves_the_whole_table(fleet, time_machine, batch_size):
    at, rentals_by_name = fleet
    time_machine.move_to(at, tick=False)

    counts = advance_statuses(batch_size=batch_size)

    assert counts == {"lapsed": 0, "to_ongoing": 2, "to_overdue": 3}
    assert {name: _status(r) for name, r in rentals_by_name.items()} == EXPECTED
    for name in ("starting", "starting_now", "pending_past_end"):
        assert _car_status(rentals_by_name[name].vehicle) == Vehicle.Status.RENTED
    assert _car_status(rentals_by_name["future"].vehicle) == Vehicle.Status.AVAILABLE
    moved = RentalEvent.objects.filter(event="status_by_time")
    assert moved.count() == 5
    assert set(moved.values_list("rental_id", "from_status", "to_status")) == {
        (rentals_by_name["starting"].pk, "PENDING", "ONGOING"),
        (rentals_by_name["starting_now"].pk, "PENDING", "ONGOING"),
        (rentals_by_name["pending_past_end"].pk, "PENDING", "OVERDUE"),
        (rentals_by_name["ongoing_past_end"].pk, "ONGOING", "OVERDUE"),
        (rentals_by_name["walk_in_past_end"].pk, "ONGOING", "OVERDUE"),
    }
    # walk-ins have no login, so no notification
    assert set(
        Notification.objects.filter(notification_type=Notification.Type.RENTAL_OVERDUE).values_list(
            "rental_id", flat=True
        )
    ) == {rentals_by_name["pending_past_end"].pk, rentals_by_name["ongoing_past_end"].pk}

    # a second run changes nothing
    assert advance_statuses(batch_size=batch_size) == {"lapsed": 0, "to_ongoing": 0, "to_overdue": 0}
    assert RentalEvent.objects.filter(event="status_by_time").count() == 5


def test_advance_statuses_dry_run_writes_nothing(fleet, time_machine):
    at, rentals_by_name = fleet
    time_machine.move_to(at, tick=False)

    assert advance_statuses(dry_run=True) == {"lapsed": 0, "to_ongoing": 2, "to_overdue": 3}

    assert all(_status(r) == r.status for r in rentals_by_name.values())
    assert not RentalEvent.objects.exists()
    assert not Notification.objects.exists()


def test_advance_statuses_for_some_rentals_only(fleet, time_machine):
    at, rentals_by_name = fleet
    time_machine.move_to(at, tick=False)

    counts = advance_statuses(rental_ids=[rentals_by_name["starting"].pk, rentals_by_name["future"].pk])

    assert counts == {"lapsed": 0, "to_ongoing": 1, "to_overdue": 0}
    assert _status(rentals_by_name["starting"]) == "ONGOING"
    assert _status(rentals_by_name["pending_past_end"]) == "PENDING"


def test_advance_statuses_query_count_does_not_grow_with_the_table(
    fleet, location, time_machine, django_assert_max_num_queries
):
    at, _ = fleet
    for _ in range(20):
        paid(
            RentalFactory(
                vehicle=VehicleFactory(location=location),
                start_time=at - timedelta(days=2),
                end_time=at - timedelta(days=1),
            )
        )
    time_machine.move_to(at, tick=False)

    # lapsed unpaid bookings: candidates (none here); per move (overdue, then
    # ongoing): SAVEPOINT, candidates, lock cars, lock rentals, UPDATE rentals,
    # UPDATE cars, INSERT events, [INSERT notifications], RELEASE; then
    # SAVEPOINT, empty candidates, RELEASE. 1 + 9 + 3 + 8 + 3 = 24, whatever the
    # number of rentals.
    with django_assert_max_num_queries(24):
        counts = advance_statuses()

    assert counts == {"lapsed": 0, "to_ongoing": 2, "to_overdue": 23}


# --- refresh_statuses_if_due (throttled) ---------------------------------------------------


def test_refresh_runs_at_most_once_per_five_minutes(customer, vehicle, location, time_machine, settings):
    assert settings.RENTAL_STATUS_REFRESH_SECONDS == 300
    first = _book(customer, vehicle)
    second = _book(customer, VehicleFactory(location=location), start=START + timedelta(minutes=2))
    time_machine.move_to(START, tick=False)

    assert refresh_statuses_if_due() == {"lapsed": 0, "to_ongoing": 1, "to_overdue": 0}
    assert _status(first) == "ONGOING"

    # within the window nothing runs, even though the second rental is due now
    time_machine.move_to(START + timedelta(minutes=4, seconds=59), tick=False)
    assert refresh_statuses_if_due() is None
    assert _status(second) == "PENDING"

    time_machine.move_to(START + timedelta(minutes=5, seconds=1), tick=False)
    assert refresh_statuses_if_due() == {"lapsed": 0, "to_ongoing": 1, "to_overdue": 0}
    assert _status(second) == "ONGOING"
    assert refresh_statuses_if_due() is None


def test_the_throttle_is_shared_through_the_cache(customer, vehicle, time_machine):
    from django.core.cache import cache

    rental = _book(customer, vehicle)
    time_machine.move_to(START, tick=False)
    cache.add(STATUS_REFRESH_CACHE_KEY, "another worker", 300)

    assert refresh_statuses_if_due() is None
    assert _status(rental) == "PENDING"


def test_a_failed_refresh_lets_the_next_view_try_again(customer, vehicle, time_machine, monkeypatch):
    rental = _book(customer, vehicle)
    time_machine.move_to(START, tick=False)
    real = rentals.services.statuses.advance_statuses

    def broken(**kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(rentals.services.statuses, "advance_statuses", broken)
    assert refresh_statuses_if_due() is None
    assert _status(rental) == "PENDING"

    monkeypatch.setattr(rentals.services.statuses, "advance_statuses", real)
    assert refresh_statuses_if_due() == {"lapsed": 0, "to_ongoing": 1, "to_overdue": 0}
    assert _status(rental) == "ONGOING"
