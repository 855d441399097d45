"""vehicles models: the constraints and the bookable rule."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from vehicles.models import Location, Vehicle
from vehicles.tests.factories import LocationFactory, VehicleFactory

pytestmark = pytest.mark.django_db


def test_a_vehicle_from_the_named_fields_alone(location):
    car = Vehicle.objects.create(
        plate_number="沪B12345",
        brand="BYD",
        model="Han",
        year=2025,
        seats=5,
        daily_rate=Decimal("420.00"),
        deposit_amount=Decimal("3000.00"),
        location=location,
        description="",
    )
    car.refresh_from_db()
    assert car.status == Vehicle.Status.AVAILABLE
    assert str(car) == "BYD Han (沪B12345)"
    assert car.get_absolute_url() == f"/vehicles/{car.pk}/"


@pytest.mark.parametrize(
    ("status", "bookable"),
    [
        (Vehicle.Status.AVAILABLE, True),
        (Vehicle.Status.RENTED, True),  # for a later period
        (Vehicle.Status.MAINTENANCE, False),
        (Vehicle.Status.RETIRED, False),
    ],
)
def test_is_bookable(status, bookable):
    assert Vehicle(status=status).is_bookable is bookable


def test_plate_numbers_are_unique():
    VehicleFactory(plate_number="沪A00001")
    with pytest.raises(IntegrityError), transaction.atomic():
        VehicleFactory(plate_number="沪A00001")


@pytest.mark.parametrize("rate", [Decimal("0"), Decimal("-1")])
def test_daily_rate_must_be_positive(rate):
    with pytest.raises(IntegrityError), transaction.atomic():
        VehicleFactory(daily_rate=rate)


def test_deposit_cannot_be_negative():
    with pytest.raises(IntegrityError), transaction.atomic():
        VehicleFactory(deposit_amount=Decimal("-0.01"))


def test_store_names_are_unique_per_city():
    LocationFactory(city="上海", name="人民广场店")
    LocationFactory(city="北京", name="人民广场店")
    with pytest.raises(IntegrityError), transaction.atomic():
        LocationFactory(city="上海", name="人民广场店")
    assert str(Location.objects.get(city="北京")) == "北京 · 人民广场店"
