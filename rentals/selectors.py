"""Reads about rentals for the pages and the services (no writes, no locks).

The read-side rules live here once: which status an order has by the clock,
whether it may be cancelled, paid or returned, which staff actions apply, and
the previews of a cancellation and of a return, computed by the same
functions the services then apply (``rentals.services``).
"""

import copy
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts import refund_rules as ledger
from accounts.figures import MoneyFigures
from car_rental_system import bounds
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals import pricing
from rentals.exceptions import InvalidTransition, RentalError
from rentals.models import Rental
from vehicles.models import Location, Vehicle


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
    return [(start, None if status == Rental.Status.OVERDUE or end <= now else end) for start, end, status in rows]


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
    open_ended = False  # an overdue rental in the way: no free period known
    # Periods come by start: each one that overlaps the candidate pushes it to
    # that period's end; the first one starting after the candidate's end
    # (and so every later one) leaves it free.
    for busy_start, busy_end in periods:
        if busy_start >= candidate + length:
            break
        if busy_end is None:
            open_ended = True
            break
        if busy_end > candidate:
            candidate = _ceil_minute(busy_end)
    return PeriodCheck(
        start_time=start_time,
        end_time=end_time,
        taken_from=taken[0] if taken else None,
        taken_until=taken[1] if taken else None,
        next_start=None if open_ended else candidate,
        next_end=None if open_ended else candidate + length,
    )


def _local(dt: datetime) -> str:
    return date_format(timezone.localtime(dt), "Y-m-d H:i")


def _is_staff(user: Any) -> bool:
    return bool(getattr(user, "is_staff", False))


# --- status by the clock ------------------------------------------------------------


def road_status(*, rental: Rental, now: datetime | None = None) -> str:
    """The stored status, except that a PENDING order whose time has come is
    what the clock says (§5: on the road from ``start_time`` even if no page
    has refreshed it yet; an unpaid one past its deadline has lapsed)."""
    if rental.status == Rental.Status.PENDING:
        return rental.status_by_time(now)
    return rental.status


def is_on_road(*, rental: Rental, now: datetime | None = None) -> bool:
    """ONGOING/OVERDUE by the clock: the car is out (PENDING past its start counts)."""
    return rental.status_by_time(now) in Rental.ON_ROAD_STATUSES


def can_cancel(*, rental: Rental, by_user: Any = None, now: datetime | None = None) -> bool:
    """Whether ``check_cancellation`` lets ``by_user`` cancel the order (its
    status part): customers cancel orders not yet on the road by the clock;
    staff any active one (§5)."""
    if not _is_staff(by_user) and is_on_road(rental=rental, now=now):
        return False
    return rental.can_transition_to(Rental.Status.CANCELLED)


def action_allowed(*, action: str, rental: Rental, figures: MoneyFigures) -> bool:
    """Which staff action applies to the order now (the buttons of its page)."""
    if action == "pickup":
        return rental.status == Rental.Status.PENDING
    if action == "return":
        return is_on_road(rental=rental)
    if action == "cancel":
        return rental.status in Rental.ACTIVE_STATUSES
    if action == "payment":
        return figures.remaining > ZERO
    if action == "refund":
        return figures.net_paid > ZERO
    raise ValueError(action)


# --- cancelling ---------------------------------------------------------------------


def check_cancellation(
    *, rental: Rental, reason: str, by_user: Any = None, cancellation_fee: Decimal = Decimal("0")
) -> tuple[str, Decimal]:
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
    if is_on_road(rental=rental) and not is_staff:
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


# What a return sets on the order (besides its status), saved by process_return.
RETURN_FIELDS = (
    "actual_return_time",
    "actual_return_location",
    "overdue_fee",
    "cross_location_fee",
    "damage_fee",
    "return_note",
)


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
    status = road_status(rental=rental, now=now)
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


# --- previews -------------------------------------------------------------------------


def refund_parts(
    *, rental: Rental, amount: Decimal, at_counter: bool
) -> tuple[list[ledger.RefundPart], list[ledger.RefundPart]]:
    """How ``accounts.services.refund_due_rows`` would pay back ``amount``:
    (parts written, with their receivers; parts left for staff), by
    ``accounts.selectors.plan_refund``."""
    return ledger.plan_refund(
        charges=ledger.refundable_charges(rental=rental) if amount > ZERO else [],
        amount=amount,
        customer_user_id=rental.customer.user_id,
        at_counter=at_counter,
    )


@dataclass(frozen=True)
class RefundPreviewPart:
    """One part of a refund: back through ``method`` to ``to``, or handed back
    at the counter (cash, or nobody to pay it to online)."""

    amount: Decimal
    method: str
    to: Any  # a User, or None
    at_counter: bool

    @property
    def method_label(self) -> str:
        from accounts.models import Payment

        return str(Payment.Method(self.method).label) if self.method else ""


def _preview_parts(*, rental: Rental, amount: Decimal, at_counter: bool) -> list[RefundPreviewPart]:
    from django.contrib.auth import get_user_model

    from accounts.models import Payment

    to_write, for_staff = refund_parts(rental=rental, amount=amount, at_counter=at_counter)
    users = get_user_model().objects.in_bulk({part.user_id for part in to_write})
    parts = [
        RefundPreviewPart(
            amount=part.amount,
            method=part.method,
            to=users[part.user_id],
            at_counter=part.method == Payment.Method.CASH,
        )
        for part in to_write
    ] + [RefundPreviewPart(amount=part.amount, method=part.method, to=None, at_counter=True) for part in for_staff]
    left_over = quantize_money(amount - sum((p.amount for p in to_write + for_staff), ZERO))
    if left_over > ZERO:  # never expected: the charges hold what is due
        parts.append(RefundPreviewPart(amount=left_over, method="", to=None, at_counter=True))
    return parts


@dataclass(frozen=True)
class CancelPreview:
    fee: Decimal
    reason: str
    net_paid: Decimal
    refund: Decimal
    still_owed: Decimal
    parts: list[RefundPreviewPart]

    @property
    def online(self) -> Decimal:
        return quantize_money(sum((p.amount for p in self.parts if not p.at_counter), ZERO))

    @property
    def at_counter(self) -> Decimal:
        return quantize_money(self.refund - self.online)


def cancel_preview(*, rental: Rental, reason: str = "", fee: Decimal = ZERO, at_counter: bool = True) -> CancelPreview:
    """What ``cancel_rental`` would refund, without writing: the §4 figures of
    an unsaved copy marked CANCELLED with ``fee``, spread over the charges
    with money left the way ``refund_due_rows`` spreads it (SPEC §16).
    ``at_counter``: staff cancel at the counter (cash handed back now); a
    customer's own cancel leaves cash for the store."""
    draft = copy.copy(rental)
    draft.status = Rental.Status.CANCELLED
    draft.cancellation_fee = fee
    figures = draft.figures_for(*rental.ledger_sums())
    return CancelPreview(
        fee=fee,
        reason=reason,
        net_paid=figures.net_paid,
        refund=figures.refund_due,
        still_owed=figures.remaining,
        parts=_preview_parts(rental=rental, amount=figures.refund_due, at_counter=at_counter),
    )


@dataclass(frozen=True)
class ReturnPreview:
    overdue_fee: Decimal
    cross_location_fee: Decimal
    damage_fee: Decimal
    order_total: Decimal
    owed: Decimal
    net_paid: Decimal
    deposit_refund: Decimal
    still_owed: Decimal
    needs_manual_refund: bool


def return_preview(
    *, rental: Rental, returned_at: datetime, location: Location, damage_fee: Decimal = ZERO
) -> ReturnPreview:
    """What ``process_return`` would compute, without writing: the same
    ``prepare_return`` (its checks raise ValidationError here too) on an unsaved
    copy of the rental, against its current ledger."""
    draft = copy.copy(rental)
    prepare_return(rental=draft, returned_at=returned_at, location=location, damage_fee=damage_fee)
    figures = draft.figures_for(*rental.ledger_sums())
    return ReturnPreview(
        overdue_fee=draft.overdue_fee,
        cross_location_fee=draft.cross_location_fee,
        damage_fee=draft.damage_fee,
        order_total=figures.order_total,
        owed=figures.owed,
        net_paid=figures.net_paid,
        deposit_refund=figures.refund_due,
        still_owed=figures.remaining,
        needs_manual_refund=bool(refund_parts(rental=rental, amount=figures.refund_due, at_counter=True)[1]),
    )
