"""Ledgers for property tests: an order's Payment rows from plain tuples.

Charges are ``(amount, status, provider, method, when)``; refunds are
``(share, status, goodwill_share, when)`` — a share (percent) of what the
PAID charges brought in, skipped when it would refund more than is left, and
goodwill only on a REFUNDED one. ``when`` is the time a PAID charge or a
REFUNDED refund moved; other rows have none."""

from decimal import Decimal
from itertools import count

from accounts.models import Payment

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
IDS = count()


def ledger_rows(rental, *, charges, refunds) -> list[Payment]:
    """The unsaved rows of ``rental``'s ledger (bulk-create them)."""
    user = rental.customer.user
    rows = [
        Payment(
            rental=rental,
            user=user,
            amount=amount,
            status=status,
            transaction_type=Payment.TransactionType.CHARGE,
            provider=provider,
            payment_method=method,
            transaction_id=f"PAYL{next(IDS):010d}",
            paid_at=when if status == "PAID" else None,
        )
        for amount, status, provider, method, when in charges
    ]
    paid = sum((row.amount for row in rows if row.status == "PAID"), ZERO)
    left = paid
    for share, status, goodwill_share, when in refunds:
        amount = (paid * share / 100).quantize(CENT)
        if amount <= ZERO or amount > left:
            continue
        left -= amount
        rows.append(
            Payment(
                rental=rental,
                user=user,
                amount=amount,
                goodwill_amount=(amount * goodwill_share / 100).quantize(CENT) if status == "REFUNDED" else ZERO,
                status=status,
                transaction_type=Payment.TransactionType.REFUND,
                provider="alipay",
                payment_method=Payment.Method.ALIPAY,
                transaction_id=f"REFL{next(IDS):010d}",
                paid_at=when if status == "REFUNDED" else None,
            )
        )
    return rows
