"""Reads about rentals for the pages and the services (no writes, no locks).

The read-side rules live here once: which status an order has by the clock,
whether it may be cancelled, paid or returned, which staff actions apply, and
the previews of a cancellation and of a return, computed by the same
functions the services then apply (``rentals.services``).
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format

from accounts import refund_rules as ledger
from accounts.figures import MoneyFigures
from car_rental_system import bounds
from car_rental_system.money import ZERO, quantize_money
from rentals.models import CancellationPolicy, Rental
from rentals.pricing import days_rent_after_discount
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
    taken_until: datetime | None
    next_start: datetime | None
    next_end: datetime | None
    # The rental in the way is overdue: ``taken_until`` is the end of its hold.
    taken_by_overdue: bool = False

    @property
    def is_free(self) -> bool:
        return self.taken_from is None


def _ceil_minute(moment: datetime) -> datetime:
    # The booking form takes whole minutes; an offer must be typeable as it is.
    floored = moment.replace(second=0, microsecond=0)
    return floored if floored == moment else floored + timedelta(minutes=1)


def is_late(*, status: str, end_time: datetime, now: datetime) -> bool:
    """Still active past its end: OVERDUE, or not refreshed yet."""
    return status == Rental.Status.OVERDUE or end_time <= now


def held_until(*, status: str, end_time: datetime, now: datetime) -> datetime:
    """The end of an active rental for the overlap check (SPEC §17): its
    ``end_time``, or for a late one max(end_time, now + OVERDUE_HOLD_HOURS)."""
    if is_late(status=status, end_time=end_time, now=now):
        return max(end_time, bounds.overdue_hold_until(now))
    return end_time


def blocking_periods(
    *, vehicle_id: int, after: datetime, now: datetime | None = None
) -> list[tuple[datetime, datetime, bool]]:
    """(start, end, late) of the car's PENDING/ONGOING/OVERDUE rentals that
    hold it after ``after``, by start; a late rental's end is the end of its
    hold (``held_until``): the booking rule of ``overlapping_rentals``. One
    query."""
    now = now or timezone.now()
    rows = (
        Rental.objects.filter(
            bounds.holds_car_after(after, now), vehicle_id=vehicle_id, status__in=Rental.ACTIVE_STATUSES
        )
        .order_by("start_time", "pk")
        .values_list("start_time", "end_time", "status")
    )
    return [
        (start, held_until(status=status, end_time=end, now=now), is_late(status=status, end_time=end, now=now))
        for start, end, status in rows
    ]


def check_period(
    *, vehicle_id: int, start_time: datetime, end_time: datetime, now: datetime | None = None
) -> PeriodCheck:
    """Is the car free from ``start_time`` to ``end_time`` (the booking rule:
    no overlap with a PENDING/ONGOING/OVERDUE rental)? When it is not, also
    the earliest period of the same length that starts at or after
    ``start_time`` on a whole minute and overlaps no such rental (an overdue
    one counts until the end of its hold). One query."""
    length = end_time - start_time
    periods = blocking_periods(vehicle_id=vehicle_id, after=start_time, now=now)
    taken = next(((s, e, late) for s, e, late in periods if s < end_time and e > start_time), None)
    candidate = start_time
    # Periods come by start: each one that overlaps the candidate pushes it to
    # that period's end; the first one starting after the candidate's end
    # (and so every later one) leaves it free.
    for busy_start, busy_end, _late in periods:
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
        taken_by_overdue=bool(taken and taken[2]),
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
    if action in ("cancel", "extend"):
        return rental.status in Rental.ACTIVE_STATUSES
    if action == "payment":
        return figures.remaining > ZERO
    if action == "refund":
        return figures.net_paid > ZERO
    raise ValueError(action)


# --- cancelling ---------------------------------------------------------------------

FREE, LATE, NO_SHOW, ON_ROAD = "free", "late", "no_show", "on_road"


@dataclass(frozen=True)
class CancelTerms:
    """What cancelling the order costs at ``now`` under the policy version it
    was booked under (SPEC §19), one rule for the pages, the staff page and
    ``cancel_rental``.

    ``tier``: FREE until ``free_until`` (inclusive), LATE until the start,
    NO_SHOW after the start with the car never picked up, ON_ROAD once it was.
    ``fee`` is the policy's fee now, taken only from money kept (net paid less
    refunds in flight): what a customer's cancel costs and what staff get by
    default. ``ceiling`` is the most staff may charge: the policy's fee; for a
    no-show the no-show fee; once on the road the order total (§5).
    """

    policy: CancellationPolicy
    tier: str
    free_until: datetime
    late_fee: Decimal
    no_show_fee: Decimal
    kept: Decimal
    fee: Decimal
    ceiling: Decimal

    @property
    def is_free(self) -> bool:
        return self.tier == FREE

    @property
    def policy_fee(self) -> Decimal:
        """The fee the tier sets before it is limited to what was paid."""
        if self.tier == FREE:
            return ZERO
        return self.no_show_fee if self.tier == NO_SHOW else self.late_fee


def policy_fees(
    *, policy: CancellationPolicy, total_amount: Decimal, daily_rate: Decimal, discount_rate: Decimal
) -> tuple[Decimal, Decimal]:
    """(late cancellation fee, no-show fee) of a booking under ``policy``: the
    policy's days of rent at the booked daily rate after the booked discount,
    each at most the rental fee ``total_amount`` (SPEC §19)."""

    def fee_of(days: int) -> Decimal:
        return min(total_amount, days_rent_after_discount(days, daily_rate, discount_rate))

    return fee_of(policy.late_cancel_fee_days), fee_of(policy.no_show_fee_days)


def cancel_terms(*, rental: Rental, now: datetime | None = None, figures: MoneyFigures | None = None) -> CancelTerms:
    """The cancellation terms of ``rental`` at ``now`` (``CancelTerms``);
    reads the ledger unless ``figures`` are given."""
    now = now or timezone.now()
    policy = rental.policy
    figures = figures or rental.money_figures()
    kept = max(ZERO, quantize_money(figures.net_paid - figures.refund_in_flight))

    late_fee, no_show_fee = policy_fees(
        policy=policy,
        total_amount=rental.total_amount,
        daily_rate=rental.daily_rate,
        discount_rate=rental.discount_rate,
    )
    free_until = rental.start_time - timedelta(hours=policy.free_until_hours)
    if rental.picked_up_at is not None:
        tier, fee, ceiling = ON_ROAD, min(late_fee, kept), rental.order_total
    elif now > rental.start_time:
        tier, fee, ceiling = NO_SHOW, min(no_show_fee, kept), no_show_fee
    elif now > free_until:
        tier, fee = LATE, min(late_fee, kept)
        ceiling = fee
    else:
        tier, fee, ceiling = FREE, ZERO, ZERO
    return CancelTerms(
        policy=policy,
        tier=tier,
        free_until=free_until,
        late_fee=late_fee,
        no_show_fee=no_show_fee,
        kept=kept,
        fee=fee,
        ceiling=max(ceiling, fee),
    )


# --- pick-up and return -------------------------------------------------------------


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
    at the counter (counter money: cash or the card terminal; or nobody to
    pay it to online)."""

    amount: Decimal
    method: str
    to: Any  # a User, or None
    at_counter: bool
    counter_money: bool = False

    @property
    def method_label(self) -> str:
        from accounts.models import Payment

        return str(Payment.Method(self.method).label) if self.method else ""


def _preview_parts(*, rental: Rental, amount: Decimal, at_counter: bool) -> list[RefundPreviewPart]:
    from django.contrib.auth import get_user_model

    to_write, for_staff = refund_parts(rental=rental, amount=amount, at_counter=at_counter)
    users = get_user_model().objects.in_bulk({part.user_id for part in to_write})
    parts = [
        RefundPreviewPart(
            amount=part.amount,
            method=part.method,
            to=users[part.user_id],
            at_counter=ledger.is_counter_money(method=part.method, provider=part.provider),
            counter_money=ledger.is_counter_money(method=part.method, provider=part.provider),
        )
        for part in to_write
    ] + [
        RefundPreviewPart(
            amount=part.amount,
            method=part.method,
            to=None,
            at_counter=True,
            counter_money=ledger.is_counter_money(method=part.method, provider=part.provider),
        )
        for part in for_staff
    ]
    left_over = quantize_money(amount - sum((p.amount for p in to_write + for_staff), ZERO))
    if left_over > ZERO:  # never expected: the charges hold what is due
        parts.append(RefundPreviewPart(amount=left_over, method="", to=None, at_counter=True))
    return parts


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
    ends, for this check, at max(end_time, now + OVERDUE_HOLD_HOURS) (SPEC
    §17): the car is kept for its late driver for a day and can be booked
    after that (``held_until``).
    """
    now = now or timezone.now()
    qs = Rental.objects.filter(
        bounds.holds_car_after(start_time, now),
        vehicle_id=vehicle_id,
        status__in=Rental.ACTIVE_STATUSES,
        start_time__lt=end_time,
    )
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs


def _unpaid_holding(now: datetime | None) -> QuerySet[Rental]:
    """Bookings that still hold a car without any payment (SPEC §16): PENDING,
    nothing paid, inside their payment window and before their start."""
    now = now or timezone.now()
    window = timedelta(minutes=settings.BOOKING_PAYMENT_MINUTES)
    return Rental.objects.filter(
        status=Rental.Status.PENDING,
        amount_paid__lte=0,
        created_at__gt=now - window,
        start_time__gt=now,
    )


def unpaid_bookings(*, customer: Any, now: datetime | None = None) -> QuerySet[Rental]:
    """The customer's bookings that still hold a car without any payment (SPEC §16)."""
    return _unpaid_holding(now).filter(customer_id=customer.pk)


def unpaid_bookings_from_ip(*, client_ip: str, now: datetime | None = None) -> QuerySet[Rental]:
    """The unpaid bookings, of any customer, made from this client address (SPEC §17)."""
    return _unpaid_holding(now).filter(client_ip=client_ip)
