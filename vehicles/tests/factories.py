from decimal import Decimal

import factory

from vehicles.models import Location, Vehicle


class LocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Location

    name = factory.Sequence(lambda n: f"Store {n}")
    city = "上海"
    address = factory.Sequence(lambda n: f"{n} Nanjing Road")


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    plate_number = factory.Sequence(lambda n: f"沪A{n:05d}")
    brand = "Toyota"
    model = "Camry"
    year = 2024
    seats = 5
    daily_rate = Decimal("300.00")
    deposit_amount = Decimal("2000.00")
    location = factory.SubFactory(LocationFactory)
    status = Vehicle.Status.AVAILABLE
