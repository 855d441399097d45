from datetime import timedelta

import factory
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from vehicles.tests.factories import VehicleFactory


class RentalFactory(factory.django.DjangoModelFactory):
    """A PENDING three-day booking starting tomorrow at the car's own store.

    Amounts are filled by ``Rental.save`` from SPEC §4, as for a real booking.
    """

    class Meta:
        model = Rental

    customer = factory.SubFactory(CustomerFactory)
    vehicle = factory.SubFactory(VehicleFactory)
    pickup_location = factory.SelfAttribute("vehicle.location")
    return_location = factory.SelfAttribute("pickup_location")
    start_time = factory.LazyFunction(
        lambda: timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    )
    end_time = factory.LazyAttribute(lambda r: r.start_time + timedelta(days=3))
    status = Rental.Status.PENDING


def paid(rental: Rental, amount=None) -> Rental:
    """Pay ``rental`` in full (or ``amount``) with one PAID online charge, as a
    provider callback would: a paid booking keeps its car and moves by time
    (an unpaid one lapses, SPEC §16)."""
    from accounts.tests.factories import PaymentFactory

    PaymentFactory(rental=rental, amount=rental.order_total if amount is None else amount)
    rental.refresh_financials()
    return rental
