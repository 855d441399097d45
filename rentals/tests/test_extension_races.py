"""An extension racing a new booking of the same car for the extended period
(SPEC §19), on PostgreSQL row locks: exactly one wins and the loser changes
nothing. Both take the car's row lock (customer → vehicle → rental), so the
second one sees the first one's rental and is refused by the overlap rule."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Notification
from customers.tests.factories import CustomerFactory
from rentals.exceptions import BookingConflict
from rentals.models import Rental
from rentals.services import create_rental, extend_rental
from rentals.tests.test_races import _paid_rental, _split, _start, run_at_once


def _shown(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("round_", range(4))
def test_an_extension_and_a_booking_of_the_extended_period_exactly_one_wins(customer, vehicle, round_):
    start = _start()
    rental = _paid_rental(customer, vehicle, start=start)
    end = rental.end_time
    rival = CustomerFactory()

    def extend():
        return extend_rental(rental=rental, new_end_time=end + timedelta(days=2), by_user=customer.user)

    def book():
        return create_rental(
            customer=rival,
            vehicle=vehicle,
            start_time=end + timedelta(days=1),
            end_time=end + timedelta(days=3),
            pickup_location=vehicle.location,
        )

    calls = [extend, book] if round_ % 2 == 0 else [book, extend]
    oks, errors = _split(run_at_once(calls))

    assert len(oks) == 1 and len(errors) == 1, errors
    assert isinstance(errors[0], BookingConflict)
    rental.refresh_from_db()
    booked = Rental.objects.filter(customer=rival)
    if isinstance(oks[0], Rental) and oks[0].pk == rental.pk:
        # The extension won: no booking was written for the rival.
        assert not booked.exists()
        assert rental.end_time == end + timedelta(days=2)
        assert rental.total_amount == Decimal("1500.00")
        assert rental.events.filter(event="extended").count() == 1
        # The booking saw the extended end.
        assert errors[0].messages[0].startswith("This car is already booked from")
        assert _shown(end + timedelta(days=2)) in errors[0].messages[0]
    else:
        # The booking won: the order is as it was, nothing recorded, nobody told.
        assert booked.count() == 1
        assert (rental.end_time, rental.total_amount, rental.outstanding_amount) == (
            end,
            Decimal("900.00"),
            Decimal("0.00"),
        )
        assert not rental.events.filter(event="extended").exists()
        assert not Notification.objects.filter(rental=rental, notification_type="ORDER_EXTENDED").exists()
        assert f"free again from {_shown(end + timedelta(days=3))}" in errors[0].messages[0]
