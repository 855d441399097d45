"""Batch repairs of order history for the ops commands (SPEC §9).

``update_historical_orders`` walks the rental table in primary-key order, one
batch at a time (keyset pagination: ``pk > last``, never the whole table in
memory), and per batch:

1. moves statuses by time (PENDING → ONGOING, → OVERDUE) through
   ``rentals.services.advance_statuses`` — cars and audit rows included;
2. refunds what closed orders no longer owe (COMPLETED: the deposit less unpaid
   fees; CANCELLED: net paid less the cancellation fee) — the rows
   ``accounts.services.refund_amount_due`` writes (REFUND, its audit row, the
   customer's notice, the §5 recipient and method), built for the whole batch
   and inserted in bulk; the amounts come from the ledger read under the batch
   lock, so a rerun finds nothing due and nothing is refunded twice. An order
   with nobody to refund is flagged and reported as needing manual handling.
   Should the bulk write fail, each order goes through refund_amount_due
   itself;
3. stores the ledger's figures on every other order: one grouped aggregate
   query per batch for the paid and refunded sums, ``Rental.figures_for`` and
   ``apply_figures`` in Python, one ``bulk_update`` of the rows that differ.

Each batch is one transaction: the cars and rentals that move status are locked
first (car → rental, the global order), then the batch's rental rows. An order
that fails while its changes are worked out is reported and skipped; each bulk
write (status moves, refunds, corrections) runs in its own savepoint and,
should it fail, is redone order by order, each order in its own savepoint, so a
bad order is rolled back alone, reported and skipped. A crash loses
only the batch in flight; finished batches stay finished and a rerun picks up
what is left, because every step only does what the data still asks for.

A dry run reads the same batches and reports the same changes without writing.
"""

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts import figures
from accounts.models import Payment
from car_rental_system.money import ZERO, quantize_money
from rentals import services
from rentals.locks import lock_rental_rows, lock_vehicles
from rentals.models import Rental
from rentals.ops_refunds import (  # noqa: F401  (step 2, importable from here)
    FINANCIAL_FIELDS,
    LOADED_FIELDS,
    REFUND_REASONS,
    RefundCase,
    _error_text,
    _loaded,
    _refund_step,
    store_figures,
)
from rentals.ops_summary import (  # noqa: F401  (the report of a run, importable from here)
    Correction,
    HistoryRunAborted,
    ManualRefund,
    OrderError,
    RefundLine,
    StatusMove,
    Summary,
)

logger = logging.getLogger(__name__)

# Orders per batch (one transaction). Larger batches spread the per-batch
# queries over more orders (at 100,000 orders 5,000 runs ~15 % faster than
# 1,000) while a batch still holds its row locks for well under a second.
DEFAULT_BATCH_SIZE = 5000

# What status_by_time reads.
STATUS_FIELDS = ("status", "start_time", "end_time", "created_at", "amount_paid")


def update_historical_orders(
    *,
    dry_run: bool = False,
    skip_status_update: bool = False,
    skip_deposit_refund: bool = False,
    skip_financial_refresh: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
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

    rows = batch.order_by("pk").values_list(*LOADED_FIELDS)
    if not dry_run:
        rows = rows.select_for_update(of=("self",))
    rows = list(rows)
    status_of = {values[0]: values[1] for values in rows}
    # The moves as they stand after the locks (a concurrent flow may have won).
    summary.status_moves.extend(m for m in moves if dry_run or status_of.get(m.rental_id) == m.to_status)

    sums = ledger_sums(ledger)
    corrections: list[tuple[Correction, dict]] = []
    refund_cases: list[RefundCase] = []
    for values in rows:
        pk = values[0]
        if pk in failed:
            continue
        probe = _loaded(dict(zip(LOADED_FIELDS, values, strict=True)))
        paid, refunded, goodwill, in_flight, failed_refunds = sums.get(pk, (ZERO, ZERO, ZERO, ZERO, 0))
        try:
            figures = probe.figures_for(paid, refunded, goodwill, in_flight)
            refund_due = refund_step and probe.status in REFUND_REASONS and figures.refund_due > ZERO
            if refund_due and failed_refunds:
                summary.failed_refunds.append(pk)
            elif refund_due:
                # The refund step stores this order's figures along with its refund.
                refund_cases.append(
                    RefundCase(
                        dict(zip(LOADED_FIELDS, values, strict=True)),
                        paid,
                        refunded,
                        goodwill,
                        figures.refund_due,
                        in_flight,
                    )
                )
                continue
            if not financial_step:
                continue
            changed = probe.apply_figures(figures, now=now)
        except Exception as exc:
            summary.errors.append(OrderError(pk, "financials", _error_text(exc)))
            logger.exception("update_historical_orders: order #%s failed", pk)
            continue
        if changed:
            before = dict(zip(LOADED_FIELDS, values, strict=True))
            after = {name: getattr(probe, name) for name in FINANCIAL_FIELDS}
            corrections.append((Correction(pk, tuple((name, before[name], after[name]) for name in changed)), after))

    if refund_cases:
        _refund_step(refund_cases, summary=summary, now=now, dry_run=dry_run)
    if corrections:
        _write_corrections(corrections, summary=summary, now=now, dry_run=dry_run)
    return len(rows)


# --- step 1: status by time -------------------------------------------------------


def _status_step(batch, *, summary, now, dry_run, failed: set[int]) -> list[StatusMove]:
    """Move the batch's active orders by time; returns the moves planned."""
    moves = []
    for pk, *values in batch.filter(status__in=Rental.ACTIVE_STATUSES).values_list("pk", *STATUS_FIELDS):
        probe = _loaded({"id": pk, **dict(zip(STATUS_FIELDS, values, strict=True))})
        status = probe.status
        target = probe.status_by_time(now)
        if target != status:
            moves.append(StatusMove(pk, status, target))
    if dry_run or not moves:
        return moves
    # The plan was read without locks; another run (or a page's status
    # refresh) may have moved some of these orders meanwhile. Lock them
    # (vehicles first, the global order) and keep only the moves still to do:
    # the locks are held until the batch commits, so exactly these are moved
    # by this run and counted, never a move another run made.
    moves = _still_to_move(moves)
    if not moves:
        return moves
    ids = [m.rental_id for m in moves]
    try:
        with transaction.atomic():
            counts = services.advance_statuses(now=now, rental_ids=ids, batch_size=len(ids))
        if sum(counts.values()) != len(moves):  # pragma: no cover - the locks rule it out
            raise RuntimeError(f"planned {len(moves)} status moves, made {sum(counts.values())}")
    except Exception:
        logger.exception("update_historical_orders: bulk status move failed; moving order by order")
        made = []
        for move in moves:
            try:
                with transaction.atomic():
                    moved = services.advance_rental_status(rental=Rental.objects.get(pk=move.rental_id), now=now)
            except Exception as exc:
                failed.add(move.rental_id)
                summary.errors.append(OrderError(move.rental_id, "status", _error_text(exc)))
                logger.exception("update_historical_orders: order #%s failed", move.rental_id)
            else:
                if moved:
                    made.append(move)
        return made
    return moves


def _still_to_move(moves: list[StatusMove]) -> list[StatusMove]:
    """The planned moves whose order, read again under its row lock, still has
    the status the plan started from. Locks: vehicle → rental (held by the
    caller's transaction)."""
    ids = [m.rental_id for m in moves]
    lock_vehicles(Rental.objects.filter(pk__in=ids).values_list("vehicle_id", flat=True))
    current = dict(lock_rental_rows(Rental.objects.filter(pk__in=ids), "pk", "status"))
    return [m for m in moves if current.get(m.rental_id) == m.from_status]


# --- step 2: refunds ----------------------------------------------------------------


# --- step 3: stored financials --------------------------------------------------------


def ledger_sums(payments) -> dict[int, tuple[Decimal, Decimal, Decimal, Decimal, int]]:
    """{rental id: (paid, refunded, goodwill, refund in flight, FAILED refunds)}
    over a Payment queryset, in one grouped query
    (callers filter it by a rental id range, which the rental index serves)."""
    rows = (
        payments.values("rental_id")
        .order_by()
        .annotate(
            **figures.ledger_aggregates(),
            failed=Count("pk", filter=Q(transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.FAILED)),
        )
        .values_list("rental_id", "paid", "refunded", "goodwill", "in_flight", "failed")
    )
    return {
        pk: (
            quantize_money(paid or ZERO),
            quantize_money(refunded or ZERO),
            quantize_money(goodwill or ZERO),
            quantize_money(in_flight or ZERO),
            failed or 0,
        )
        for pk, paid, refunded, goodwill, in_flight, failed in rows
    }


def _write_corrections(corrections, *, summary, now, dry_run) -> None:
    """Store the ledger's figures on the rows that differ: one bulk UPDATE in a
    savepoint; should it fail, row by row, each in its own savepoint."""
    if dry_run:
        summary.corrections.extend(correction for correction, _after in corrections)
        return
    try:
        with transaction.atomic():
            store_figures([(correction.rental_id, after) for correction, after in corrections], now=now)
    except Exception:
        logger.exception("update_historical_orders: bulk correction failed; writing order by order")
    else:
        summary.corrections.extend(correction for correction, _after in corrections)
        return
    for correction, after in corrections:
        try:
            with transaction.atomic():
                Rental.objects.filter(pk=correction.rental_id).update(**after, updated_at=now)
        except Exception as exc:
            summary.errors.append(OrderError(correction.rental_id, "financials", _error_text(exc)))
            logger.exception("update_historical_orders: order #%s failed", correction.rental_id)
        else:
            summary.corrections.append(correction)
