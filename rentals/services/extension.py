"""Extending an order (SPEC §19): a later return time at the booked rate and
discount, when the car is free until then, and ``extend_rental``.

``extension_preview`` applies the same rules to an unsaved copy without
locks (the customer's page and the staff page show it before confirming);
``extend_rental`` applies them again under the locks customer → vehicle →
rental and writes the new end, the new rent, the audit row and the notice.
"""

import copy
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification
from accounts.services import notify
from car_rental_system import bounds
from car_rental_system.money import quantize_money
from rentals import pricing
from rentals.exceptions import BookingConflict, RentalError
from rentals.locks import lock_customer, lock_rental, lock_vehicle
from rentals.models import Rental
from rentals.selectors import held_until, overlapping_rentals
from rentals.services.booking import _local, max_rental_days
from rentals.services.transitions import record_rental_event, transition_rental

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtensionPreview:
    """What extending the order to ``new_end_time`` costs: the rent over the
    whole period at the booked rate and discount, the difference to pay, and
    what remains to pay on the order afterwards."""

    old_end_time: datetime
    new_end_time: datetime
    old_days: int
    days: int
    daily_rate: Decimal
    base_rent: Decimal
    discount_amount: Decimal
    old_total_amount: Decimal
    total_amount: Decimal
    difference: Decimal
    order_total: Decimal
    remaining: Decimal


def _rent_at_booked_rate(rental: Rental, end_time: datetime) -> tuple[int, Decimal, Decimal, Decimal]:
    """(days, base rent, discount, rent after discount) from the order's start
    to ``end_time`` at the daily rate and discount rate it was booked at."""
    days = pricing.rental_days(rental.start_time, end_time)
    base_rent = quantize_money(days * Decimal(rental.daily_rate))
    discount = quantize_money(base_rent * Decimal(rental.discount_rate))
    return days, base_rent, discount, quantize_money(base_rent - discount)


def _check_times(rental: Rental, new_end_time: datetime | None, now: datetime) -> datetime:
    if new_end_time is None:
        raise RentalError(_("Please choose the new return time."), code="times_required")
    if timezone.is_naive(new_end_time):
        raise RentalError(_("Times must carry a time zone."), code="naive_time")
    if rental.status_by_time(now) not in Rental.ACTIVE_STATUSES:
        raise RentalError(
            _("Only a pending, ongoing or overdue order can be extended (this one is %(status)s).")
            % {"status": Rental.Status(rental.status_by_time(now)).label},
            code="not_extendable",
        )
    if new_end_time <= now:
        raise RentalError(_("The new return time must be in the future."), code="end_in_past")
    if new_end_time <= rental.end_time:
        raise RentalError(
            _("The new return time must be after the current one (%(end)s).") % {"end": _local(rental.end_time)},
            code="not_later",
        )
    if new_end_time - rental.start_time > timedelta(days=max_rental_days()):
        raise RentalError(
            _("A rental can last at most %(days)s days in all: the latest return time is %(latest)s.")
            % {"days": max_rental_days(), "latest": _local(rental.start_time + timedelta(days=max_rental_days()))},
            code="too_long",
        )
    return new_end_time


def _free_again(*, rental: Rental, clash: Rental, now: datetime) -> datetime:
    """When the car is free again after ``clash``: the end of the run of
    bookings that follow one another from it (a late one until the end of its
    hold, the booking rule's ``held_until``)."""
    free = held_until(status=clash.status, end_time=clash.end_time, now=now)
    rows = (
        Rental.objects.filter(
            bounds.holds_car_after(clash.start_time, now),
            vehicle_id=rental.vehicle_id,
            status__in=Rental.ACTIVE_STATUSES,
            start_time__gte=clash.start_time,
        )
        .exclude(pk=rental.pk)
        .order_by("start_time", "pk")
        .values_list("start_time", "end_time", "status")
    )
    for start, end, status in rows:
        if start > free:
            break
        free = max(free, held_until(status=status, end_time=end, now=now))
    return free


def _check_car_free(rental: Rental, new_end_time: datetime, now: datetime) -> None:
    """No other PENDING/ONGOING/OVERDUE rental of the car between the current
    end and the new one (the booking overlap rule, SPEC §5 and §17)."""
    clash = (
        overlapping_rentals(
            vehicle_id=rental.vehicle_id,
            start_time=rental.end_time,
            end_time=new_end_time,
            exclude_pk=rental.pk,
            now=now,
        )
        .order_by("start_time", "pk")
        .first()
    )
    if clash is None:
        return
    latest = max(clash.start_time, rental.end_time)
    raise BookingConflict(
        _(
            "The car is booked for another order from %(start)s, so this order can be extended until %(latest)s "
            "at the latest. The car is free again from %(free)s."
        )
        % {
            "start": _local(clash.start_time),
            "latest": _local(latest),
            "free": _local(_free_again(rental=rental, clash=clash, now=now)),
        },
        code="overlap",
    )


def _draft(rental: Rental, new_end_time: datetime) -> tuple[Rental, int, Decimal]:
    """An unsaved copy of the order ending at ``new_end_time``, re-priced;
    with its days and base rent."""
    days, base_rent, discount, total = _rent_at_booked_rate(rental, new_end_time)
    draft = copy.copy(rental)
    draft.end_time = new_end_time
    draft.discount_amount = discount
    draft.total_amount = total
    return draft, days, base_rent


def _plan(rental: Rental, new_end_time: datetime | None, now: datetime) -> ExtensionPreview:
    """Check every rule of an extension and price it; raises ``RentalError``."""
    end = _check_times(rental, new_end_time, now)
    draft, days, base_rent = _draft(rental, end)
    try:
        bounds.check_order_total(draft.order_total)
    except ValidationError as error:
        raise RentalError(error.messages[0], code=error.code) from None
    _check_car_free(rental, end, now)
    figures = draft.figures_for(*rental.ledger_sums())
    return ExtensionPreview(
        old_end_time=rental.end_time,
        new_end_time=end,
        old_days=rental.days,
        days=days,
        daily_rate=quantize_money(rental.daily_rate),
        base_rent=base_rent,
        discount_amount=draft.discount_amount,
        old_total_amount=quantize_money(rental.total_amount),
        total_amount=draft.total_amount,
        difference=quantize_money(draft.total_amount - rental.total_amount),
        order_total=draft.order_total,
        remaining=figures.remaining,
    )


def extension_preview(
    *, rental: Rental, new_end_time: datetime | None, now: datetime | None = None
) -> ExtensionPreview:
    """What ``extend_rental`` would do, without locks or writes; raises the
    same ``RentalError`` it would."""
    return _plan(rental, new_end_time, now or timezone.now())


def _save_extension(locked: Rental, plan: ExtensionPreview, by_user: Any) -> None:
    """Write the new end and rent with the ``extended`` audit row. An overdue
    order extended past now is on time again: it goes back to ONGOING."""
    fields: dict[str, Any] = {
        "end_time": plan.new_end_time,
        "total_amount": plan.total_amount,
        "discount_amount": plan.discount_amount,
    }
    payload = {
        "old_end_time": plan.old_end_time.isoformat(),
        "new_end_time": plan.new_end_time.isoformat(),
        "old_total_amount": str(plan.old_total_amount),
        "total_amount": str(plan.total_amount),
        "difference": str(plan.difference),
    }
    if locked.status == Rental.Status.OVERDUE:
        transition_rental(
            rental=locked, to=Rental.Status.ONGOING, by_user=by_user, event="extended", payload=payload, **fields
        )
        return
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.save(update_fields=[*fields, "updated_at"])
    record_rental_event(
        rental=locked,
        event="extended",
        from_status=locked.status,
        to_status=locked.status,
        actor=by_user,
        payload=payload,
    )


@transaction.atomic
def extend_rental(*, rental: Rental, new_end_time: datetime | None, by_user: Any = None) -> Rental:
    """Move the order's return time to ``new_end_time`` (SPEC §19).

    Allowed for a PENDING, ONGOING or OVERDUE order (by the clock) when the new
    end is after now and after the current end, the whole rental lasts at most
    ``MAX_RENTAL_DAYS``, the order total stays within ``MAX_ORDER_TOTAL`` and
    no other booking of the car starts before the new end (refused with when
    the car is free again). ``total_amount`` becomes the rent over the whole
    period at the booked rate and discount; the difference is owed like any
    remaining amount. Writes RentalEvent ``extended`` and tells the customer.
    Locks: customer → vehicle → rental. Returns the order.
    """
    now = timezone.now()
    lock_customer(rental.customer_id)
    lock_vehicle(rental.vehicle_id)
    locked = lock_rental(rental.pk)
    plan = _plan(locked, new_end_time, now)
    _save_extension(locked, plan, by_user)
    locked.refresh_financials()
    notify(
        user=locked.customer.user,
        rental=locked,
        notification_type=Notification.Type.ORDER_EXTENDED,
        kind="extended",
        params={
            "order": locked.pk,
            "end": plan.new_end_time.isoformat(),
            "difference": str(plan.difference),
            "remaining": str(locked.stored_figures().remaining),
        },
    )
    rental.copy_state_from(locked)
    return locked
