"""What one statement row and the ledger's row of the same transaction id say
about each other (pure: no database). The rules are in the README
("Reconciliation")."""

from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from accounts.reconciliation.parsers import (
    CHARGE,
    FAILED,
    IN_PROGRESS,
    REFUND,
    SUCCEEDED,
    StatementRow,
)

# Ledger statuses meaning the money moved: a PAID charge, a REFUNDED refund.
MOVED = {CHARGE: "PAID", REFUND: "REFUNDED"}
# A row we hold as refused (SPEC §17: never agrees with one the provider still shows in progress).
REFUSED = "FAILED"
LEDGER_TYPE = {CHARGE: "CHARGE", REFUND: "REFUND"}
KIND_OF_TYPE = {"CHARGE": CHARGE, "REFUND": REFUND}

MISSING_HERE, MISSING_THERE = "missing_here", "missing_there"
AMOUNT_DIFFERS, STATUS_DIFFERS = "amount_differs", "status_differs"


class LedgerRow(NamedTuple):
    payment_id: int
    transaction_id: str
    kind: str  # CHARGE | REFUND
    status: str  # Payment.Status value
    amount: Decimal
    paid_at: datetime | None
    provider: str


class Finding(NamedTuple):
    kind: str
    transaction_type: str  # CHARGE | REFUND (ledger spelling)
    transaction_id: str
    payment_id: int | None
    our_amount: Decimal | None
    their_amount: Decimal | None
    our_status: str
    their_status: str
    detail: str = ""


def compare(row: StatementRow, ours: LedgerRow | None) -> Finding | None:
    """The difference between a statement row and our row of that id (None: they agree).

    A row the provider shows as done must be PAID / REFUNDED here with the same
    amount; a refund the provider still shows in progress (a WeChat Pay bill is
    a snapshot taken when the refund was accepted) agrees with any refund of
    that amount that was not refused — one we hold as FAILED differs in status
    (SPEC §17: the provider may still pay it, and a retry would pay twice); a
    row the provider shows as failed must not be PAID / REFUNDED here.
    """
    their_status = row.raw_status or row.status
    if ours is None:
        return Finding(
            MISSING_HERE, LEDGER_TYPE[row.kind], row.transaction_id, None, None, row.amount, "", their_status
        )
    base = (
        LEDGER_TYPE[row.kind],
        row.transaction_id,
        ours.payment_id,
        ours.amount,
        row.amount,
        ours.status,
        their_status,
    )
    moved = ours.status == MOVED[row.kind]
    if row.status == SUCCEEDED and not moved:
        return Finding(STATUS_DIFFERS, *base)
    if row.status == FAILED and moved:
        return Finding(STATUS_DIFFERS, *base)
    if row.status == IN_PROGRESS and ours.status == REFUSED:
        return Finding(STATUS_DIFFERS, *base)
    if row.status in (SUCCEEDED, IN_PROGRESS) and ours.amount != row.amount:
        return Finding(AMOUNT_DIFFERS, *base)
    return None


def missing_there(ours: LedgerRow) -> Finding:
    return Finding(
        MISSING_THERE, LEDGER_TYPE[ours.kind], ours.transaction_id, ours.payment_id, ours.amount, None, ours.status, ""
    )
