"""What a cancellation or a return would do, computed by the flow's own rules on an unsaved copy, without writing (the staff pages show it before staff confirm)."""

import copy
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from car_rental_system import bounds
from car_rental_system.money import ZERO, quantize_money
from rentals.early_return import EarlyReturn, early_return_terms
from rentals.exceptions import RentalError
from rentals.models import Rental
from rentals.selectors import (
    RefundPreviewPart,
    _preview_parts,
    cancel_terms,
    refund_parts,
)
from rentals.services import handover
from rentals.services.car_checks import CheckInput, pickup_check_of
from vehicles.models import Location

logger = logging.getLogger(__name__)


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


def cancel_preview(
    *, rental: Rental, reason: str = "", fee: Decimal | None = None, at_counter: bool = True
) -> CancelPreview:
    """What ``cancel_rental`` would refund, without writing: the §4 figures of
    an unsaved copy marked CANCELLED with ``fee`` (None: the policy's fee now,
    SPEC §19), spread over the charges with money left the way
    ``refund_due_rows`` spreads it (SPEC §16). ``at_counter``: staff cancel at
    the counter (cash handed back now); a customer's own cancel leaves cash
    for the store."""
    if fee is None:
        fee = cancel_terms(rental=rental).fee
    draft = copy.copy(rental)
    draft.status = Rental.Status.CANCELLED
    draft.cancellation_fee = bounds.clean_money(fee, error=RentalError)
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
    driven_km: int | None = None  # since the hand-over's reading, when both are known
    # Back early (§19): the days used, the unused days' rent, the fee and the new rental fee.
    early_return: EarlyReturn | None = None
    total_amount: Decimal = ZERO

    @property
    def used_days(self) -> int | None:
        return self.early_return.used_days if self.early_return else None

    @property
    def unused_rent(self) -> Decimal:
        return self.early_return.unused_rent if self.early_return else ZERO

    @property
    def early_return_fee(self) -> Decimal:
        return self.early_return.fee if self.early_return else ZERO


def return_preview(
    *,
    rental: Rental,
    returned_at: datetime,
    location: Location,
    damage_fee: Decimal = ZERO,
    check: CheckInput | None = None,
) -> ReturnPreview:
    """What ``process_return`` would compute, without writing: the same
    ``prepare_return`` (its checks raise ValidationError here too) on an unsaved
    copy of the rental, against its current ledger."""
    draft = copy.copy(rental)
    handover.prepare_return(
        rental=draft, returned_at=returned_at, location=location, damage_fee=damage_fee, check=check
    )
    figures = draft.figures_for(*rental.ledger_sums())
    early = early_return_terms(rental, returned_at)  # what prepare_return applied to the draft
    handed_over = pickup_check_of(rental) if check is not None else None
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
        driven_km=check.mileage_km - handed_over.mileage_km if check and handed_over else None,
        early_return=early,
        total_amount=draft.total_amount,
    )
