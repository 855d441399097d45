"""Reads of rentals for the staff pages."""

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
