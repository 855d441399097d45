"""An OVERDUE rental holds its car for a day, not for ever (SPEC §17 Cars on the road, bounded).

For the overlap check a rental still active past its end (OVERDUE, or not
refreshed yet) ends at max(end_time, now + OVERDUE_HOLD_HOURS): the booking,
the price preview and the car search all keep the car free for its late
driver for that long and let it be booked after.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from rentals.exceptions import BookingConflict
from rentals.models import Rental
from rentals.selectors import check_period
from rentals.services import advance_statuses, pickup_rental
from rentals.tests.clock import END, NOW
from rentals.tests.factories import book, pay
from rentals.tests.test_booking_pages import booking_data
from vehicles.selectors import search_vehicles

pytestmark = pytest.mark.django_db


@pytest.fixture
def overdue(time_machine, vehicle, customer, staff_user):
    """Handed over, paid, and 5 days past its end: OVERDUE (English messages)."""
    from django.utils import translation

    translation.activate("en")
    time_machine.move_to(NOW, tick=False)
    rental = book(customer, vehicle)
    pay(rental)
    time_machine.move_to(rental.start_time, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    time_machine.move_to(END + timedelta(days=5), tick=False)
    advance_statuses()
    rental.refresh_from_db()
    assert rental.status == Rental.Status.OVERDUE
    yield rental
    translation.deactivate()


def test_a_booking_a_month_after_the_old_end_is_accepted(overdue, vehicle):
    start = END + timedelta(days=30)

    later = book(CustomerFactory(), vehicle, start=start, end=start + timedelta(days=2))

    assert later.status == Rental.Status.PENDING
    assert Rental.objects.filter(vehicle=vehicle).count() == 2


def test_a_booking_inside_the_hold_is_refused_naming_its_end(overdue, vehicle):
    start = timezone.now() + timedelta(hours=20)
    hold_end = timezone.localtime(timezone.now() + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M")

    with pytest.raises(BookingConflict) as caught:
        book(CustomerFactory(), vehicle, start=start, end=start + timedelta(days=1))

    assert caught.value.messages == [
        f"This car is still out on an overdue rental and is kept for its driver until {hold_end}."
    ]
    assert Rental.objects.filter(vehicle=vehicle).count() == 1


def test_the_hold_ends_after_overdue_hold_hours_read_when_used(overdue, vehicle, settings):
    start = timezone.now() + timedelta(hours=24)
    settings.OVERDUE_HOLD_HOURS = 48
    with pytest.raises(BookingConflict):
        book(CustomerFactory(), vehicle, start=start, end=start + timedelta(days=1))

    settings.OVERDUE_HOLD_HOURS = 24
    later = book(CustomerFactory(), vehicle, start=start, end=start + timedelta(days=1))
    assert later.start_time == start


def test_a_rental_past_its_end_not_yet_refreshed_holds_the_car_the_same_way(
    time_machine, vehicle, customer, staff_user
):
    time_machine.move_to(NOW, tick=False)
    rental = book(customer, vehicle)
    pay(rental)
    time_machine.move_to(rental.start_time, tick=False)
    pickup_rental(rental=rental, by_user=staff_user)
    time_machine.move_to(END + timedelta(days=3), tick=False)  # still ONGOING in the table
    soon = timezone.now() + timedelta(hours=2)
    later = timezone.now() + timedelta(days=2)

    with pytest.raises(BookingConflict):
        book(CustomerFactory(), vehicle, start=soon, end=soon + timedelta(days=1))
    assert book(CustomerFactory(), vehicle, start=later, end=later + timedelta(days=1)).pk


def test_the_preview_offers_the_end_of_the_hold_and_the_search_agrees(client, overdue, vehicle):
    now = timezone.now()
    inside, after = now + timedelta(hours=2), END + timedelta(days=30)

    answer = client.get(
        reverse("rentals:quote", args=[vehicle.pk]),
        booking_data(vehicle, inside, inside + timedelta(days=1)),
        HTTP_ACCEPT_LANGUAGE="en",
    ).json()

    assert answer["ok"] is True and answer["available"] is False
    assert "kept for its driver until" in answer["taken"]["message"]
    check = check_period(vehicle_id=vehicle.pk, start_time=inside, end_time=inside + timedelta(days=1))
    assert check.next_start == now + timedelta(hours=24)
    assert answer["taken"]["next_free"] is not None
    assert vehicle not in search_vehicles(start_time=inside, end_time=inside + timedelta(days=1))
    assert vehicle in search_vehicles(start_time=after, end_time=after + timedelta(days=1))
    assert client.get(
        reverse("rentals:quote", args=[vehicle.pk]), booking_data(vehicle, after, after + timedelta(days=1))
    ).json()["available"]
