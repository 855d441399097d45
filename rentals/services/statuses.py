"""Statuses by time (SPEC §5, §16): one rental or the whole table, unpaid bookings lapsing, the refresh pages trigger."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from accounts.models import Notification
from accounts.services import cancel_open_charges, notify
from car_rental_system.money import ZERO
from rentals.locks import lock_rental, lock_rental_rows, lock_vehicle, lock_vehicles
from rentals.models import Rental
from rentals.services.transitions import MoveRow, _occupy_vehicle, move_by_time, move_many_by_time, transition_rental

logger = logging.getLogger(__name__)


STATUS_REFRESH_CACHE_KEY = "rentals:status-refresh"


LAPSE_REASON = "not_paid_in_time"


def _lapse_locked(*, locked: Rental, now: datetime) -> None:
    """Cancel a booking whose payment window closed with nothing paid (SPEC
    §16), on a rental the caller has locked (after its car): open charges are
    closed first (a late provider success is then refunded by the §6 rule),
    no fee, the car is not held any more, the customer is told."""
    with translation.override(settings.LANGUAGE_CODE):
        reason = _("Not paid in time")
    cancel_open_charges(rental=locked, reason=reason, actor=None)
    transition_rental(
        rental=locked,
        to=Rental.Status.CANCELLED,
        event="lapsed",
        payload={"reason": LAPSE_REASON, "payment_deadline": locked.payment_deadline.isoformat()},
        cancel_reason=reason,
        cancelled_at=now,
    )
    locked.refresh_financials()
    notify(
        user=locked.customer.user,
        rental=locked,
        notification_type=Notification.Type.ORDER_CANCELLED,
        kind="lapsed",
        params={"order": locked.pk, "deadline": locked.payment_deadline.isoformat()},
    )


@transaction.atomic
def advance_rental_status(*, rental: Rental, now: datetime | None = None) -> bool:
    """Move one rental's status by time (§5, §16) and its car's; returns whether it moved."""
    now = now or timezone.now()
    if rental.status_by_time(now) == rental.status:
        return False
    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    target = locked.status_by_time(now)
    if target == locked.status:
        rental.status = locked.status
        return False
    if target == Rental.Status.CANCELLED:
        _lapse_locked(locked=locked, now=now)
        rental.copy_state_from(locked)
        return True
    move_by_time(rental=locked, to=target, now=now)
    _occupy_vehicle(vehicle)
    rental.status = target
    return True


def advance_statuses(
    *,
    now: datetime | None = None,
    batch_size: int = 1000,
    rental_ids: list[int] | None = None,
    dry_run: bool = False,
) -> dict:
    """Bulk status moves by time for the whole table (or ``rental_ids``).

    PENDING → ONGOING once ``start_time`` has come; PENDING/ONGOING → OVERDUE
    once ``end_time`` has passed; their cars become RENTED. Each batch is one
    transaction with its rows locked; an audit row is written per rental and
    customers of overdue rentals are notified. Returns counts per move.
    """
    now = now or timezone.now()
    counts = {"lapsed": lapse_unpaid_bookings(now=now, rental_ids=rental_ids, dry_run=dry_run)}
    paid = Q(status=Rental.Status.ONGOING) | Q(status=Rental.Status.PENDING, amount_paid__gt=0)
    moves = [
        ("to_overdue", Rental.Status.OVERDUE, paid & Q(end_time__lt=now)),
        (
            "to_ongoing",
            Rental.Status.ONGOING,
            Q(status=Rental.Status.PENDING, amount_paid__gt=0, start_time__lte=now, end_time__gte=now),
        ),
    ]
    counts.update(to_ongoing=0, to_overdue=0)
    for name, target, filters in moves:
        qs = Rental.objects.filter(filters)
        if rental_ids is not None:
            qs = qs.filter(pk__in=rental_ids)
        if dry_run:
            counts[name] = qs.count()
            continue
        while True:
            with transaction.atomic():
                candidates = list(qs.order_by("pk").values_list("pk", "vehicle_id")[:batch_size])
                if not candidates:
                    break
                # Vehicles before rentals: the global lock order. The rentals are
                # then locked and filtered again, as another flow may have moved one.
                lock_vehicles(vehicle_id for _pk, vehicle_id in candidates)
                rows = [
                    MoveRow(*row)
                    for row in lock_rental_rows(
                        qs.filter(pk__in=[pk for pk, _vehicle_id in candidates]),
                        *MoveRow._fields[:3],
                        "customer__user_id",
                        "end_time",
                    )
                ]
                move_many_by_time(rows=rows, to=target, now=now)
                counts[name] += len(rows)
    return counts


def lapse_unpaid_bookings(
    *,
    now: datetime | None = None,
    rental_ids: list[int] | None = None,
    dry_run: bool = False,
) -> int:
    """Cancel every booking whose payment window has closed with nothing paid
    (SPEC §16); returns how many this call cancelled (or, on a dry run, would).

    Each booking lapses in its own short transaction (car → rental locked, the
    rule checked again under the lock against the ledger), so a page refresh,
    the cron job and a payment arriving at the same moment agree: a booking
    paid meanwhile is left alone, and one lapsed by another run is not counted.
    """
    now = now or timezone.now()
    window = timedelta(minutes=settings.BOOKING_PAYMENT_MINUTES)
    qs = Rental.objects.filter(status=Rental.Status.PENDING, amount_paid__lte=0).filter(
        Q(created_at__lte=now - window) | Q(start_time__lte=now)
    )
    if rental_ids is not None:
        qs = qs.filter(pk__in=rental_ids)
    if dry_run:
        return qs.count()
    lapsed = 0
    for pk, vehicle_id in qs.order_by("pk").values_list("pk", "vehicle_id"):
        with transaction.atomic():
            lock_vehicle(vehicle_id)
            locked = lock_rental(pk)
            if locked.status_by_time(now) != Rental.Status.CANCELLED or locked.money_figures().paid > ZERO:
                continue
            _lapse_locked(locked=locked, now=now)
            lapsed += 1
    return lapsed


def refresh_statuses_if_due() -> dict | None:
    """Pages call this on view: the bulk refresh runs at most once per
    RENTAL_STATUS_REFRESH_SECONDS for the whole table (cache.add is atomic, so
    only one request in the window wins).

    With a job broker the winning request hands the refresh to a worker (the
    ``update_expired_rentals`` job, under its lock) and returns None at once:
    no page waits for a bulk refresh of the whole table. Without one (or when
    the broker does not take the job) it runs here and returns its counts.

    With ``RENTAL_STATUS_REFRESH_BY_BEAT`` (a Celery beat runs the same job
    every RENTAL_STATUS_REFRESH_SECONDS, as under `make serve`) pages leave it
    to the beat: no cache round trip on the request path."""
    if settings.RENTAL_STATUS_REFRESH_BY_BEAT:
        return None
    if not cache.add(STATUS_REFRESH_CACHE_KEY, timezone.now().isoformat(), settings.RENTAL_STATUS_REFRESH_SECONDS):
        return None
    from car_rental_system.jobs import broker_configured

    if broker_configured():
        try:
            # Named, not imported: the task module imports this one.
            import_string("rentals.tasks.update_expired_rentals").apply_async(retry=False)
            return None
        except Exception:
            logger.warning("status refresh: the job broker did not take the job; refreshing in this request")
    try:
        return advance_statuses()
    except Exception:
        # A page view must not fail because the background refresh did; let the
        # next view try again.
        cache.delete(STATUS_REFRESH_CACHE_KEY)
        logger.exception("rental status refresh failed")
        return None
