"""Every status move of a rental, single or in bulk: the transition table's check, the audit row (RentalEvent) and the customer's notice, stored with its kind so each reader sees it in their language; and the car's status that follows."""

import logging
from datetime import datetime
from typing import Any, NamedTuple

from accounts.models import Notification
from accounts.services import build_notice
from car_rental_system.bulk import insert_rows
from rentals.exceptions import InvalidTransition
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


# --- moves by time: one rental or many ------------------------------------------------

# The notice a customer gets when the clock moves their order into a status.
NOTICE_ON_ENTERING: dict[str, tuple[str, str]] = {
    Rental.Status.OVERDUE: (Notification.Type.RENTAL_OVERDUE, "rental_overdue")
}


class MoveRow(NamedTuple):
    """What a bulk move reads of each rental it moves (locked)."""

    pk: int
    status: str
    vehicle_id: int
    user_id: int | None
    end_time: datetime


def notice_on_entering(*, status: str, rental_id: int, user_id: int | None, end_time: datetime, now: datetime):
    """The customer's notice for a move into ``status`` by time (unsaved), or None."""
    if status not in NOTICE_ON_ENTERING or user_id is None:
        return None
    notification_type, kind = NOTICE_ON_ENTERING[status]
    return build_notice(
        user_id=user_id,
        rental_id=rental_id,
        notification_type=notification_type,
        kind=kind,
        params={"order": rental_id, "end": end_time.isoformat()},
        now=now,
    )


def move_by_time(*, rental: Rental, to: str, now: datetime) -> None:
    """One rental moved by the clock (locked, its car locked first): the move,
    its audit row, the car taken and the customer's notice."""
    transition_rental(rental=rental, to=to, event=RentalEvent.Code.STATUS_BY_TIME)
    notice = notice_on_entering(
        status=to, rental_id=rental.pk, user_id=rental.customer.user_id, end_time=rental.end_time, now=now
    )
    if notice is not None:
        notice.save()


def move_many_by_time(*, rows: list[MoveRow], to: str, now: datetime) -> None:
    """The same moves for many rentals at once (the caller holds their locks,
    cars first): the transition table's check for every row, one UPDATE, the
    audit rows and the notices inserted in bulk, the cars taken."""
    refused = sorted({row.status for row in rows if to not in Rental.TRANSITIONS[Rental.Status(row.status)]})
    if refused:
        raise InvalidTransition(f"no move to {to} from {refused}")
    if not rows:
        return
    Rental.objects.filter(pk__in=[row.pk for row in rows]).update(status=to, updated_at=now)
    Vehicle.objects.filter(pk__in=sorted({row.vehicle_id for row in rows}), status=Vehicle.Status.AVAILABLE).update(
        status=Vehicle.Status.RENTED
    )
    insert_rows(
        [
            RentalEvent(
                rental_id=row.pk,
                event=RentalEvent.Code.STATUS_BY_TIME,
                from_status=row.status,
                to_status=to,
                created_at=now,
            )
            for row in rows
        ]
    )
    notices = [
        notice_on_entering(status=to, rental_id=row.pk, user_id=row.user_id, end_time=row.end_time, now=now)
        for row in rows
    ]
    insert_rows([notice for notice in notices if notice is not None])
