"""Reads about rentals for the pages (no writes, no locks)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from rentals.models import Rental
from vehicles.models import Location


@dataclass(frozen=True)
class CounterBoard:
    """What a store's counter has to do today (one local calendar day)."""

    day: date
    store: Location | None
    pickups: list[Rental]
    returns: list[Rental]
    overdue: list[Rental]
    manual_refunds: list[Rental]


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in the site's time zone (Asia/Shanghai)."""
    tz = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def _board_rows() -> QuerySet[Rental]:
    return Rental.objects.select_related("customer", "vehicle", "pickup_location", "return_location")


def counter_board(*, now: datetime | None = None, store: Location | None = None) -> CounterBoard:
    """Today's work at the counter, read in four queries whatever the number of rows.

    - pick-ups: PENDING orders starting today, at ``store`` as pick-up store;
    - returns: ONGOING orders ending today, at ``store`` as planned return store;
    - overdue: OVERDUE orders, at ``store`` as planned return store;
    - manual refunds: orders flagged ``requires_manual_refund``, at ``store`` as
      pick-up or planned return store.

    "Today" is the calendar day of ``now`` in the site's time zone. ``store``
    None means every store. Reads only the stored statuses: the page refreshes
    them by time before calling this.
    """
    now = now or timezone.now()
    day = timezone.localtime(now, ZoneInfo(settings.TIME_ZONE)).date()
    day_start, day_end = local_day_bounds(day)
    rows = _board_rows()
    at_pickup = Q(pickup_location=store) if store is not None else Q()
    at_return = Q(return_location=store) if store is not None else Q()
    at_either = (at_pickup | at_return) if store is not None else Q()
    pickups = rows.filter(
        at_pickup, status=Rental.Status.PENDING, start_time__gte=day_start, start_time__lt=day_end
    ).order_by("start_time", "id")
    returns = rows.filter(
        at_return, status=Rental.Status.ONGOING, end_time__gte=day_start, end_time__lt=day_end
    ).order_by("end_time", "id")
    overdue = rows.filter(at_return, status=Rental.Status.OVERDUE).order_by("end_time", "id")
    manual_refunds = rows.filter(at_either, requires_manual_refund=True).order_by("updated_at", "id")
    return CounterBoard(
        day=day,
        store=store,
        pickups=list(pickups),
        returns=list(returns),
        overdue=list(overdue),
        manual_refunds=list(manual_refunds),
    )


@dataclass(frozen=True)
class PeriodCheck:
    """Whether a car is free for a period and, when it is not, the first
    rental in the way and the next free period of the same length."""

    start_time: datetime
    end_time: datetime
    taken_from: datetime | None
    taken_until: datetime | None  # None while the rental in the way is overdue
    next_start: datetime | None  # None: no free period until an overdue car is back
    next_end: datetime | None

    @property
    def is_free(self) -> bool:
        return self.taken_from is None


def _ceil_minute(moment: datetime) -> datetime:
    # The booking form takes whole minutes; an offer must be typeable as it is.
    floored = moment.replace(second=0, microsecond=0)
    return floored if floored == moment else floored + timedelta(minutes=1)


def blocking_periods(
    *, vehicle_id: int, after: datetime, now: datetime | None = None
) -> list[tuple[datetime, datetime | None]]:
    """(start, end) of the car's PENDING/ONGOING/OVERDUE rentals that end after
    ``after``, by start. A rental still active past its end holds the car until
    it is returned, so its end is open (None): the booking rule of
    ``rentals.services.overlapping_rentals``. One query."""
    now = now or timezone.now()
    rows = (
        Rental.objects.filter(vehicle_id=vehicle_id, status__in=Rental.ACTIVE_STATUSES)
        .filter(Q(end_time__gt=after) | Q(status=Rental.Status.OVERDUE) | Q(end_time__lte=now))
        .order_by("start_time", "pk")
        .values_list("start_time", "end_time", "status")
    )
    return [
        (start, None if status == Rental.Status.OVERDUE or end <= now else end) for start, end, status in rows
    ]


def check_period(
    *, vehicle_id: int, start_time: datetime, end_time: datetime, now: datetime | None = None
) -> PeriodCheck:
    """Is the car free from ``start_time`` to ``end_time`` (the booking rule:
    no overlap with a PENDING/ONGOING/OVERDUE rental)? When it is not, also
    the earliest period of the same length that starts at or after
    ``start_time`` on a whole minute and overlaps no such rental (None while a
    rental in the way is overdue: nobody knows when the car comes back). One
    query."""
    length = end_time - start_time
    periods = blocking_periods(vehicle_id=vehicle_id, after=start_time, now=now)
    taken = next(((s, e) for s, e in periods if s < end_time and (e is None or e > start_time)), None)
    candidate = start_time
    # Periods come by start: each one that overlaps the candidate pushes it to
    # that period's end; the first one starting after the candidate's end
    # (and so every later one) leaves it free.
    for busy_start, busy_end in periods:
        if busy_start >= candidate + length:
            break
        if busy_end is None:
            candidate = None
            break
        if busy_end > candidate:
            candidate = _ceil_minute(busy_end)
    return PeriodCheck(
        start_time=start_time,
        end_time=end_time,
        taken_from=taken[0] if taken else None,
        taken_until=taken[1] if taken else None,
        next_start=candidate,
        next_end=candidate + length if candidate is not None else None,
    )
