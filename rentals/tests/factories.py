from datetime import datetime, timedelta
from decimal import Decimal

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


def book(
    customer,
    vehicle,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    return_location=None,
    **kwargs,
) -> Rental:
    """Book ``vehicle`` through ``rentals.services.create_rental``, by default
    for the three days of ``rentals.tests.clock`` (START to END), picked up
    and returned at the car's store."""
    from rentals.services import create_rental
    from rentals.tests.clock import END, START

    kwargs.setdefault("pickup_location", vehicle.location)
    return create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=start or START,
        end_time=end or END,
        return_location=return_location or kwargs["pickup_location"],
        **kwargs,
    )


def pay(rental: Rental, amount: Decimal | str | None = None, **kwargs):
    """A PAID charge (online by default) of ``amount`` (the order total when
    None), then the stored figures refreshed, as the callback does. Returns
    the charge."""
    from accounts.tests.factories import PaymentFactory

    amount = rental.order_total if amount is None else Decimal(amount)
    charge = PaymentFactory(rental=rental, amount=amount, **kwargs)
    rental.refresh_financials()
    return charge
