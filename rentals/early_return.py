"""Early return (SPEC §19): a car back more than ``OVERDUE_GRACE`` before the
booked end pays the rent of the days used (started days, at least one) at the
booked rate and discount, plus the policy's ``early_return_fee_percent`` % of
the unused days' rent. ``prepare_return`` applies it, so the staff return
preview shows what the return sets; what was paid beyond the new rent is due
back by the §11 refund path."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from car_rental_system.money import quantize_money
from rentals import pricing


@dataclass(frozen=True)
class EarlyReturn:
    """The re-priced rent of an order back early: the days booked and used,
    the used days' rent and its discount, the unused days' rent, the fee and
    the new rental fee (used rent + fee)."""

    booked_days: int
    used_days: int
    used_rent: Decimal
    used_discount: Decimal
    unused_rent: Decimal
    fee_percent: int
    fee: Decimal
    total_amount: Decimal

    @property
    def unused_days(self) -> int:
        return self.booked_days - self.used_days


def used_days_if_early(start_time: datetime, end_time: datetime, returned_at: datetime | None) -> int | None:
    """The started days used (at least one) of a car back early, or None when
    it isn't early: not back, back within the grace before the end (or
    later), or after as many started days as were booked."""
    if returned_at is None or end_time - returned_at <= settings.OVERDUE_GRACE:
        return None
    used_days = pricing.rental_days(start_time, returned_at)
    return used_days if used_days < pricing.rental_days(start_time, end_time) else None


def early_return_terms(rental, returned_at: datetime) -> EarlyReturn | None:
    """The early-return figures of ``rental`` back at ``returned_at``, or None
    when it isn't early (``used_days_if_early``)."""
    used_days = used_days_if_early(rental.start_time, rental.end_time, returned_at)
    if used_days is None:
        return None
    booked_days = pricing.rental_days(rental.start_time, rental.end_time)
    used_rent = pricing.days_rent_after_discount(used_days, rental.daily_rate, rental.discount_rate)
    used_discount = quantize_money(used_days * Decimal(rental.daily_rate) - used_rent)
    unused_rent = quantize_money(Decimal(rental.total_amount) - used_rent)
    percent = rental.policy.early_return_fee_percent
    fee = quantize_money(unused_rent * Decimal(percent) / Decimal(100))
    return EarlyReturn(
        booked_days=booked_days,
        used_days=used_days,
        used_rent=used_rent,
        used_discount=used_discount,
        unused_rent=unused_rent,
        fee_percent=percent,
        fee=fee,
        total_amount=quantize_money(used_rent + fee),
    )


def apply_early_return(rental, returned_at: datetime) -> EarlyReturn | None:
    """Set the early-return rent on ``rental`` (unsaved) and return its
    figures; an order not back early keeps its rent and no fee."""
    terms = early_return_terms(rental, returned_at)
    if terms is not None:
        rental.total_amount = terms.total_amount
        rental.discount_amount = terms.used_discount
        rental.early_return_fee = terms.fee
    return terms
