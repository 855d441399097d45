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

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts import figures, selectors
from accounts.models import Payment
from accounts.services import enqueue_refund, plan_due_refund, refund_due_rows
from car_rental_system.bulk import insert_rows
from car_rental_system.money import ZERO, quantize_money
from rentals import services
from rentals.locks import lock_rental_rows, lock_vehicles
from rentals.models import Rental, RentalEvent

logger = logging.getLogger(__name__)

# Orders per batch (one transaction). Larger batches spread the per-batch
# queries over more orders (at 100,000 orders 5,000 runs ~15 % faster than
# 1,000) while a batch still holds its row locks for well under a second.
DEFAULT_BATCH_SIZE = 5000

# Stored figures derived from the ledger (what apply_figures may change).
FINANCIAL_FIELDS = (
    "amount_paid",
    "amount_refunded",
    "goodwill_amount",
    "amount_refund_in_flight",
    "settlement_status",
    "settled_at",
    "requires_manual_refund",
)
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
# What status_by_time reads.
STATUS_FIELDS = ("status", "start_time", "end_time", "created_at", "amount_paid")
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
    # Orders with money due back after a FAILED refund: never sent again by
    # this job (SPEC §11); staff retry it or settle it by hand.
    failed_refunds: list[int] = field(default_factory=list)

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


@dataclass
class RefundCase:
    """A closed order whose ledger shows money due back (read under the batch lock)."""

    values: dict  # LOADED_FIELDS of the row
    paid: Decimal
    refunded: Decimal
    goodwill: Decimal
    amount: Decimal
    in_flight: Decimal = ZERO

    @property
    def pk(self) -> int:
        return self.values["id"]

    @property
    def reason(self) -> str:
        return REFUND_REASONS[self.values["status"]]


@dataclass
class BuiltRefund:
    case: RefundCase
    figures: dict  # FINANCIAL_FIELDS to store on the rental
    changed: bool  # whether the rental row must be written
    # One (REFUND row, its audit row, the receiver's notice) per charge the
    # money goes back to, from accounts.services.build_refund_rows
    rows: list = field(default_factory=list)
    manual: Decimal = ZERO  # left for staff to hand back (cash, or nobody to pay)
    rental_event: RentalEvent | None = None


def _refund_step(cases: list[RefundCase], *, summary, now, dry_run) -> None:
    """Refund what each case is due, as ``accounts.services.refund_due_rows`` would.

    In bulk: the amounts were computed from the ledger read under the batch's
    lock, so they are what refund_due_rows would find, and a rerun finds
    nothing due. The REFUND rows, their audit rows and notices and the
    rentals' figures are written in one savepoint; should that fail, each
    order goes through refund_due_rows itself, in its own savepoint.
    """
    context = refund_context([case.pk for case in cases])
    if dry_run:
        for case in cases:
            plan = build_refund(case, *context[case.pk], now=now)
            summary.refunds.extend(
                RefundLine(case.pk, refund.amount, case.reason, refund.user_id) for refund, _audit, _notice in plan.rows
            )
            if plan.manual > ZERO:
                summary.manual.append(ManualRefund(case.pk, plan.manual))
        return

    built = []
    for case in cases:
        try:
            built.append(build_refund(case, *context[case.pk], now=now))
        except Exception as exc:
            summary.errors.append(OrderError(case.pk, "refund", _error_text(exc)))
            logger.exception("update_historical_orders: order #%s failed", case.pk)
    try:
        with transaction.atomic():
            write_refunds(built, now=now)
    except Exception:
        logger.exception("update_historical_orders: bulk refund failed; refunding order by order")
        _refund_one_by_one([item.case for item in built], summary=summary)
        return
    for item in built:
        for refund, _audit, _notice in item.rows:
            summary.refunds.append(RefundLine(item.case.pk, refund.amount, item.case.reason, refund.user_id))
        if item.manual > ZERO:
            summary.manual.append(ManualRefund(item.case.pk, item.manual))


@functools.cache
def _field_order(names: frozenset[str]) -> list[str]:
    return [f.attname for f in Rental._meta.concrete_fields if f.attname in names]


def _loaded(values: dict) -> Rental:
    """The Rental the ORM would load with only the fields in ``values`` (the others deferred)."""
    names = _field_order(frozenset(values))
    return Rental.from_db(None, names, [values[name] for name in names])


def build_refund(case: RefundCase, customer_user_id, charges, cancel_reason, *, now) -> BuiltRefund:
    """The rows refund_due_rows would write for ``case`` (unsaved), from the
    same planner (``accounts.services.plan_due_refund``)."""
    rental = _loaded(case.values)
    plan = plan_due_refund(
        rental=rental,
        amount=case.amount,
        reason=case.reason,
        charges=charges,
        customer_user_id=customer_user_id,
        cancel_reason=cancel_reason,
        now=now,
    )
    rows, manual, event = plan.rows, plan.manual, plan.manual_event
    # Online refunds are in flight until their provider confirms (SPEC §11).
    refunded, in_flight = case.refunded, case.in_flight
    for refund, _audit, _notice in rows:
        if refund.status == Payment.Status.REFUNDED:
            refunded += refund.amount
        else:
            in_flight += refund.amount
    figures = rental.figures_for(case.paid, quantize_money(refunded), case.goodwill, quantize_money(in_flight))
    changed = rental.apply_figures(figures, now=now)
    return BuiltRefund(
        case, _financials(rental), bool(changed or event or rows), rows=rows, manual=manual, rental_event=event
    )


def _financials(rental: Rental) -> dict:
    return {name: getattr(rental, name) for name in FINANCIAL_FIELDS}


def write_refunds(built: list[BuiltRefund], *, now) -> None:
    rows = [row for item in built for row in item.rows]
    refunds = [refund for refund, _audit, _notice in rows]
    insert_rows(refunds)
    # The audit rows point at the refunds: read back the ids the inserts got.
    ids = dict(
        Payment.objects.filter(transaction_id__in=[refund.transaction_id for refund in refunds]).values_list(
            "transaction_id", "pk"
        )
    )
    for refund, audit, _notice in rows:
        refund.pk = ids[refund.transaction_id]
        refund._state.adding = False
        audit.payment_id = refund.pk
    insert_rows([audit for _refund, audit, _notice in rows])
    for refund in refunds:
        if refund.is_in_flight:
            enqueue_refund(refund.pk)
    insert_rows([notice for _refund, _audit, notice in rows if notice is not None])
    RentalEvent.objects.bulk_create(item.rental_event for item in built if item.rental_event is not None)
    store_figures(
        [(item.case.pk, item.figures) for item in built if item.changed],
        now=now,
    )


def _refund_one_by_one(cases: list[RefundCase], *, summary) -> None:
    for case in cases:
        try:
            with transaction.atomic():
                rental = Rental.objects.get(pk=case.pk)
                due = refund_due_rows(rental=rental, reason=case.reason)
        except Exception as exc:
            summary.errors.append(OrderError(case.pk, "refund", _error_text(exc)))
            logger.exception("update_historical_orders: order #%s failed", case.pk)
            continue
        summary.refunds.extend(
            RefundLine(case.pk, refund.amount, case.reason, refund.user_id) for refund in due.refunds
        )
        if due.manual > ZERO:
            summary.manual.append(ManualRefund(case.pk, due.manual))


def refund_context(rental_ids) -> dict[int, tuple[int | None, list, str]]:
    """{rental id: (customer's user id, charges with money left, cancel reason)}
    in three queries (``accounts.selectors.refundable_charges_by_rental``)."""
    charges = selectors.refundable_charges_by_rental(rental_ids=list(rental_ids))
    return {
        pk: (user_id, charges[pk], cancel_reason)
        for pk, user_id, cancel_reason in Rental.objects.filter(pk__in=rental_ids).values_list(
            "pk", "customer__user_id", "cancel_reason"
        )
    }


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


def store_figures(rows, *, now) -> None:
    """Write ``[(rental id, {financial field: value})]`` with one prepared UPDATE
    run for every row (executemany). ``bulk_update`` would build a CASE WHEN
    expression per row and field, which costs more than everything else here."""
    if not rows:
        return
    meta = Rental._meta
    fields: list[Any] = [meta.get_field(name) for name in (*FINANCIAL_FIELDS, "updated_at")]
    quote = connection.ops.quote_name
    sql = "UPDATE {table} SET {assignments} WHERE {pk} = %s".format(
        table=quote(meta.db_table),
        assignments=", ".join(f"{quote(f.column)} = %s" for f in fields),
        pk=quote(meta.pk.column),
    )
    params = []
    for pk, values in rows:
        values = {**values, "updated_at": now}
        params.append([f.get_db_prep_save(values[f.name], connection) for f in fields] + [pk])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


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
