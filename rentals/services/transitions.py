"""Every status move of a rental, single or in bulk: the transition table's check, the audit row (RentalEvent) and the customer's notice, stored with its kind so each reader sees it in their language; and the car's status that follows."""

import logging
from typing import Any

from rentals.models import Rental, RentalEvent
from vehicles.models import Location, Vehicle

logger = logging.getLogger(__name__)


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
