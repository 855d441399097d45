"""Step 2 of ``update_historical_orders`` (``rentals.ops``): refunding, in bulk,
what closed orders are due, with the same planner as the flows
(``accounts.services.plan_due_refund``), and the stored figures written with
one prepared UPDATE."""

import functools
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from accounts import selectors
from accounts.models import Payment
from accounts.services import enqueue_refund, plan_due_refund, refund_due_rows
from car_rental_system.bulk import insert_rows
from car_rental_system.money import ZERO, quantize_money
from rentals.models import Rental, RentalEvent
from rentals.ops_summary import ManualRefund, OrderError, RefundLine

# Stored figures derived from the ledger (what apply_figures may change).
FINANCIAL_FIELDS = (
    "amount_paid",
    "amount_refunded",
    "goodwill_amount",
    "amount_refund_in_flight",
    "amount_held",
    "settlement_status",
    "settled_at",
    "requires_manual_refund",
)

logger = logging.getLogger(__name__)


# What figures_for / apply_figures read; everything else stays deferred.
LOADED_FIELDS = (
    "id",
    "status",
    "total_amount",
    "deposit",
    "cross_location_fee",
    "overdue_fee",
    "damage_fee",
    "traffic_fine_fee",
    "cancellation_fee",
    "deposit_mode",
    *FINANCIAL_FIELDS,
)


REFUND_REASONS = {Rental.Status.COMPLETED: "deposit", Rental.Status.CANCELLED: "cancellation"}


def _error_text(exc: BaseException) -> str:
    messages = getattr(exc, "messages", None)
    text = "; ".join(str(m) for m in messages) if messages else str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
