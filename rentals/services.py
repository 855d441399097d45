"""The rental flows of SPEC §5: booking, status by time, cancelling, returning
and the refund of what an order no longer owes.

Each public function runs in one ``transaction.atomic`` block and locks rows in
the fixed order customer → vehicle → rental → payment (``rentals/locks.py``)
before it reads money. Any failure rolls the whole flow back. Rule violations
raise ``ValidationError`` subclasses (``rentals.exceptions``) with a message a
person can read, and change nothing.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from car_rental_system import bounds
from car_rental_system.bulk import insert_rows
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals import pricing
from rentals.exceptions import BookingConflict, InvalidTransition, RentalError
from rentals.locks import lock_customer, lock_rental, lock_vehicle
from rentals.models import Rental, RentalEvent
from vehicles.models import Location, Vehicle

logger = logging.getLogger(__name__)

MAX_RENTAL_DAYS = 90
STATUS_REFRESH_CACHE_KEY = "rentals:status-refresh"


def _local(dt: datetime) -> str:
    return date_format(timezone.localtime(dt), "Y-m-d H:i")


def _actor(user):
    return user if getattr(user, "pk", None) else None


def record_rental_event(*, rental: Rental, event: str, from_status="", to_status="", actor=None, payload=None):
    return RentalEvent.objects.create(
        rental=rental,
        event=event,
        from_status=from_status,
        to_status=to_status,
        actor=_actor(actor),
        payload=payload or {},
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


def validate_booking_times(start_time: datetime | None, end_time: datetime | None, now: datetime | None = None):
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
        raise RentalError(
            _("A booking can last at most %(days)s days.") % {"days": MAX_RENTAL_DAYS}, code="too_long"
        )


def overlapping_rentals(
    *, vehicle_id, start_time: datetime, end_time: datetime, exclude_pk=None, now: datetime | None = None
):
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


def unpaid_bookings(*, customer, now: datetime | None = None):
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
    customer,
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
    from accounts.models import Notification
    from accounts.services import notify

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
    from accounts.models import Notification
    from accounts.services import cancel_open_charges, notify

    with translation.override(settings.LANGUAGE_CODE):
        reason = _("Not paid in time")
    cancel_open_charges(rental=locked, reason=reason, actor=None)
    from_status = locked.status
    locked.status = Rental.Status.CANCELLED
    locked.cancel_reason = reason
    locked.cancelled_at = now
    locked.save(update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"])
    record_rental_event(
        rental=locked,
        event="lapsed",
        from_status=from_status,
        to_status=locked.status,
        payload={"reason": LAPSE_REASON, "payment_deadline": locked.payment_deadline.isoformat()},
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
        _copy_state(locked, rental)
        return True
    from_status = locked.status
    locked.status = target
    locked.save(update_fields=["status", "updated_at"])
    record_rental_event(rental=locked, event="status_by_time", from_status=from_status, to_status=target)
    _occupy_vehicle(vehicle)
    if target == Rental.Status.OVERDUE:
        _notify_overdue(locked)
    rental.status = target
    return True


def advance_statuses(*, now: datetime | None = None, batch_size: int = 1000, rental_ids=None, dry_run=False) -> dict:
    """Bulk status moves by time for the whole table (or ``rental_ids``).

    PENDING → ONGOING once ``start_time`` has come; PENDING/ONGOING → OVERDUE
    once ``end_time`` has passed; their cars become RENTED. Each batch is one
    transaction with its rows locked; an audit row is written per rental and
    customers of overdue rentals are notified. Returns counts per move.
    """
    from accounts.models import Notification

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


def lapse_unpaid_bookings(*, now: datetime | None = None, rental_ids=None, dry_run=False) -> int:
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


# --- refunds ----------------------------------------------------------------------


def _refund_description(rental: Rental, reason: str):
    """The note of a refund for ``reason``, as code and params
    (``accounts.wording``), so each reader sees it in their language."""
    from accounts.wording import Words

    if reason == "cancellation":
        return Words("refund_cancellation", {"reason": rental.cancel_reason})
    if reason == "late_payment":
        return Words("refund_late_payment")
    if reason == "repriced":
        return Words("refund_repriced")
    return Words(
        "refund_deposit",
        {
            "overdue_fee": str(quantize_money(rental.overdue_fee)),
            "cross_location_fee": str(quantize_money(rental.cross_location_fee)),
            "damage_fee": str(quantize_money(rental.damage_fee)),
        },
    )


@dataclass
class DueRefund:
    """What ``refund_amount_due`` did: the REFUND rows written (one per charge
    the money goes back to) and what is left for staff to hand back."""

    refunds: list = field(default_factory=list)
    manual: Decimal = ZERO

    @property
    def refunded(self) -> Decimal:
        return quantize_money(sum((refund.amount for refund in self.refunds), ZERO))

    @property
    def first(self):
        return self.refunds[0] if self.refunds else None


def _is_staff(user) -> bool:
    return bool(getattr(user, "is_staff", False))


@transaction.atomic
def refund_due_rows(
    *, rental: Rental, reason: str, recipient=None, by_user=None, cap: Decimal | None = None, charge_id=None
) -> DueRefund:
    """Refund what an order no longer owes (§4 ``refund_due``), once, the way
    the money came in (SPEC §16).

    The amount is recomputed from the ledger under the rental lock, so a second
    call, a rerun of a command or a concurrent flow finds nothing due and
    writes nothing. It is spread over the PAID charges that still have money
    left to give back, newest first (``charge_id`` first: a late charge gives
    back its own money), one REFUND row per charge, each going to that
    charge's payer (else the customer's user; ``recipient`` overrides both).
    Money that came in as cash goes back at the counter: unless staff
    (``by_user``) are handing it over now, it is left for them, like a part
    with nobody to pay it to; the rental is then flagged
    ``requires_manual_refund``. ``cap`` limits the refund (a late charge
    refunds at most its own amount). Locks: rental.
    """
    from django.contrib.auth import get_user_model

    from accounts import selectors
    from accounts.services import issue_refund, refund_provider_for

    locked = lock_rental(rental.pk)
    amount = locked.money_figures().refund_due
    if cap is not None:
        amount = min(amount, quantize_money(cap))
    result = DueRefund()
    if amount > ZERO:
        parts = selectors.split_refund(selectors.refundable_charges(locked), amount, first_charge_id=charge_id)
        to_write, _for_staff = selectors.route_refund(
            parts,
            customer_user_id=locked.customer.user_id,
            recipient_id=getattr(recipient, "pk", None),
            at_counter=_is_staff(by_user),
        )
        users = get_user_model().objects.in_bulk({part.user_id for part in to_write})
        for part in to_write:
            result.refunds.append(
                issue_refund(
                    rental=locked,
                    amount=part.amount,
                    user=users[part.user_id],
                    method=part.method,
                    refund_of_id=part.charge_id,
                    provider=refund_provider_for(part.provider),
                    description=_refund_description(locked, reason),
                    actor=by_user,
                    payload={"reason": reason},
                )
            )
        result.manual = quantize_money(amount - result.refunded)
        if result.manual > ZERO:
            if not locked.requires_manual_refund:
                locked.requires_manual_refund = True
                locked.save(update_fields=["requires_manual_refund", "updated_at"])
                record_rental_event(
                    rental=locked,
                    event="manual_refund_required",
                    actor=by_user,
                    payload={"amount": str(result.manual), "reason": reason},
                )
            logger.info("rental %s: %s is to be handed back by staff", locked.pk, format_cny(result.manual))
    locked.refresh_financials()
    _copy_state(locked, rental)
    return result


def refund_amount_due(
    *, rental: Rental, reason: str, recipient=None, by_user=None, cap: Decimal | None = None, charge_id=None
):
    """``refund_due_rows`` for callers that want one answer: the first REFUND
    row written (the newest charge's), or None."""
    return refund_due_rows(
        rental=rental, reason=reason, recipient=recipient, by_user=by_user, cap=cap, charge_id=charge_id
    ).first


def _copy_state(source: Rental, target: Rental) -> None:
    """Let the caller's instance see what the locked copy wrote."""
    if source is target:
        return
    for model_field in source._meta.concrete_fields:
        setattr(target, model_field.attname, getattr(source, model_field.attname))


# --- cancelling -------------------------------------------------------------------


def check_cancellation(*, rental: Rental, reason: str, by_user=None, cancellation_fee: Decimal = Decimal("0")):
    """The rules a cancellation must pass (§5), raising the domain error of
    the first it breaks; returns ``(reason, fee)`` cleaned. ``cancel_rental``
    runs it on the locked row; the staff page's preview runs it as is, so
    both refuse the same input with the same words. No lock, no write."""
    reason = (reason or "").strip()
    if not reason:
        raise RentalError(_("Please tell us why you are cancelling."), code="reason_required")
    fee = quantize_money(cancellation_fee)
    is_staff = bool(getattr(by_user, "is_staff", False))
    if fee < ZERO:
        raise RentalError(_("A cancellation fee can't be negative."), code="negative_fee")
    if fee > ZERO and not is_staff:
        raise RentalError(_("Only staff can charge a cancellation fee."), code="fee_staff_only")
    if bounds.exceeds_max_order_total(fee):
        raise RentalError(bounds.amount_too_large_message(_("cancellation fee")), code="fee_too_large")
    # From start_time on the order is on the road (§5) even if no page has
    # refreshed its stored status yet; only staff may end it then.
    if rental.status_by_time(timezone.now()) in Rental.ON_ROAD_STATUSES and not is_staff:
        raise InvalidTransition(
            _("The car has been picked up; please contact the store to end this rental."),
            code="staff_only",
        )
    rental.assert_transition(Rental.Status.CANCELLED)
    if fee > rental.order_total:
        raise RentalError(
            _("The cancellation fee can't exceed the order total of %(total)s.")
            % {"total": format_cny(rental.order_total)},
            code="fee_too_high",
        )
    return reason, fee


@transaction.atomic
def cancel_rental(*, rental: Rental, reason: str, by_user=None, cancellation_fee: Decimal = Decimal("0")):
    """Cancel an order and give back what it no longer owes (§5).

    Customers may cancel PENDING orders; staff also ONGOING and OVERDUE ones,
    optionally with a ``cancellation_fee`` (e.g. a no-show). Open charges are
    cancelled, the car is freed, ``net_paid − cancellation_fee`` is refunded
    the way it came in (``refund_due_rows``: one row per charge; cash and
    parts with nobody to receive them flagged for the counter), and the
    customer is notified. Locks: vehicle → rental → payments.
    Returns the refund Payment or None.
    """
    from accounts.models import Notification
    from accounts.services import cancel_open_charges, notify

    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    from_status = locked.status
    reason, fee = check_cancellation(rental=locked, reason=reason, by_user=by_user, cancellation_fee=cancellation_fee)

    cancel_open_charges(rental=locked, reason=_("Order cancelled"), actor=by_user)
    locked.status = Rental.Status.CANCELLED
    locked.cancel_reason = reason
    locked.cancelled_at = timezone.now()
    locked.cancellation_fee = fee
    locked.save(update_fields=["status", "cancel_reason", "cancelled_at", "cancellation_fee", "updated_at"])
    record_rental_event(
        rental=locked,
        event="cancelled",
        from_status=from_status,
        to_status=locked.status,
        actor=by_user,
        payload={"reason": reason, "cancellation_fee": str(fee)},
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
    _copy_state(locked, rental)
    return due.first


# --- pick-up and return -------------------------------------------------------------


@dataclass(frozen=True)
class PickupPlan:
    """What a hand-over will record: where, when, and the one-way fee it leads to."""

    location: Location
    booked_location: Location
    picked_up_at: datetime
    cross_location_fee: Decimal
    booked_cross_location_fee: Decimal
    order_total: Decimal

    @property
    def moves_store(self) -> bool:
        return self.location.pk != self.booked_location.pk


def plan_pickup(
    *, rental: Rental, vehicle: Vehicle, location: Location | None = None, picked_up_at: datetime | None = None
) -> PickupPlan:
    """The checks of a hand-over and what it will record (reads only; the pick-up
    page shows it before the clerk confirms, ``pickup_rental`` applies it).

    The car is handed over at the store where it stands (``vehicle.location``,
    the default of ``location``); a clerk naming another store is refused. When
    the car stands elsewhere than the booked pick-up store (it came back to
    another store since the booking), the hand-over moves the order's pick-up
    store there and the one-way fee is priced from it. At most
    EARLY_PICKUP_MINUTES before ``start_time``; earlier, the order must be rebooked.
    """
    if rental.status != Rental.Status.PENDING:
        raise InvalidTransition(
            _("Only an order waiting for pick-up can be handed over (this one is %(status)s).")
            % {"status": rental.get_status_display()},
            code="not_pending",
        )
    if vehicle.status in (Vehicle.Status.MAINTENANCE, Vehicle.Status.RETIRED):
        raise RentalError(_("This car is in maintenance or retired."), code="vehicle_unavailable")
    if Rental.objects.filter(vehicle_id=vehicle.pk, status__in=Rental.ON_ROAD_STATUSES).exclude(pk=rental.pk).exists():
        raise RentalError(_("This car is still out on another rental."), code="vehicle_out")
    now = timezone.now()
    at = picked_up_at or now
    if at > now + timedelta(minutes=5):
        raise RentalError(_("The hand-over time can't be in the future."), code="pickup_in_future")
    early = timedelta(minutes=settings.EARLY_PICKUP_MINUTES)
    if at < rental.start_time - early:
        raise RentalError(
            _(
                "This order starts at %(start)s; a car can be handed over at most %(minutes)s minutes early. "
                "Please rebook the order for the time the customer wants the car."
            )
            % {"start": _local(rental.start_time), "minutes": settings.EARLY_PICKUP_MINUTES},
            code="pickup_too_early",
        )
    stands_at = vehicle.location
    location = location or stands_at
    if location.pk != stands_at.pk:
        raise RentalError(
            _("The car stands at %(actual)s, not at %(store)s: it can only be handed over where it stands.")
            % {"actual": stands_at, "store": location},
            code="wrong_pickup_store",
        )
    cross_location_fee = pricing.cross_location_fee_for(location.pk, rental.return_location_id)
    return PickupPlan(
        location=location,
        booked_location=rental.pickup_location,
        picked_up_at=at,
        cross_location_fee=cross_location_fee,
        booked_cross_location_fee=quantize_money(rental.cross_location_fee),
        order_total=quantize_money(rental.order_total - rental.cross_location_fee + cross_location_fee),
    )


@transaction.atomic
def pickup_rental(
    *,
    rental: Rental,
    by_user=None,
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
    plan = plan_pickup(rental=locked, vehicle=vehicle, location=location, picked_up_at=picked_up_at)
    target = Rental.Status.OVERDUE if plan.picked_up_at > locked.end_time else Rental.Status.ONGOING
    fields = ["status", "picked_up_at", "updated_at"]
    payload = {}
    if plan.moves_store:
        locked.pickup_location = plan.location
        locked.cross_location_fee = plan.cross_location_fee
        fields += ["pickup_location", "cross_location_fee"]
        payload = {
            "booked_pickup_location": plan.booked_location.pk,
            "booked_pickup_location_name": str(plan.booked_location),
            "pickup_location": plan.location.pk,
            "pickup_location_name": str(plan.location),
            "booked_cross_location_fee": str(plan.booked_cross_location_fee),
            "cross_location_fee": str(plan.cross_location_fee),
        }
    locked.status = target
    locked.picked_up_at = plan.picked_up_at
    locked.save(update_fields=fields)
    record_rental_event(
        rental=locked,
        event="picked_up",
        from_status=Rental.Status.PENDING,
        to_status=target,
        actor=by_user,
        payload=payload,
    )
    _occupy_vehicle(vehicle)
    if plan.moves_store:
        # The order total changed with the one-way fee; money paid for a fee
        # that no longer applies goes back at once, as any overpayment does.
        locked.refresh_financials()
        refund_amount_due(rental=locked, reason="repriced", by_user=by_user)
    _copy_state(locked, rental)
    return locked


def prepare_return(
    *,
    rental: Rental,
    returned_at: datetime,
    location: Location,
    damage_fee: Decimal = Decimal("0"),
    note: str = "",
    now: datetime | None = None,
) -> str:
    """The checks of a return and the fees it sets, in one place: sets the
    return fields, the §4 fees and COMPLETED on ``rental`` without saving, and
    returns the status it had. ``process_return`` calls it on the locked row;
    the staff return preview on an unsaved copy, so both refuse the same input
    and show the same figures.

    Refuses a negative damage fee, one or an order total above MAX_ORDER_TOTAL
    (SPEC §16 bounds), a missing or naive time, a time more than 5 minutes
    ahead, an order that isn't on the road and a time before the hand-over. The overdue fee uses the daily rate the order was booked at; the
    one-way fee compares the return store with the (real) pick-up store.
    """
    damage_fee = quantize_money(damage_fee)
    if damage_fee < ZERO:
        raise RentalError(_("A damage fee can't be negative."), code="negative_fee")
    if bounds.exceeds_max_order_total(damage_fee):
        raise RentalError(bounds.amount_too_large_message(_("damage fee")), code="fee_too_large")
    if returned_at is None or timezone.is_naive(returned_at):
        raise RentalError(_("Please give the return time."), code="time_required")
    now = now or timezone.now()
    if returned_at > now + timedelta(minutes=5):
        raise RentalError(_("The return time can't be in the future."), code="return_in_future")
    # A rental whose start has passed is on the road even if no page refreshed it yet.
    status = rental.status
    if status == Rental.Status.PENDING and rental.status_by_time(now) != Rental.Status.PENDING:
        status = rental.status_by_time(now)
    if status not in Rental.ON_ROAD_STATUSES:
        raise InvalidTransition(
            _("Only a car that is out on rental can be returned (this order is %(status)s).")
            % {"status": Rental.Status(status).label},
            code="not_on_road",
        )
    handed_over = min(filter(None, [rental.picked_up_at, rental.start_time]))
    if returned_at < handed_over:
        raise RentalError(_("The return time can't be before the pick-up."), code="return_before_pickup")

    overdue_fee = pricing.overdue_fee_for(rental.end_time, returned_at, rental.daily_rate)
    cross_location_fee = pricing.cross_location_fee_for(rental.pickup_location_id, location.pk)
    order_total = rental.total_amount + rental.deposit + cross_location_fee + overdue_fee + damage_fee
    if bounds.exceeds_max_order_total(order_total):
        raise RentalError(
            _("With these fees the order total would be more than %(max)s.")
            % {"max": format_cny(bounds.max_order_total())},
            code="order_total_too_large",
        )
    rental.actual_return_time = returned_at
    rental.actual_return_location = location
    rental.overdue_fee = overdue_fee
    rental.cross_location_fee = cross_location_fee
    rental.damage_fee = damage_fee
    rental.return_note = note or ""
    rental.status = Rental.Status.COMPLETED
    return status


@transaction.atomic
def process_return(
    *,
    rental: Rental,
    returned_at: datetime,
    location: Location,
    damage_fee: Decimal = Decimal("0"),
    note: str = "",
    by_user=None,
) -> Rental:
    """Staff takes a car back (§5): records time and store, computes the overdue
    and one-way fees, adds the damage fee, completes the order, frees the car
    (which now stands at ``location``), then refunds the deposit less any fees
    the ledger doesn't cover. Locks: vehicle → rental → payments."""
    from accounts.models import Notification
    from accounts.services import notify

    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    from_status = prepare_return(
        rental=locked, returned_at=returned_at, location=location, damage_fee=damage_fee, note=note
    )
    damage_fee = locked.damage_fee
    locked.save()
    record_rental_event(
        rental=locked,
        event="returned",
        from_status=from_status,
        to_status=locked.status,
        actor=by_user,
        payload={
            "returned_at": returned_at.isoformat(),
            "location": location.pk,
            "overdue_fee": str(locked.overdue_fee),
            "cross_location_fee": str(locked.cross_location_fee),
            "damage_fee": str(damage_fee),
            "note": note,
        },
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
    _copy_state(locked, rental)
    return locked


