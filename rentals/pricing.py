"""Pure price rules of SPEC §4: no database, no side effects.

The booking form's live breakdown, ``Rental.save`` and the return preview all
call these functions, so what a customer is shown is what they are charged.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings

from car_rental_system.money import ZERO, quantize_money

ONE_DAY = timedelta(days=1)


def whole_days(delta: timedelta) -> int:
    """Whole days in ``delta``, any started day counting as one (0 for ≤ 0)."""
    if delta <= timedelta(0):
        return 0
    days, remainder = divmod(delta, ONE_DAY)
    return days + (1 if remainder else 0)


def rental_days(start_time: datetime, end_time: datetime) -> int:
    """Days billed for a rental: whole days rounded up, at least one."""
    return max(1, whole_days(end_time - start_time))


def member_discount_rate(member_level: str) -> Decimal:
    return Decimal(str(settings.MEMBER_DISCOUNTS.get(member_level, Decimal("0"))))


def deposit_for(member_level: str, deposit_amount: Decimal) -> Decimal:
    return ZERO if member_level == "VIP" else quantize_money(deposit_amount)


def cross_location_fee_for(pickup_location_id, return_location_id) -> Decimal:
    if return_location_id is None or pickup_location_id == return_location_id:
        return ZERO
    return quantize_money(settings.CROSS_LOCATION_FEE)


def overdue_fee_for(end_time: datetime, returned_at: datetime | None, daily_rate: Decimal) -> Decimal:
    """Late fee: nothing within the grace; otherwise every started late day at the
    undiscounted daily rate × OVERDUE_RATE (the grace is not deducted)."""
    if returned_at is None:
        return ZERO
    late = returned_at - end_time
    if late <= settings.OVERDUE_GRACE:
        return ZERO
    return quantize_money(whole_days(late) * Decimal(daily_rate) * Decimal(str(settings.OVERDUE_RATE)))


@dataclass(frozen=True)
class LateFeeRule:
    """The late-fee rule a booking is told before it is made: the grace after
    the return time, the multiplier of the daily rate, and the fee of one
    started late day for this car (the undiscounted daily rate × the rate)."""

    grace_minutes: int
    rate: Decimal
    per_day: Decimal


def late_fee_rule(daily_rate: Decimal) -> LateFeeRule:
    rate = Decimal(str(settings.OVERDUE_RATE))
    return LateFeeRule(
        grace_minutes=int(settings.OVERDUE_GRACE.total_seconds() // 60),
        rate=rate,
        per_day=quantize_money(Decimal(daily_rate) * rate),
    )


@dataclass(frozen=True)
class PriceQuote:
    days: int
    daily_rate: Decimal
    base_rent: Decimal
    discount_rate: Decimal
    discount_amount: Decimal
    total_amount: Decimal
    deposit: Decimal
    cross_location_fee: Decimal
    order_total: Decimal

    def as_dict(self) -> dict:
        return asdict(self)


def quote(
    *,
    daily_rate: Decimal,
    deposit_amount: Decimal,
    member_level: str,
    start_time: datetime,
    end_time: datetime,
    pickup_location_id,
    return_location_id,
) -> PriceQuote:
    """What a booking will cost before any return-time fees."""
    days = rental_days(start_time, end_time)
    base_rent = quantize_money(days * Decimal(daily_rate))
    rate = member_discount_rate(member_level)
    discount = quantize_money(base_rent * rate)
    total = quantize_money(base_rent - discount)
    deposit = deposit_for(member_level, deposit_amount)
    cross = cross_location_fee_for(pickup_location_id, return_location_id)
    return PriceQuote(
        days=days,
        daily_rate=quantize_money(daily_rate),
        base_rent=base_rent,
        discount_rate=rate,
        discount_amount=discount,
        total_amount=total,
        deposit=deposit,
        cross_location_fee=cross,
        order_total=quantize_money(total + deposit + cross),
    )


def days_rent_after_discount(days: int, daily_rate: Decimal, discount_rate: Decimal) -> Decimal:
    """``days`` of rent at the booked daily rate less the booked member discount,
    rounded as the rental fee is (base rent − rounded discount): the unit of
    the cancellation and no-show fees (SPEC §19). ``days`` equal to the booked
    days gives the rental fee itself."""
    base_rent = quantize_money(days * Decimal(daily_rate))
    return quantize_money(base_rent - quantize_money(base_rent * Decimal(discount_rate)))
