"""The clerk's check of the car and the driver at hand-over and at return: the
rules it must meet (they raise) and how it is kept (a ``CarCheck`` row, and
the same figures in the history event of the hand-over or the return).

At hand-over the clerk has seen the customer's ID card and driving licence
(registration leaves both "to show at pick-up"), the licence is not expired
on the day of the hand-over, and the mileage and fuel level are read off the
car. At return the mileage is read again and can't be below the hand-over's.
"""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from rentals.car_checks import FUEL_EIGHTHS, MAX_MILEAGE_KM, CarCheck
from rentals.exceptions import RentalError
from rentals.models import Rental


@dataclass(frozen=True)
class CheckInput:
    """What the clerk entered: the car's readings, and at hand-over the papers."""

    mileage_km: int
    fuel_eighths: int
    condition_notes: str = ""
    id_seen: bool = False
    licence_seen: bool = False
    licence_valid_until: date | None = None


def _check_readings(check: CheckInput) -> None:
    if check.mileage_km is None or not 0 <= check.mileage_km <= MAX_MILEAGE_KM:
        raise RentalError(_("Please give the mileage in km, as the odometer shows it."), code="mileage_required")
    if check.fuel_eighths is None or not 0 <= check.fuel_eighths <= FUEL_EIGHTHS:
        raise RentalError(_("Please give the fuel level (in eighths of a tank)."), code="fuel_required")


def check_pickup(*, check: CheckInput, picked_up_at: datetime) -> None:
    """Refuses a hand-over without the papers seen, with an expired licence
    (on the local day of the hand-over) or without the car's readings."""
    if not (check.id_seen and check.licence_seen):
        raise RentalError(
            _("Check the customer's ID card and driving licence before handing the car over."),
            code="papers_not_seen",
        )
    if check.licence_valid_until is None:
        raise RentalError(_("Please give the date the driving licence is valid until."), code="licence_date_required")
    day = timezone.localdate(picked_up_at)
    if check.licence_valid_until < day:
        raise RentalError(
            _("The driving licence expired on %(date)s: the car can't be handed over to this driver.")
            % {"date": check.licence_valid_until.isoformat()},
            code="licence_expired",
        )
    _check_readings(check)


def pickup_check_of(rental: Rental) -> CarCheck | None:
    if rental.pk is None:
        return None
    return CarCheck.objects.filter(rental_id=rental.pk, stage=CarCheck.Stage.PICKUP).first()


def check_return(*, check: CheckInput, rental: Rental) -> None:
    """Refuses a return without the car's readings or with a mileage below
    the one recorded at hand-over."""
    _check_readings(check)
    out = pickup_check_of(rental)
    if out is not None and check.mileage_km < out.mileage_km:
        raise RentalError(
            _("The mileage at return (%(back)s km) can't be below the %(out)s km recorded at hand-over.")
            % {"back": f"{check.mileage_km:,}", "out": f"{out.mileage_km:,}"},
            code="mileage_below_pickup",
        )


def record_check(*, rental: Rental, stage: str, check: CheckInput, by_user: Any, at: datetime) -> CarCheck:
    """Keep the (already checked) readings with the order; returns the row."""
    fields: dict[str, Any] = {
        "mileage_km": check.mileage_km,
        "fuel_eighths": check.fuel_eighths,
        "condition_notes": (check.condition_notes or "").strip(),
    }
    if stage == CarCheck.Stage.PICKUP:
        fields.update(
            id_seen=check.id_seen, licence_seen=check.licence_seen, licence_valid_until=check.licence_valid_until
        )
    return CarCheck.objects.create(
        rental=rental,
        stage=stage,
        checked_by=by_user if getattr(by_user, "pk", None) else None,
        checked_at=at,
        **fields,
    )
