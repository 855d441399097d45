"""Booking a car (SPEC §5): the times' rules and ``create_rental`` under the customer → car locks."""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from car_rental_system import bounds
from rentals.exceptions import BookingConflict, RentalError
from rentals.locks import lock_client_ip, lock_customer, lock_vehicle
from rentals.models import CancellationPolicy, Rental
from rentals.selectors import (
    held_until,
    is_late,
    overlapping_rentals,
    unpaid_bookings,
    unpaid_bookings_from_ip,
)
from rentals.services.transitions import record_rental_event
from vehicles.models import Location, Vehicle

logger = logging.getLogger(__name__)


def max_rental_days() -> int:
    """How long a booking may last (``MAX_RENTAL_DAYS``, read when used; SPEC §17)."""
    return int(settings.MAX_RENTAL_DAYS)


def _local(dt: datetime) -> str:
    return date_format(timezone.localtime(dt), "Y-m-d H:i")


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
    if end_time - start_time > timedelta(days=max_rental_days()):
        raise RentalError(_("A booking can last at most %(days)s days.") % {"days": max_rental_days()}, code="too_long")


def _check_unpaid_bookings(customer: Any) -> None:
    """At most MAX_UNPAID_BOOKINGS unpaid bookings per customer (SPEC §16; customer locked)."""
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


def _check_unpaid_bookings_from_ip(client_ip: str) -> None:
    """At most MAX_UNPAID_BOOKINGS_PER_IP unpaid bookings per client address,
    whoever made them (SPEC §17; the address locked)."""
    lock_client_ip(client_ip)
    held = unpaid_bookings_from_ip(client_ip=client_ip).count()
    if held >= settings.MAX_UNPAID_BOOKINGS_PER_IP:
        raise RentalError(
            _(
                "Too many unpaid bookings (%(count)s) were already made from your network. Please pay for "
                "one or cancel it before booking another car (unpaid bookings are released %(minutes)s "
                "minutes after they are made)."
            )
            % {"count": held, "minutes": settings.BOOKING_PAYMENT_MINUTES},
            code="too_many_unpaid_from_ip",
        )


def _check_car_free(
    locked_vehicle: Vehicle, *, pickup_location: Location, start_time: datetime, end_time: datetime
) -> None:
    """The car (locked) can be booked from this store for this period."""
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
    now = timezone.now()
    clash = (
        overlapping_rentals(vehicle_id=locked_vehicle.pk, start_time=start_time, end_time=end_time, now=now)
        .order_by("start_time")
        .first()
    )
    if clash is not None and is_late(status=clash.status, end_time=clash.end_time, now=now):
        raise BookingConflict(
            _("This car is still out on an overdue rental and is kept for its driver until %(end)s.")
            % {"end": _local(held_until(status=clash.status, end_time=clash.end_time, now=now))},
            code="overlap",
        )
    if clash is not None:
        raise BookingConflict(
            _("This car is already booked from %(start)s to %(end)s. Please choose other times.")
            % {"start": _local(clash.start_time), "end": _local(clash.end_time)},
            code="overlap",
        )


def _check_order_total(rental: Rental) -> None:
    """The booking's order total, priced as it will be saved, is at most MAX_ORDER_TOTAL (SPEC §17)."""
    q = rental.apply_quote()
    try:
        bounds.check_order_total(q.order_total)
    except ValidationError as error:
        raise RentalError(error.messages[0], code=error.code) from None


@transaction.atomic
def create_rental(
    *,
    customer: Any,
    vehicle: Vehicle,
    start_time: datetime,
    end_time: datetime,
    pickup_location: Location,
    return_location: Location | None = None,
    client_ip: str | None = None,
    by_user: Any = None,
) -> Rental:
    """Book ``vehicle`` for ``customer``: a PENDING rental priced by §4.
    ``by_user`` is the clerk who books at the counter for a walk-in (SPEC
    §20), recorded as the actor of the "created" event; online, the customer's
    own login is.

    Refuses a period in the past, an end before the start, a car that can't be
    booked, a pick-up away from the car's store, any overlap with another
    PENDING/ONGOING/OVERDUE rental of the car, a customer who already holds
    MAX_UNPAID_BOOKINGS unpaid bookings (SPEC §16), and a ``client_ip`` (the
    address a customer books from, stored on the rental) that already holds
    MAX_UNPAID_BOOKINGS_PER_IP (SPEC §17). The customer row is locked before
    counting the customer's, the address before counting its, and the car row
    before the overlap check, so concurrent bookings are serialised per
    customer, per address and per car and only one of two conflicting requests
    can succeed. The rental points to the cancellation policy version in force
    now (SPEC §19). Locks: customer → client address → vehicle.
    """
    validate_booking_times(start_time, end_time)
    return_location = return_location or pickup_location
    lock_customer(customer.pk)
    _check_unpaid_bookings(customer)
    if client_ip:
        _check_unpaid_bookings_from_ip(client_ip)
    locked_vehicle = lock_vehicle(vehicle.pk)
    _check_car_free(locked_vehicle, pickup_location=pickup_location, start_time=start_time, end_time=end_time)
    rental = Rental(
        customer=customer,
        vehicle=locked_vehicle,
        pickup_location=pickup_location,
        return_location=return_location,
        start_time=start_time,
        end_time=end_time,
        client_ip=client_ip or None,
        # The terms the customer read on the booking page (SPEC §19).
        policy=CancellationPolicy.objects.in_force(),
    )
    _check_order_total(rental)
    rental.save()
    record_rental_event(
        rental=rental,
        event="created",
        to_status=rental.status,
        actor=by_user or getattr(customer, "user", None),
        payload={"order_total": str(rental.order_total)},
    )
    return rental
