"""Reads for the car pages."""

from datetime import datetime
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from vehicles.models import Location, Vehicle

# Rental statuses that hold a car for their period. Mirrors
# rentals.models.Rental.ACTIVE_STATUSES (a test keeps them equal); spelled out
# here because vehicles must not import the rentals app.
BLOCKING_RENTAL_STATUSES = ("PENDING", "ONGOING", "OVERDUE")
OVERDUE_RENTAL_STATUS = "OVERDUE"


def cities() -> list[str]:
    return list(Location.objects.order_by("city").values_list("city", flat=True).distinct())


def bookable_vehicles() -> QuerySet:
    """Cars a customer may book: AVAILABLE, or RENTED for a later period."""
    return Vehicle.objects.filter(status__in=[Vehicle.Status.AVAILABLE, Vehicle.Status.RENTED]).select_related(
        "location"
    )


def search_vehicles(
    *,
    city: str = "",
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    seats: int | None = None,
) -> QuerySet:
    """Bookable cars matching the filters; with a period, only cars with no
    PENDING/ONGOING/OVERDUE rental overlapping it (same rule as booking,
    ``rentals.services.overlapping_rentals``)."""
    qs = bookable_vehicles()
    if city:
        qs = qs.filter(location__city=city)
    if min_price is not None:
        qs = qs.filter(daily_rate__gte=min_price)
    if max_price is not None:
        qs = qs.filter(daily_rate__lte=max_price)
    if seats:
        qs = qs.filter(seats__gte=seats)
    if start_time is not None and end_time is not None:
        # One filter() call: the conditions apply to the same rental row. A
        # rental still active past its end (overdue) holds the car until it is
        # returned: its end counts as open (booking's overlap rule).
        now = timezone.now()
        busy = Vehicle.objects.filter(
            Q(rentals__end_time__gt=start_time)
            | Q(rentals__status=OVERDUE_RENTAL_STATUS)
            | Q(rentals__end_time__lte=now),
            rentals__status__in=BLOCKING_RENTAL_STATUSES,
            rentals__start_time__lt=end_time,
        ).values("pk")
        qs = qs.exclude(pk__in=busy)
    return qs.order_by("daily_rate", "brand", "model", "pk")
