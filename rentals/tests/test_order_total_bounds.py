"""Booking totals are bounded (SPEC §17 Hostile users).

A car's daily rate is at most MAX_DAILY_RATE (the model's validation and the
admin refuse more); the quote and the booking refuse an order total over
MAX_ORDER_TOTAL with a readable message, never a database error or a booking
that can't be returned later.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from rentals.exceptions import RentalError
from rentals.models import Rental
from rentals.services import create_rental
from rentals.tests.clock import START
from rentals.tests.test_booking_pages import booking_data
from vehicles.models import Vehicle
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

TOO_MUCH = "but an order can total at most ¥1,000,000.00"


@pytest.fixture
def luxury(location):
    """¥20,000 a day, ¥3,000 deposit: 90 days come to ¥1,803,000."""
    return VehicleFactory(location=location, daily_rate=Decimal("20000.00"), deposit_amount=Decimal("3000.00"))


@pytest.fixture
def absurd(location):
    """A rate written into the table before the bound (the admin refuses it now)."""
    return VehicleFactory(location=location, daily_rate=Decimal("6000000000.00"), deposit_amount=Decimal("0.00"))


def _book(customer, vehicle, days):
    return create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=START,
        end_time=START + timedelta(days=days),
        pickup_location=vehicle.location,
    )


# --- the car's rate -----------------------------------------------------------------


@pytest.mark.parametrize("rate", ["6000000000.00", "100000.01"])
def test_the_model_refuses_a_daily_rate_above_the_ceiling(location, rate):
    car = VehicleFactory.build(location=location, daily_rate=Decimal(rate))
    with pytest.raises(ValidationError) as caught:
        car.full_clean()
    assert "daily_rate" in caught.value.message_dict
    assert "¥100,000.00" in caught.value.message_dict["daily_rate"][0]


def test_the_model_accepts_the_ceiling_and_reads_the_setting_when_used(location, settings):
    car = VehicleFactory.build(location=location, daily_rate=Decimal("100000.00"))
    car.full_clean()
    settings.MAX_DAILY_RATE = Decimal("5000.00")
    with pytest.raises(ValidationError, match="5,000.00"):
        car.full_clean()


def test_the_admin_refuses_a_daily_rate_of_six_billion(staff_client, location):
    data = {
        "plate_number": "沪A99999",
        "brand": "Rolls",
        "model": "Phantom",
        "year": "2024",
        "seats": "4",
        "daily_rate": "6000000000.00",
        "deposit_amount": "0.00",
        "location": location.pk,
        "status": Vehicle.Status.AVAILABLE,
        "description": "",
    }
    url = reverse("admin:vehicles_vehicle_add")

    response = staff_client.post(url, data, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "The daily rate can't be more than ¥100,000.00." in response.context["adminform"].form.errors["daily_rate"]
    assert not Vehicle.objects.filter(plate_number="沪A99999").exists()
    data["daily_rate"] = "100000.00"
    assert staff_client.post(url, data).status_code == 302
    assert Vehicle.objects.get(plate_number="沪A99999").daily_rate == Decimal("100000.00")


# --- the booking ------------------------------------------------------------------------


def test_ninety_days_at_twenty_thousand_a_day_are_refused_with_the_total(frozen_clock, customer, luxury):
    with pytest.raises(RentalError) as caught:
        _book(customer, luxury, 90)
    assert caught.value.code == "order_total_too_large"
    assert "¥1,803,000.00" in caught.value.messages[0] and TOO_MUCH in caught.value.messages[0]
    assert not Rental.objects.exists()


def test_a_booking_up_to_the_ceiling_is_taken(frozen_clock, customer, luxury):
    # 49 days × 20,000 + 3,000 deposit = 983,000
    rental = _book(customer, luxury, 49)
    assert rental.order_total == Decimal("983000.00")


def test_two_days_at_six_billion_are_refused_not_a_database_error(frozen_clock, customer, absurd):
    with pytest.raises(RentalError) as caught:
        _book(customer, absurd, 2)
    assert caught.value.code == "order_total_too_large"
    assert "¥12,000,000,000.00" in caught.value.messages[0]
    assert not Rental.objects.exists()


@pytest.mark.parametrize(("car", "days"), [("luxury", 90), ("absurd", 2)])
def test_the_quote_says_so_before_the_booking_does(client, customer, frozen_clock, request, car, days):
    vehicle = request.getfixturevalue(car)
    data = booking_data(vehicle, START, START + timedelta(days=days))

    answer = client.get(reverse("rentals:quote", args=[vehicle.pk]), data, HTTP_ACCEPT_LANGUAGE="en")

    assert answer.status_code == 400
    assert answer.json()["ok"] is False
    assert TOO_MUCH in " ".join(answer.json()["errors"])

    client.force_login(customer.user)
    page = client.post(reverse("rentals:new", args=[vehicle.pk]), data, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    assert any(TOO_MUCH in error for error in page.context["form"].non_field_errors())
    assert not Rental.objects.exists()


def test_a_booking_at_the_ceiling_returned_late_can_still_be_taken_back(frozen_clock, customer, luxury, time_machine):
    """The late fee stops where the order total would pass MAX_ORDER_TOTAL:
    the clock alone never makes a car impossible to take back (SPEC §17)."""
    from rentals.services import pickup_rental, process_return

    rental = _book(customer, luxury, 49)  # 983,000
    time_machine.move_to(START, tick=False)
    pickup_rental(rental=rental)
    late = rental.end_time + timedelta(days=2, hours=2)  # 3 started days × 1.5 × 20,000 = 90,000 uncapped
    time_machine.move_to(late, tick=False)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    rental.refresh_from_db()
    assert rental.overdue_fee_so_far() == Decimal("17000.00")  # up to the ceiling, no further

    process_return(rental=rental, returned_at=late, location=luxury.location)

    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    assert rental.overdue_fee == Decimal("17000.00")
    assert rental.order_total == Decimal("1000000.00")


def test_a_damage_fee_past_the_ceiling_is_still_refused(frozen_clock, customer, luxury, time_machine):
    from rentals.exceptions import RentalError as Refused
    from rentals.services import pickup_rental, process_return

    rental = _book(customer, luxury, 49)
    time_machine.move_to(START, tick=False)
    pickup_rental(rental=rental)
    # back on time: an early return would lower the rent (§19) below the ceiling
    time_machine.move_to(rental.end_time, tick=False)
    with pytest.raises(Refused) as caught:
        process_return(
            rental=rental,
            returned_at=rental.end_time,
            location=luxury.location,
            damage_fee=Decimal("20000.00"),
        )
    assert caught.value.code == "order_total_too_large"
    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING
