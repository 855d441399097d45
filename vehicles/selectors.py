"""Reads for the car pages."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.apps import apps
from django.db.models import Avg, Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from car_rental_system import bounds
from vehicles.models import Location, Vehicle

# Rental statuses that hold a car for their period. Mirrors
# rentals.models.Rental.ACTIVE_STATUSES (a test keeps them equal); spelled out
# here because vehicles must not import the rentals app.
BLOCKING_RENTAL_STATUSES = ("PENDING", "ONGOING", "OVERDUE")


def cities() -> list[str]:
    return list(Location.objects.order_by("city").values_list("city", flat=True).distinct())


RECENT_REVIEWS = 5


@dataclass(frozen=True)
class CarReview:
    rating: int
    comment: str
    created_at: datetime
    reviewer: str  # masked, e.g. 张*


def mask_name(name: str) -> str:
    """The first character, then stars: 张三 → 张*, 欧阳娜娜 → 欧**."""
    name = (name or "").strip()
    if not name:
        return "*"
    return name[0] + "*" * min(max(len(name) - 1, 1), 2)


def with_ratings(qs: QuerySet) -> QuerySet:
    """Annotate each car with ``rating_avg`` (None without reviews) and
    ``rating_count`` from its rentals' reviews, in the same query.

    Correlated subqueries, not a join: the cars are neither grouped over every
    rental they ever had nor counted that way by the paginator, and PostgreSQL
    works the ratings out for the cars of the page only."""
    review = apps.get_model("accounts", "Review")  # by name: vehicles imports no other app
    reviews = review.objects.filter(rental__vehicle=OuterRef("pk")).order_by().values("rental__vehicle")
    return qs.annotate(
        rating_avg=Subquery(reviews.annotate(average=Avg("rating")).values("average")),
        rating_count=Coalesce(Subquery(reviews.annotate(reviews=Count("pk")).values("reviews")), 0),
    )


def recent_reviews(*, vehicle_id: int, limit: int = RECENT_REVIEWS) -> list[CarReview]:
    """The car's latest reviews, newest first, with the reviewer's name masked. One query."""
    rows = (
        Vehicle.objects.filter(pk=vehicle_id, rentals__review__isnull=False)
        .order_by("-rentals__review__created_at", "-rentals__review__pk")
        .values_list(
            "rentals__review__rating",
            "rentals__review__comment",
            "rentals__review__created_at",
            "rentals__customer__name",
        )[:limit]
    )
    return [
        CarReview(rating=rating, comment=comment, created_at=created_at, reviewer=mask_name(name))
        for rating, comment, created_at, name in rows
    ]


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
    ``rentals.services.overlapping_rentals``). Each car carries its review
    rating (``with_ratings``)."""
    qs = with_ratings(bookable_vehicles())
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
        # rental still active past its end (overdue) holds the car until the
        # end of its hold (booking's overlap rule, SPEC §17).
        busy = Vehicle.objects.filter(
            bounds.holds_car_after(start_time, timezone.now(), prefix="rentals__"),
            rentals__status__in=BLOCKING_RENTAL_STATUSES,
            rentals__start_time__lt=end_time,
        ).values("pk")
        qs = qs.exclude(pk__in=busy)
    return qs.order_by("daily_rate", "brand", "model", "pk")


def stores_with_cars() -> QuerySet:
    """Every store, by city and name, each with ``bookable_cars``: the cars
    customers can book that stand there now (two queries in all)."""
    cars = Vehicle.objects.filter(status__in=[Vehicle.Status.AVAILABLE, Vehicle.Status.RENTED]).order_by(
        "daily_rate", "brand", "model", "pk"
    )
    return Location.objects.order_by("city", "name").prefetch_related(
        Prefetch("vehicles", queryset=cars, to_attr="bookable_cars")
    )
