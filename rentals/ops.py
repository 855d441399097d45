"""Batch repairs of order history for the ops commands (SPEC §9).

``update_historical_orders`` walks the rental table in primary-key order, one
batch at a time (keyset pagination: ``pk > last``, never the whole table in
memory), and per batch:

1. moves statuses by time (PENDING → ONGOING, → OVERDUE) through
   ``rentals.services.advance_statuses`` — cars and audit rows included;
2. refunds what closed orders no longer owe (COMPLETED: the deposit less unpaid
   fees; CANCELLED: net paid less the cancellation fee) through
   ``rentals.services.refund_amount_due``, which recomputes the amount under the
   rental lock, so it never refunds twice; an order with nobody to refund is
   flagged and reported as needing manual handling;
3. stores the ledger's figures on every other order: one grouped aggregate
   query per batch for the paid and refunded sums, ``Rental.figures_for`` and
   ``apply_figures`` in Python, one ``bulk_update`` of the rows that differ.

Each batch is one transaction: the cars and rentals that move status are locked
first (car → rental, the global order), then the batch's rental rows. Every
per-order write runs in a savepoint, so a failing order is rolled back alone,
reported and skipped; the bulk write of corrections runs in one savepoint and,
should it fail, is retried order by order to isolate the bad row. A crash loses
only the batch in flight; finished batches stay finished and a rerun picks up
what is left, because every step only does what the data still asks for.

A dry run reads the same batches and reports the same changes without writing.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.models import Payment
from car_rental_system.money import ZERO, quantize_money
from rentals import services
from rentals.models import Rental

logger = logging.getLogger(__name__)

# Stored figures derived from the ledger (what apply_figures may change).
FINANCIAL_FIELDS = ("amount_paid", "amount_refunded", "settlement_status", "settled_at", "requires_manual_refund")
# What figures_for / apply_figures read; everything else stays deferred.
LOADED_FIELDS = (
    "id",
    "status",
    "total_amount",
    "deposit",
    "cross_location_fee",
    "overdue_fee",
    "damage_fee",
    "cancellation_fee",
    *FINANCIAL_FIELDS,
)
REFUND_REASONS = {Rental.Status.COMPLETED: "deposit", Rental.Status.CANCELLED: "cancellation"}


@dataclass(frozen=True, order=True)
class StatusMove:
    rental_id: int
    from_status: str
    to_status: str


@dataclass(frozen=True, order=True)
class RefundLine:
    rental_id: int
    amount: Decimal
    reason: str
    recipient_id: int | None


@dataclass(frozen=True, order=True)
class ManualRefund:
    rental_id: int
    amount: Decimal


@dataclass(frozen=True)
class Correction:
    rental_id: int
    # (field, stored value, ledger value) for each field that differed.
    changes: tuple[tuple[str, object, object], ...]


@dataclass(frozen=True, order=True)
class OrderError:
    rental_id: int
    step: str
    message: str


@dataclass
class Summary:
    """What one run did (or, on a dry run, would do)."""

    dry_run: bool
    now: datetime
    scanned: int = 0
    batches: int = 0
    status_moves: list[StatusMove] = field(default_factory=list)
    refunds: list[RefundLine] = field(default_factory=list)
    manual: list[ManualRefund] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    errors: list[OrderError] = field(default_factory=list)

    @property
    def refund_total(self) -> Decimal:
        return quantize_money(sum((line.amount for line in self.refunds), ZERO))

    @property
    def changed_anything(self) -> bool:
        """Whether the run wrote (or would write) a status, a refund or a figure.

        Orders needing manual handling are reported on every run until staff
        refund them; flagging them is the only write they cause, once.
        """
        return bool(self.status_moves or self.refunds or self.corrections)

    def plan(self) -> dict:
        """The changes as comparable data: a dry run's plan equals the following real run's."""
        return {
            "status_moves": sorted(self.status_moves),
            "refunds": sorted(self.refunds),
            "manual": sorted(self.manual),
            "corrections": sorted(self.corrections, key=lambda c: c.rental_id),
        }


class HistoryRunAborted(Exception):
    """A batch failed as a whole (e.g. the database went away). Batches before
    it are committed, the failed one is rolled back; rerun to finish."""

    def __init__(self, *, summary: Summary, after_id: int, cause: BaseException):
        super().__init__(f"stopped in the batch after order #{after_id}: {cause!r}")
        self.summary = summary
        self.after_id = after_id
        self.cause = cause


def _error_text(exc: BaseException) -> str:
    messages = getattr(exc, "messages", None)
    text = "; ".join(str(m) for m in messages) if messages else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def update_historical_orders(
    *,
    dry_run: bool = False,
    skip_status_update: bool = False,
    skip_deposit_refund: bool = False,
    skip_financial_refresh: bool = False,
    batch_size: int = 1000,
    rental_id: int | None = None,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Bring every order (or the one ``rental_id``) in line with time and its ledger.

    Steps, each skippable: status by time, refund of what closed orders no
    longer owe, stored financials from the ledger (see the module docstring).
    ``progress`` is called after each batch has committed with the number of
    orders in it. Raises ``HistoryRunAborted`` (carrying the summary so far)
    when a batch fails as a whole; per-order failures are collected in
    ``summary.errors`` instead. Locks per batch: vehicle → rental.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    summary = Summary(dry_run=dry_run, now=now)
    scope = Rental.objects.all() if rental_id is None else Rental.objects.filter(pk=rental_id)
    last = 0
    while True:
        head = list(scope.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not head:
            break
        upper = head[-1]
        batch = scope.filter(pk__gt=last, pk__lte=upper)
        ledger = Payment.objects.filter(rental_id__gt=last, rental_id__lte=upper)
        if rental_id is not None:
            ledger = ledger.filter(rental_id=rental_id)
        try:
            with transaction.atomic():
                scanned = _process_batch(
                    batch,
                    ledger=ledger,
                    summary=summary,
                    now=now,
                    dry_run=dry_run,
                    status_step=not skip_status_update,
                    refund_step=not skip_deposit_refund,
                    financial_step=not skip_financial_refresh,
                )
        except Exception as exc:
            logger.exception("update_historical_orders: batch after #%s failed", last)
            raise HistoryRunAborted(summary=summary, after_id=last, cause=exc) from exc
        summary.batches += 1
        summary.scanned += scanned
        last = upper
        if progress is not None:
            progress(scanned)
    return summary


def _process_batch(batch, *, ledger, summary, now, dry_run, status_step, refund_step, financial_step) -> int:
    """One batch inside its transaction; returns how many orders it scanned."""
    failed: set[int] = set()
    moves = _status_step(batch, summary=summary, now=now, dry_run=dry_run, failed=failed) if status_step else []

    rows = batch.only(*LOADED_FIELDS).order_by("pk")
    if not dry_run:
        rows = rows.select_for_update(of=("self",))
    rows = list(rows)
    by_id = {row.pk: row for row in rows}
    # The moves as they stand after the locks (a concurrent flow may have won).
    summary.status_moves.extend(
        m for m in moves if dry_run or getattr(by_id.get(m.rental_id), "status", None) == m.to_status
    )

    sums = ledger_sums(ledger)
    pending: list[tuple[Rental, list[str], dict]] = []
    refund_rows: list[tuple[Rental, Decimal]] = []
    for row in rows:
        if row.pk in failed:
            continue
        paid, refunded = sums.get(row.pk, (ZERO, ZERO))
        try:
            figures = row.figures_for(paid, refunded)
            if refund_step and row.status in REFUND_REASONS and figures.refund_due > ZERO:
                # The refund step refreshes the order's stored figures itself.
                refund_rows.append((row, figures.refund_due))
                continue
            if not financial_step:
                continue
            before = {name: getattr(row, name) for name in FINANCIAL_FIELDS}
            changed = row.apply_figures(figures, now=now)
        except Exception as exc:
            summary.errors.append(OrderError(row.pk, "financials", _error_text(exc)))
            logger.exception("update_historical_orders: order #%s failed", row.pk)
            continue
        if changed:
            pending.append((row, changed, before))

    if refund_rows:
        _refund_step(refund_rows, summary=summary, dry_run=dry_run)
    if pending:
        _write_corrections(pending, summary=summary, now=now, dry_run=dry_run)
    return len(rows)


# --- step 1: status by time -------------------------------------------------------


def _status_step(batch, *, summary, now, dry_run, failed: set[int]) -> list[StatusMove]:
    """Move the batch's active orders by time; returns the moves planned."""
    moves = []
    for pk, status, start_time, end_time in batch.filter(status__in=Rental.ACTIVE_STATUSES).values_list(
        "pk", "status", "start_time", "end_time"
    ):
        target = Rental(status=status, start_time=start_time, end_time=end_time).status_by_time(now)
        if target != status:
            moves.append(StatusMove(pk, status, target))
    if dry_run or not moves:
        return moves
    ids = [m.rental_id for m in moves]
    try:
        with transaction.atomic():
            services.advance_statuses(now=now, rental_ids=ids, batch_size=len(ids))
    except Exception:
        logger.exception("update_historical_orders: bulk status move failed; moving order by order")
        for move in moves:
            try:
                with transaction.atomic():
                    services.advance_rental_status(rental=Rental.objects.get(pk=move.rental_id), now=now)
            except Exception as exc:
                failed.add(move.rental_id)
                summary.errors.append(OrderError(move.rental_id, "status", _error_text(exc)))
                logger.exception("update_historical_orders: order #%s failed", move.rental_id)
    return moves


# --- step 2: refunds ----------------------------------------------------------------


def _refund_step(refund_rows, *, summary, dry_run) -> None:
    if dry_run:
        recipients = refund_recipient_ids([row.pk for row, _amount in refund_rows])
        for row, amount in refund_rows:
            recipient_id = recipients.get(row.pk)
            if recipient_id is None:
                summary.manual.append(ManualRefund(row.pk, amount))
            else:
                summary.refunds.append(RefundLine(row.pk, amount, REFUND_REASONS[row.status], recipient_id))
        return
    for row, amount in refund_rows:
        reason = REFUND_REASONS[row.status]
        try:
            with transaction.atomic():
                refund = services.refund_amount_due(rental=row, reason=reason)
        except Exception as exc:
            summary.errors.append(OrderError(row.pk, "refund", _error_text(exc)))
            logger.exception("update_historical_orders: order #%s failed", row.pk)
            continue
        if refund is not None:
            summary.refunds.append(RefundLine(row.pk, refund.amount, reason, refund.user_id))
        elif row.requires_manual_refund:
            summary.manual.append(ManualRefund(row.pk, amount))


def refund_recipient_ids(rental_ids) -> dict[int, int | None]:
    """Bulk form of ``accounts.selectors.refund_recipient``: the user of the latest
    paid charge with a user, else the customer's user, else None."""
    recipients = dict(Rental.objects.filter(pk__in=rental_ids).values_list("pk", "customer__user_id"))
    payers: dict[int, int] = {}
    charges = (
        Payment.objects.filter(
            rental_id__in=rental_ids,
            transaction_type=Payment.TransactionType.CHARGE,
            status=Payment.Status.PAID,
            user__isnull=False,
        )
        .order_by("rental_id", "-paid_at", "-id")
        .values_list("rental_id", "user_id")
    )
    for pk, user_id in charges:
        payers.setdefault(pk, user_id)
    recipients.update(payers)
    return recipients


# --- step 3: stored financials --------------------------------------------------------


def ledger_sums(payments) -> dict[int, tuple[Decimal, Decimal]]:
    """{rental id: (paid, refunded)} over a Payment queryset, in one grouped query
    (callers filter it by a rental id range, which the rental index serves)."""
    rows = (
        payments.values("rental_id")
        .order_by()
        .annotate(
            paid=Sum(
                "amount",
                filter=Q(transaction_type=Payment.TransactionType.CHARGE, status=Payment.Status.PAID),
            ),
            refunded=Sum(
                "amount",
                filter=Q(transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.REFUNDED),
            ),
        )
        .values_list("rental_id", "paid", "refunded")
    )
    return {
        pk: (quantize_money(paid or ZERO), quantize_money(refunded or ZERO)) for pk, paid, refunded in rows
    }


def _write_corrections(pending, *, summary, now, dry_run) -> None:
    def record(row, changed, before):
        summary.corrections.append(
            Correction(row.pk, tuple((name, before[name], getattr(row, name)) for name in changed))
        )

    if dry_run:
        for item in pending:
            record(*item)
        return
    fields = sorted({name for _row, changed, _before in pending for name in changed})
    for row, _changed, _before in pending:
        row.updated_at = now
    try:
        with transaction.atomic():
            Rental.objects.bulk_update([row for row, _c, _b in pending], [*fields, "updated_at"])
    except Exception:
        logger.exception("update_historical_orders: bulk correction failed; writing order by order")
    else:
        for item in pending:
            record(*item)
        return
    for row, changed, before in pending:
        try:
            with transaction.atomic():
                Rental.objects.filter(pk=row.pk).update(
                    **{name: getattr(row, name) for name in changed}, updated_at=now
                )
        except Exception as exc:
            summary.errors.append(OrderError(row.pk, "financials", _error_text(exc)))
            logger.exception("update_historical_orders: order #%s failed", row.pk)
        else:
            record(row, changed, before)
