"""Reads about rentals for the pages (no writes, no locks)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from rentals.models import Rental


@dataclass(frozen=True)
class PeriodCheck:
    """Whether a car is free for a period and, when it is not, the first
    rental in the way and the next free period of the same length."""

    start_time: datetime
    end_time: datetime
    taken_from: datetime | None
    taken_until: datetime | None
    next_start: datetime
    next_end: datetime

    @property
    def is_free(self) -> bool:
        return self.taken_from is None


def _ceil_minute(moment: datetime) -> datetime:
    # The booking form takes whole minutes; an offer must be typeable as it is.
    floored = moment.replace(second=0, microsecond=0)
    return floored if floored == moment else floored + timedelta(minutes=1)


def blocking_periods(
    *, vehicle_id: int, after: datetime, now: datetime | None = None
) -> list[tuple[datetime, datetime]]:
    """(start, end) of the car's PENDING/ONGOING/OVERDUE rentals that end after
    ``after``, by start. An OVERDUE rental holds the car until it is returned,
    so its end counts as at least ``now``. One query."""
    now = now or timezone.now()
    rows = (
        Rental.objects.filter(vehicle_id=vehicle_id, status__in=Rental.ACTIVE_STATUSES)
        .filter(Q(end_time__gt=after) | Q(status=Rental.Status.OVERDUE))
        .order_by("start_time", "pk")
        .values_list("start_time", "end_time", "status")
    )
    periods = []
    for start, end, status in rows:
        if status == Rental.Status.OVERDUE:
            end = max(end, now)
        if end > after:
            periods.append((start, end))
    return periods


def check_period(
    *, vehicle_id: int, start_time: datetime, end_time: datetime, now: datetime | None = None
) -> PeriodCheck:
    """Is the car free from ``start_time`` to ``end_time`` (the booking rule:
    no overlap with a PENDING/ONGOING/OVERDUE rental)? When it is not, also
    the earliest period of the same length that starts at or after
    ``start_time`` on a whole minute and overlaps no such rental. One query."""
    length = end_time - start_time
    periods = blocking_periods(vehicle_id=vehicle_id, after=start_time, now=now)
    taken = next(((s, e) for s, e in periods if s < end_time and e > start_time), None)
    candidate = start_time
    # Periods come by start: each one that overlaps the candidate pushes it to
    # that period's end; the first one starting after the candidate's end
    # (and so every later one) leaves it free.
    for busy_start, busy_end in periods:
        if busy_start >= candidate + length:
            break
        if busy_end > candidate:
            candidate = _ceil_minute(busy_end)
    return PeriodCheck(
        start_time=start_time,
        end_time=end_time,
        taken_from=taken[0] if taken else None,
        taken_until=taken[1] if taken else None,
        next_start=candidate,
        next_end=candidate + length,
    )
