"""The one place where amounts are rounded.

Every computed amount goes through :func:`quantize_money`, which rounds to the
cent with ROUND_HALF_UP (the rule Chinese invoices use). Floats are refused so
that binary rounding can never leak into a ledger.
"""

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def quantize_money(value) -> Decimal:
    """Return ``value`` as a Decimal rounded half-up to 0.01.

    Accepts Decimal, int and str; a float is a programming error.
    """
    if type(value) is Decimal:  # the common case, kept cheap for batch jobs
        return value.quantize(CENT, rounding=ROUND_HALF_UP)
    if isinstance(value, float):
        raise TypeError("money must never be a float")
    if value is None:
        return ZERO
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_cny(value) -> str:
    """``Decimal("1234.5")`` → ``"¥1,234.50"``; negative amounts keep their sign."""
    amount = quantize_money(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(amount):,.2f}"
