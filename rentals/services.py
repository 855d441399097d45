"""The rental flows of SPEC §5: booking, status by time, cancelling and
returning. They call the money primitives of ``accounts.services`` (refund
what is due, cancel open charges, notify); ``accounts`` never calls back into
this module. The read-side rules (checks, previews) are in ``rentals.selectors``.

Each public function runs in one ``transaction.atomic`` block and locks rows in
the fixed order customer → vehicle → rental → payment (``rentals/locks.py``)
before it reads money. Any failure rolls the whole flow back. Rule violations
raise ``ValidationError`` subclasses (``rentals.exceptions``) with a message a
person can read, and change nothing.
"""

import copy
import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import Notification, Payment
from accounts.services import cancel_open_charges, notify, refund_amount_due, refund_due_rows
from car_rental_system import bounds
from car_rental_system.bulk import insert_rows
from car_rental_system.money import ZERO
from rentals import selectors
from rentals.exceptions import BookingConflict, InvalidTransition, RentalError
from rentals.locks import lock_customer, lock_rental, lock_vehicle
from rentals.models import Rental, RentalEvent
from vehicles.models import Location, Vehicle

logger = logging.getLogger(__name__)

MAX_RENTAL_DAYS = 90
STATUS_REFRESH_CACHE_KEY = "rentals:status-refresh"


def _local(dt: datetime) -> str:
    return date_format(timezone.localtime(dt), "Y-m-d H:i")


def _actor(user: Any) -> Any:
    return user if getattr(user, "pk", None) else None


def record_rental_event(
    *,
    rental: Rental,
    event: str,
    from_status: str = "",
    to_status: str = "",
    actor: Any = None,
    payload: dict | None = None,
) -> RentalEvent:
    return RentalEvent.objects.create(
        rental=rental,
        event=event,
        from_status=from_status,
        to_status=to_status,
        actor=_actor(actor),
        payload=payload or {},
    )


def transition_rental(
    *,
    rental: Rental,
    to: str,
    by_user: Any = None,
    note: str = "",
    event: str = "status_changed",
    payload: dict | None = None,
    **fields: Any,
) -> RentalEvent:
    """Move a (locked) rental along ``Rental.TRANSITIONS`` and audit the move:
    the one way a rental's status changes (``advance_statuses`` writes the
    same events in bulk). Refuses a move the table does not allow
    (``InvalidTransition``); sets ``fields`` with the status, saves them and
    writes the RentalEvent (``event``, from → to, ``by_user`` as actor,
    ``payload`` plus ``note`` when given). Returns the event."""
    rental.assert_transition(to)
    from_status = rental.status
    rental.status = to
    for name, value in fields.items():
        setattr(rental, name, value)
    rental.save(update_fields=["status", *fields.keys(), "updated_at"])
    payload = dict(payload or {})
    if note:
        payload["note"] = note
    return record_rental_event(
        rental=rental, event=event, from_status=from_status, to_status=to, actor=by_user, payload=payload
    )


def _release_vehicle(*, vehicle: Vehicle, rental: Rental, location: Location | None = None) -> None:
    """After a rental leaves the road: the car is AVAILABLE again unless another
    ongoing rental holds it (a car in maintenance or retired stays so)."""
    fields = []
    if location is not None and vehicle.location_id != location.pk:
        vehicle.location = location
        fields.append("location")
    still_out = (
        Rental.objects.filter(vehicle_id=vehicle.pk, status__in=Rental.ON_ROAD_STATUSES).exclude(pk=rental.pk).exists()
    )
    target = Vehicle.Status.RENTED if still_out else Vehicle.Status.AVAILABLE
    if vehicle.status in (Vehicle.Status.AVAILABLE, Vehicle.Status.RENTED) and vehicle.status != target:
        vehicle.status = target
        fields.append("status")
    if fields:
        vehicle.save(update_fields=fields)


def _occupy_vehicle(vehicle: Vehicle) -> None:
    if vehicle.status == Vehicle.Status.AVAILABLE:
        vehicle.status = Vehicle.Status.RENTED
        vehicle.save(update_fields=["status"])


# --- booking --------------------------------------------------------------------


def validate_booking_times(start_time: datetime | None, end_time: datetime | None, now: datetime | None = None) -> None:
    """Raise RentalError when the period can't be booked (pure; used by forms too)."""
    now = now or timezone.now()
    if start_time is None or end_time is None:
        raise RentalError(_("Please choose a pick-up and a return time."), code="times_required")
    if timezone.is_naive(start_time) or timezone.is_naive(end_time):
        raise RentalError(_("Times must carry a time zone."), code="naive_time")
    if start_time <= now:
        raise RentalError(_("The pick-up time must be in the future."), code="start_in_past")
    if start_time > bounds.latest_booking_start(now):
        raise RentalError(
            _("A booking can start at most %(days)s days ahead.") % {"days": settings.BOOKING_HORIZON_DAYS},
            code="beyond_horizon",
        )
    if end_time <= start_time:
        raise RentalError(_("The return time must be after the pick-up time."), code="end_before_start")
    if end_time - start_time > timedelta(days=MAX_RENTAL_DAYS):
        raise RentalError(_("A booking can last at most %(days)s days.") % {"days": MAX_RENTAL_DAYS}, code="too_long")


def overlapping_rentals(
    *,
    vehicle_id: int,
    start_time: datetime,
    end_time: datetime,
    exclude_pk: int | None = None,
    now: datetime | None = None,
) -> QuerySet[Rental]:
    """PENDING/ONGOING/OVERDUE rentals of the car that hold it during the period.

    A rental past its end that is still active (OVERDUE, or not refreshed yet)
    holds its car until it is returned (§16 "cars on the road"): nobody knows
    when it comes back, so its end counts as open, at least now, and it clashes
    with any period that ends after its start.
    """
    now = now or timezone.now()
    qs = Rental.objects.filter(
        Q(end_time__gt=start_time) | Q(status=Rental.Status.OVERDUE) | Q(end_time__lte=now),
        vehicle_id=vehicle_id,
        status__in=Rental.ACTIVE_STATUSES,
        start_time__lt=end_time,
    )
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs


def unpaid_bookings(*, customer: Any, now: datetime | None = None) -> QuerySet[Rental]:
    """The customer's bookings that still hold a car without any payment (SPEC §16)."""
    now = now or timezone.now()
    window = timedelta(minutes=settings.BOOKING_PAYMENT_MINUTES)
    return Rental.objects.filter(
        customer_id=customer.pk,
        status=Rental.Status.PENDING,
        amount_paid__lte=0,
        created_at__gt=now - window,
        start_time__gt=now,
    )


@transaction.atomic
def create_rental(
    *,
    customer: Any,
    vehicle: Vehicle,
    start_time: datetime,
    end_time: datetime,
    pickup_location: Location,
    return_location: Location | None = None,
) -> Rental:
    """Book ``vehicle`` for ``customer``: a PENDING rental priced by §4.

    Refuses a period in the past, an end before the start, a car that can't be
    booked, a pick-up away from the car's store, any overlap with another
    PENDING/ONGOING/OVERDUE rental of the car, and a customer who already
    holds MAX_UNPAID_BOOKINGS unpaid bookings (SPEC §16). The customer row is
    locked before counting those and the car row before the overlap check, so
    concurrent bookings are serialised per customer and per car and only one
    of two conflicting requests can succeed. Locks: customer → vehicle.
    """
    validate_booking_times(start_time, end_time)
    return_location = return_location or pickup_location
    lock_customer(customer.pk)
    held = unpaid_bookings(customer=customer).count()
    if held >= settings.MAX_UNPAID_BOOKINGS:
        raise RentalError(
            _(
                "You already have %(count)s unpaid bookings. Please pay for one or cancel it before booking "
                "another car (unpaid bookings are released %(minutes)s minutes after they are made)."
            )
            % {"count": held, "minutes": settings.BOOKING_PAYMENT_MINUTES},
            code="too_many_unpaid",
        )
    locked_vehicle = lock_vehicle(vehicle.pk)
    if not locked_vehicle.is_bookable:
        raise RentalError(
            _("%(car)s can't be booked right now (%(status)s).")
            % {"car": locked_vehicle, "status": locked_vehicle.get_status_display()},
            code="vehicle_unavailable",
        )
    if pickup_location.pk != locked_vehicle.location_id:
        raise RentalError(
            _("This car is picked up at %(store)s.") % {"store": locked_vehicle.location},
            code="wrong_pickup_location",
        )
    clash = (
        overlapping_rentals(vehicle_id=locked_vehicle.pk, start_time=start_time, end_time=end_time)
        .order_by("start_time")
        .first()
    )
    if clash is not None:
        raise BookingConflict(
            _("This car is already booked from %(start)s to %(end)s. Please choose other times.")
            % {"start": _local(clash.start_time), "end": _local(clash.end_time)},
            code="overlap",
        )
    rental = Rental(
        customer=customer,
        vehicle=locked_vehicle,
        pickup_location=pickup_location,
        return_location=return_location,
        start_time=start_time,
        end_time=end_time,
    )
    rental.save()
    record_rental_event(
        rental=rental,
        event="created",
        to_status=rental.status,
        actor=getattr(customer, "user", None),
        payload={"order_total": str(rental.order_total)},
    )
    return rental


# --- status by time ---------------------------------------------------------------


def _notify_overdue(rental: Rental) -> None:
    notify(
        user=rental.customer.user,
        rental=rental,
        notification_type=Notification.Type.RENTAL_OVERDUE,
        kind="rental_overdue",
        params={"order": rental.pk, "end": rental.end_time.isoformat()},
    )


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
    transition_rental(rental=locked, to=target, event="status_by_time")
    _occupy_vehicle(vehicle)
    if target == Rental.Status.OVERDUE:
        _notify_overdue(locked)
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
                vehicle_ids = sorted({vehicle_id for _pk, vehicle_id in candidates})
                list(Vehicle.objects.select_for_update().filter(pk__in=vehicle_ids).order_by("pk").values_list("pk"))
                rows = list(
                    qs.filter(pk__in=[pk for pk, _vehicle_id in candidates])
                    .select_for_update(of=("self",))
                    .order_by("pk")
                    .values_list("pk", "status", "vehicle_id", "customer__user_id")
                )
                # The check transition_rental makes, row by row (the filters only
                # pick rows the transition table lets move to ``target``).
                if any(target not in Rental.TRANSITIONS[Rental.Status(row[1])] for row in rows):
                    raise InvalidTransition(f"no bulk move to {target} from {sorted({row[1] for row in rows})}")
                if not rows:
                    continue
                ids = [row[0] for row in rows]
                vehicle_ids = sorted({row[2] for row in rows})
                Rental.objects.filter(pk__in=ids).update(status=target, updated_at=now)
                Vehicle.objects.filter(pk__in=vehicle_ids, status=Vehicle.Status.AVAILABLE).update(
                    status=Vehicle.Status.RENTED
                )
                insert_rows(
                    [
                        RentalEvent(
                            rental_id=pk,
                            event="status_by_time",
                            from_status=status,
                            to_status=target,
                            created_at=now,
                        )
                        for pk, status, _vehicle_id, _user_id in rows
                    ]
                )
                if target == Rental.Status.OVERDUE:
                    message = _("The car was due back already. Late returns are charged per started day.")
                    insert_rows(
                        [
                            Notification(
                                user_id=user_id,
                                rental_id=pk,
                                notification_type=Notification.Type.RENTAL_OVERDUE,
                                title=_("Order #%(order)s is overdue") % {"order": pk},
                                message=message,
                                created_at=now,
                            )
                            for pk, _status, _vehicle_id, user_id in rows
                            if user_id is not None
                        ]
                    )
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
    the broker does not take the job) it runs here and returns its counts."""
    if not cache.add(STATUS_REFRESH_CACHE_KEY, timezone.now().isoformat(), settings.RENTAL_STATUS_REFRESH_SECONDS):
        return None
    from car_rental_system.jobs import broker_configured

    if broker_configured():
        from rentals.tasks import update_expired_rentals

        try:
            update_expired_rentals.apply_async(retry=False)
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


# --- cancelling -------------------------------------------------------------------


@transaction.atomic
def cancel_rental(
    *,
    rental: Rental,
    reason: str,
    by_user: Any = None,
    cancellation_fee: Decimal = Decimal("0"),
) -> Payment | None:
    """Cancel an order and give back what it no longer owes (§5).

    Customers may cancel PENDING orders; staff also ONGOING and OVERDUE ones,
    optionally with a ``cancellation_fee`` (e.g. a no-show). Open charges are
    cancelled, the car is freed, ``net_paid − cancellation_fee`` is refunded
    the way it came in (``refund_due_rows``: one row per charge; cash and
    parts with nobody to receive them flagged for the counter), and the
    customer is notified. Locks: vehicle → rental → payments.
    Returns the refund Payment or None.
    """
    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    from_status = locked.status
    reason, fee = selectors.check_cancellation(
        rental=locked, reason=reason, by_user=by_user, cancellation_fee=cancellation_fee
    )

    cancel_open_charges(rental=locked, reason=_("Order cancelled"), actor=by_user)
    transition_rental(
        rental=locked,
        to=Rental.Status.CANCELLED,
        by_user=by_user,
        event="cancelled",
        payload={"reason": reason, "cancellation_fee": str(fee)},
        cancel_reason=reason,
        cancelled_at=timezone.now(),
        cancellation_fee=fee,
    )
    if from_status in Rental.ON_ROAD_STATUSES:
        _release_vehicle(vehicle=vehicle, rental=locked)

    due = refund_due_rows(rental=locked, reason="cancellation", by_user=by_user)
    # The notice says the fee and its reason, what is refunded and what is
    # handed back at the counter (accounts.wording "cancelled").
    notify(
        user=locked.customer.user,
        rental=locked,
        notification_type=Notification.Type.ORDER_CANCELLED,
        kind="cancelled",
        params={
            "order": locked.pk,
            "reason": reason,
            "fee": str(fee),
            "refunded": str(due.refunded),
            "manual": str(due.manual),
            "store": locked.pickup_location.name,
        },
    )
    rental.copy_state_from(locked)
    return due.first


# --- pick-up and return -------------------------------------------------------------


@transaction.atomic
def pickup_rental(
    *,
    rental: Rental,
    by_user: Any = None,
    picked_up_at: datetime | None = None,
    location: Location | None = None,
) -> Rental:
    """Staff hands the car over: PENDING → ONGOING, car RENTED (rules in
    ``plan_pickup``: at most EARLY_PICKUP_MINUTES early, at the store where the
    car stands). A hand-over at another store than the booked one records the
    real store as the pick-up store and re-prices the one-way fee from it; the
    audit row keeps both. Locks: vehicle → rental."""
    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    plan = selectors.plan_pickup(rental=locked, vehicle=vehicle, location=location, picked_up_at=picked_up_at)
    target = Rental.Status.OVERDUE if plan.picked_up_at > locked.end_time else Rental.Status.ONGOING
    fields: dict[str, Any] = {"picked_up_at": plan.picked_up_at}
    payload = {}
    if plan.moves_store:
        fields.update(pickup_location=plan.location, cross_location_fee=plan.cross_location_fee)
        payload = {
            "booked_pickup_location": plan.booked_location.pk,
            "booked_pickup_location_name": str(plan.booked_location),
            "pickup_location": plan.location.pk,
            "pickup_location_name": str(plan.location),
            "booked_cross_location_fee": str(plan.booked_cross_location_fee),
            "cross_location_fee": str(plan.cross_location_fee),
        }
    transition_rental(rental=locked, to=target, by_user=by_user, event="picked_up", payload=payload, **fields)
    _occupy_vehicle(vehicle)
    if plan.moves_store:
        # The order total changed with the one-way fee; money paid for a fee
        # that no longer applies goes back at once, as any overpayment does.
        locked.refresh_financials()
        refund_amount_due(rental=locked, reason="repriced", by_user=by_user)
    rental.copy_state_from(locked)
    return locked


@transaction.atomic
def process_return(
    *,
    rental: Rental,
    returned_at: datetime,
    location: Location,
    damage_fee: Decimal = Decimal("0"),
    note: str = "",
    by_user: Any = None,
) -> Rental:
    """Staff takes a car back (§5): records time and store, computes the overdue
    and one-way fees, adds the damage fee, completes the order, frees the car
    (which now stands at ``location``), then refunds the deposit less any fees
    the ledger doesn't cover. Locks: vehicle → rental → payments."""
    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    # The checks and fees on a copy (as the preview computes them), then the moves.
    draft = copy.copy(locked)
    on_road = selectors.prepare_return(
        rental=draft, returned_at=returned_at, location=location, damage_fee=damage_fee, note=note
    )
    if locked.status != on_road:
        # A PENDING order whose start has passed is on the road (§5): the
        # clock's move is made, and audited, before the return.
        transition_rental(rental=locked, to=on_road, event="status_by_time")
    transition_rental(
        rental=locked,
        to=Rental.Status.COMPLETED,
        by_user=by_user,
        event="returned",
        payload={
            "returned_at": returned_at.isoformat(),
            "location": location.pk,
            "overdue_fee": str(draft.overdue_fee),
            "cross_location_fee": str(draft.cross_location_fee),
            "damage_fee": str(draft.damage_fee),
            "note": note,
        },
        **{name: getattr(draft, name) for name in selectors.RETURN_FIELDS},
    )
    _release_vehicle(vehicle=vehicle, rental=locked, location=location)
    locked.refresh_financials()
    refund_amount_due(rental=locked, reason="deposit", by_user=by_user)
    remaining = locked.money_figures().remaining
    notify(
        user=locked.customer.user,
        rental=locked,
        notification_type=Notification.Type.RENTAL_RETURNED,
        kind="returned",
        params={"order": locked.pk, "remaining": str(remaining)},
    )
    rental.copy_state_from(locked)
    return locked
