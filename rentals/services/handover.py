"""Pick-up and return at the counter (SPEC §5, §16): the rules of each, the fees a return sets, and the flows."""

import copy
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification
from accounts.services import notify, refund_amount_due
from car_rental_system import bounds
from car_rental_system.money import ZERO, format_cny, quantize_money
from rentals import pricing
from rentals.early_return import apply_early_return
from rentals.exceptions import InvalidTransition, RentalError
from rentals.locks import lock_rental, lock_vehicle
from rentals.models import Rental
from rentals.selectors import (
    road_status,
)
from rentals.services.booking import _local
from rentals.services.car_checks import CheckInput, check_pickup, check_return, record_check
from rentals.services.transitions import _occupy_vehicle, _release_vehicle, transition_rental
from vehicles.models import Location, Vehicle

logger = logging.getLogger(__name__)


@transaction.atomic
def pickup_rental(
    *,
    rental: Rental,
    by_user: Any = None,
    picked_up_at: datetime | None = None,
    location: Location | None = None,
    check: CheckInput | None = None,
) -> Rental:
    """Staff hands the car over: PENDING → ONGOING, car RENTED (rules in
    ``plan_pickup``: at most EARLY_PICKUP_MINUTES early, at the store where the
    car stands). A hand-over at another store than the booked one records the
    real store as the pick-up store and re-prices the one-way fee from it; the
    audit row keeps both. ``check``: the clerk's check of the driver's papers
    and the car (``car_checks.check_pickup``), kept with the order and in the
    audit row; the staff page always gives one. Locks: vehicle → rental."""
    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    plan = plan_pickup(rental=locked, vehicle=vehicle, location=location, picked_up_at=picked_up_at)
    target = Rental.Status.OVERDUE if plan.picked_up_at > locked.end_time else Rental.Status.ONGOING
    fields: dict[str, Any] = {"picked_up_at": plan.picked_up_at}
    payload: dict[str, Any] = {}
    if check is not None:
        check_pickup(check=check, picked_up_at=plan.picked_up_at)
        row = record_check(rental=locked, stage="pickup", check=check, by_user=by_user, at=timezone.now())
        payload["check"] = row.as_payload()
    if plan.moves_store:
        fields.update(pickup_location=plan.location, cross_location_fee=plan.cross_location_fee)
        payload |= {
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
    check: CheckInput | None = None,
) -> Rental:
    """Staff takes a car back (§5): records time and store, computes the overdue
    and one-way fees, adds the damage fee, completes the order, frees the car
    (which now stands at ``location``), then refunds the deposit less any fees
    the ledger doesn't cover. ``check``: the car's readings at return
    (``car_checks.check_return``), kept like the hand-over's. Locks: vehicle →
    rental → payments."""
    vehicle = lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    # The checks and fees on a copy (as the preview computes them), then the moves.
    draft = copy.copy(locked)
    on_road = prepare_return(
        rental=draft, returned_at=returned_at, location=location, damage_fee=damage_fee, note=note, check=check
    )
    checked = {}
    if check is not None:
        row = record_check(rental=locked, stage="return", check=check, by_user=by_user, at=timezone.now())
        checked["check"] = row.as_payload()
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
            "early_return_fee": str(draft.early_return_fee),
            "total_amount": str(draft.total_amount),
            "note": note,
            **checked,
        },
        **{name: getattr(draft, name) for name in RETURN_FIELDS},
    )
    _release_vehicle(vehicle=vehicle, rental=locked, location=location)
    locked.refresh_financials()
    refund_amount_due(rental=locked, reason="deposit", by_user=by_user)
    _notify_returned(locked)
    rental.copy_state_from(locked)
    return locked


def _notify_returned(rental: Rental) -> None:
    """The customer's return notice: what remains, and a damage fee with the
    clerk's note (its basis)."""
    notify(
        user=rental.customer.user,
        rental=rental,
        notification_type=Notification.Type.RENTAL_RETURNED,
        kind="returned",
        params={
            "order": rental.pk,
            "remaining": str(rental.money_figures().remaining),
            "damage_fee": str(rental.damage_fee),
            "note": rental.return_note if rental.damage_fee > 0 else "",
            "early_return_fee": str(rental.early_return_fee),
            "rent": str(rental.total_amount - rental.early_return_fee),
        },
    )


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
    "total_amount",
    "discount_amount",
    "early_return_fee",
    "overdue_fee",
    "cross_location_fee",
    "damage_fee",
    "return_note",
)


def _clean_damage_fee(damage_fee: Any) -> Decimal:
    """A damage fee typed by staff: a finite amount, not negative, within the bounds (§16)."""
    damage_fee = bounds.clean_money(damage_fee, error=RentalError)
    if damage_fee < ZERO:
        raise RentalError(_("A damage fee can't be negative."), code="negative_fee")
    if bounds.exceeds_max_order_total(damage_fee):
        raise RentalError(bounds.amount_too_large_message(_("damage fee")), code="fee_too_large")
    return damage_fee


def prepare_return(
    *,
    rental: Rental,
    returned_at: datetime,
    location: Location,
    damage_fee: Decimal = Decimal("0"),
    note: str = "",
    now: datetime | None = None,
    check: CheckInput | None = None,
) -> str:
    """The checks of a return and the fees it sets, in one place: sets the
    return fields, the §4 fees and COMPLETED on ``rental`` without saving, and
    returns the status it had. ``process_return`` calls it on the locked row,
    the staff return preview on an unsaved copy: both refuse the same input.
    Refuses a negative damage fee, one or an order total above MAX_ORDER_TOTAL
    (§16 bounds), a missing or naive time, a time more than 5 minutes ahead, an
    order not on the road, a time before the hand-over and (``check``) a mileage
    below the hand-over's. The overdue fee uses the booked daily rate; the
    one-way fee compares the return store with the (real) pick-up store."""
    damage_fee = _clean_damage_fee(damage_fee)
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
    if check is not None:
        check_return(check=check, rental=rental)

    apply_early_return(rental, returned_at)  # back early (§19): used days' rent + fee
    cross_location_fee = pricing.cross_location_fee_for(rental.pickup_location_id, location.pk)
    overdue_fee = bounds.late_fee_within_cap(
        pricing.overdue_fee_for(rental.end_time, returned_at, rental.daily_rate),
        rest_of_total=rental.total_amount + rental.deposit + cross_location_fee,
    )
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
