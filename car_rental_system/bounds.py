"""Bounds on what people may type in (SPEC §16 Bounds).

A booking starts at most ``BOOKING_HORIZON_DAYS`` ahead; no fee entered by
staff and no order total exceeds ``MAX_ORDER_TOTAL``; dates typed into staff
filters and exports lie between ``EARLIEST_DATE`` and the booking horizon.
Settings are read on every call, so a changed setting applies at once.

``clean_money`` is the one check of an amount given to a money service
(SPEC §17 Amounts are finite): NaN, infinities, text that is no number and
exponents beyond the ledger's column raise ``ValidationError``.

``MoneyField`` is the one form field of every staff money form: plain
decimals only (no exponent, no inf/nan, at most two decimals), at most
``MAX_ORDER_TOTAL``.
"""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from car_rental_system.money import ZERO, format_cny, quantize_money

# Nothing in the ledger is older than this; earlier dates in filters are typos.
EARLIEST_DATE = date(2000, 1, 1)

# The rental status of a car still out past its end (rentals.Rental.Status.OVERDUE).
OVERDUE = "OVERDUE"

# The ledger's money columns: max_digits 12, decimal_places 2.
COLUMN_LIMIT = Decimal("1E10")

PLAIN_MONEY = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,2})?")


def max_order_total() -> Decimal:
    return quantize_money(Decimal(str(settings.MAX_ORDER_TOTAL)))


def max_daily_rate() -> Decimal:
    return quantize_money(Decimal(str(settings.MAX_DAILY_RATE)))


def check_daily_rate(rate) -> None:
    """Raise ValidationError when a car's daily rate is above ``MAX_DAILY_RATE`` (SPEC §17)."""
    if rate is not None and quantize_money(rate) > max_daily_rate():
        raise ValidationError(
            _("The daily rate can't be more than %(max)s.") % {"max": format_cny(max_daily_rate())},
            code="daily_rate_too_large",
        )


def check_order_total(total) -> None:
    """Raise ValidationError when a booking's order total is above ``MAX_ORDER_TOTAL``:
    the quote and the booking refuse it alike (SPEC §17)."""
    if exceeds_max_order_total(total):
        raise ValidationError(
            _(
                "This booking would come to %(total)s, but an order can total at most %(max)s. "
                "Please choose fewer days or another car."
            )
            % {"total": format_cny(total), "max": format_cny(max_order_total())},
            code="order_total_too_large",
        )


def overdue_hold_until(now: datetime | None = None) -> datetime:
    """Until when an overdue car is kept for its late driver: now + ``OVERDUE_HOLD_HOURS``."""
    return (now or timezone.now()) + timedelta(hours=int(settings.OVERDUE_HOLD_HOURS))


def holds_car_after(moment: datetime, now: datetime, prefix: str = "") -> Q:
    """The overlap rule's end (SPEC §17 Cars on the road, bounded), as a filter
    on active rentals (``prefix`` e.g. ``"rentals__"`` from the car): the
    rental holds its car after ``moment``. A rental still active past its end
    (OVERDUE, or not refreshed yet) ends at max(end_time, now +
    ``OVERDUE_HOLD_HOURS``), so it holds the car for a day, not for ever."""
    holds = Q(**{f"{prefix}end_time__gt": moment})
    if overdue_hold_until(now) > moment:
        holds |= Q(**{f"{prefix}status": OVERDUE}) | Q(**{f"{prefix}end_time__lte": now})
    return holds


def booking_horizon() -> timedelta:
    return timedelta(days=int(settings.BOOKING_HORIZON_DAYS))


def latest_booking_start(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + booking_horizon()


def latest_date(now: datetime | None = None) -> date:
    """The last local calendar day staff filters and exports may name."""
    return timezone.localtime(latest_booking_start(now)).date()


def date_in_bounds(value: date, now: datetime | None = None) -> bool:
    if isinstance(value, datetime):
        value = value.date()
    return EARLIEST_DATE <= value <= latest_date(now)


def check_date(value: date, now: datetime | None = None) -> None:
    """Raise ValidationError when ``value`` lies outside the staff date bounds."""
    if not date_in_bounds(value, now):
        raise ValidationError(
            _("Please choose a date between %(first)s and %(last)s.")
            % {"first": EARLIEST_DATE.isoformat(), "last": latest_date(now).isoformat()},
            code="date_out_of_range",
        )


def amount_too_large_message(label) -> str:
    return _("The %(what)s can't be more than %(max)s.") % {"what": label, "max": format_cny(max_order_total())}


def exceeds_max_order_total(amount) -> bool:
    return quantize_money(amount) > max_order_total()


def clean_money(value, *, error: type[ValidationError] = ValidationError) -> Decimal:
    """``value`` (Decimal, int or str; None is zero) rounded to the cent, or
    ``error`` (a ValidationError class) when it is not a finite amount that
    fits the ledger's column: NaN, infinities, text that is no number, and
    exponents beyond the column never reach ``quantize`` (its
    InvalidOperation would be a 500). A float stays a programming error."""
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(ZERO if value is None else value)
    except (InvalidOperation, TypeError, ValueError):
        amount = Decimal("NaN")
    if not amount.is_finite():
        raise error(_("Enter a plain amount such as 1234.50 (digits, at most two decimals)."), code="amount_not_finite")
    # Past 12 digits before the point quantize itself would fail.
    if amount.adjusted() >= 12 or abs(amount := quantize_money(amount)) >= COLUMN_LIMIT:
        raise error(
            _("The amount can't be more than %(max)s.") % {"max": format_cny(max_order_total())},
            code="amount_too_large",
        )
    return amount


def validate_plain_money(value) -> None:
    """Plain decimal text only: digits, an optional point and at most two decimals."""
    if not isinstance(value, str) or not PLAIN_MONEY.fullmatch(value):
        raise ValidationError(
            _("Enter a plain amount such as 1234.50 (digits, at most two decimals)."), code="not_plain_money"
        )


class MoneyField(forms.DecimalField):
    """A staff money input: plain decimals, at most ``MAX_ORDER_TOTAL``."""

    def __init__(self, *, min_value=None, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        super().__init__(min_value=min_value, **kwargs)

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if not isinstance(value, str):
            value = str(value)
        value = value.strip()
        if value in self.empty_values:
            return None
        validate_plain_money(value)
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern rules it out
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def validate(self, value):
        super().validate(value)
        if value is not None and exceeds_max_order_total(value):
            raise ValidationError(
                _("The amount can't be more than %(max)s.") % {"max": format_cny(max_order_total())},
                code="amount_too_large",
            )
