"""rentals.selectors.check_period: is a car free, and if not, when next."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rentals.models import Rental
from rentals.selectors import check_period
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=SHANGHAI)


def at(day: int, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=SHANGHAI)


def book(vehicle, start, end, status=Rental.Status.PENDING):
    return RentalFactory(vehicle=vehicle, start_time=start, end_time=end, status=status)


def test_a_free_period_is_free_and_is_its_own_next_free_period(vehicle):
    book(vehicle, at(5), at(8))
    check = check_period(vehicle_id=vehicle.pk, start_time=at(8), end_time=at(10), now=NOW)
    assert check.is_free
    assert (check.taken_from, check.taken_until) == (None, None)
    assert (check.next_start, check.next_end) == (at(8), at(10))


def test_taken_dates_name_the_rental_in_the_way_and_the_next_free_period_of_the_same_length(vehicle):
    # given: the car is booked 5th–8th March
    book(vehicle, at(5), at(8))
    # when: asked for 6th 10:00 to 9th 10:00 (three days)
    check = check_period(vehicle_id=vehicle.pk, start_time=at(6), end_time=at(9), now=NOW)
    # then
    assert not check.is_free
    assert (check.taken_from, check.taken_until) == (at(5), at(8))
    assert (check.next_start, check.next_end) == (at(8), at(11))


def test_the_next_free_period_skips_gaps_that_are_too_short(vehicle):
    # booked 5th–8th and 9th–12th: the one-day gap can't hold two days
    book(vehicle, at(5), at(8))
    book(vehicle, at(9), at(12), status=Rental.Status.PENDING)
    check = check_period(vehicle_id=vehicle.pk, start_time=at(6), end_time=at(8), now=NOW)
    assert (check.taken_from, check.taken_until) == (at(5), at(8))
    assert (check.next_start, check.next_end) == (at(12), at(14))


def test_a_gap_that_is_exactly_long_enough_is_offered(vehicle):
    book(vehicle, at(5), at(8))
    book(vehicle, at(10), at(12))
    check = check_period(vehicle_id=vehicle.pk, start_time=at(7), end_time=at(9), now=NOW)
    assert (check.next_start, check.next_end) == (at(8), at(10))


def test_only_pending_ongoing_and_overdue_rentals_take_the_car(vehicle, other_location):
    book(vehicle, at(5), at(8), status=Rental.Status.CANCELLED)
    book(vehicle, at(5), at(8), status=Rental.Status.COMPLETED)
    RentalFactory(start_time=at(5), end_time=at(8))  # another car
    assert check_period(vehicle_id=vehicle.pk, start_time=at(6), end_time=at(7), now=NOW).is_free
    book(vehicle, at(1, 8), at(6), status=Rental.Status.ONGOING)
    check = check_period(vehicle_id=vehicle.pk, start_time=at(5), end_time=at(7), now=NOW)
    assert (check.taken_from, check.taken_until) == (at(1, 8), at(6))
    assert (check.next_start, check.next_end) == (at(6), at(8))


def test_an_overdue_rental_holds_the_car_for_the_hold_then_frees_it(vehicle):
    # due back on 1st March at 08:00, still out at 20th March 15:00: it holds
    # the car until now + OVERDUE_HOLD_HOURS (24), 21st March 15:00 (SPEC §17),
    # the rule of rentals.services.overlapping_rentals
    book(vehicle, at(1, 8) - timedelta(days=3), at(1, 8), status=Rental.Status.OVERDUE)
    now = at(20, 15)
    assert check_period(vehicle_id=vehicle.pk, start_time=at(25, 14), end_time=at(26, 14), now=now).is_free
    check = check_period(vehicle_id=vehicle.pk, start_time=at(21, 9), end_time=at(22, 9), now=now)
    assert not check.is_free and check.taken_by_overdue
    assert (check.taken_from, check.taken_until) == (at(1, 8) - timedelta(days=3), at(21, 15))
    assert (check.next_start, check.next_end) == (at(21, 15), at(22, 15))


def test_the_offer_starts_on_a_whole_minute(vehicle):
    # a booking ending at 10:00:30 frees the car for a form that takes minutes at 10:01
    book(vehicle, at(5), at(8, 10, 0, 30))
    check = check_period(vehicle_id=vehicle.pk, start_time=at(7), end_time=at(9), now=NOW)
    assert (check.next_start, check.next_end) == (at(8, 10, 1), at(10, 10, 1))


def test_check_period_is_one_query(vehicle, django_assert_max_num_queries):
    for day in (3, 6, 9, 12):
        book(vehicle, at(day), at(day + 2))
    # the car's PENDING/ONGOING/OVERDUE rentals that end after the start
    with django_assert_max_num_queries(1):
        check = check_period(vehicle_id=vehicle.pk, start_time=at(4), end_time=at(6, 12), now=NOW)
    # 50 hours fit only after the last booking (the gaps are a day long)
    assert (check.next_start, check.next_end) == (at(14), at(16, 12))
