"""The money figures of an order (SPEC §4, §11, §16), defined once.

Each figure below is written one time, as a small expression over an order's
fields and its four ledger sums. The same expression is evaluated two ways:

* in Python (``figures_for``, ``value_of``) for one order's pages, the
  services and the batch job — on the sums of its Payment rows;
* as a Django SQL expression (``sql``) for the finance dashboard, the staff
  lists and the consumption report — on the stored sums, which equal the
  ledger (``Rental.refresh_financials`` keeps them so).

The ledger sums themselves (what counts as paid, refunded, goodwill and in
flight) are defined once too, in ``LEDGER_SUMS``, and read either from rows in
Python (``sum_rows``) or as filtered aggregates in SQL (``ledger_aggregates``).

SQLite computes decimals in floating point (a fully paid 1,812.47 × 1 day +
1,000 order leaves 4.5e-13 "remaining"), so every figure in SQL is rounded to
the cent, as Python quantizes it; both then agree on both databases.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Case, Expression, Q, Sum, Value, When

from accounts.figure_terms import (  # noqa: F401  (STORED_* read by the flows through here)
    MONEY,
    STORED_HELD,
    STORED_SUMS,
    AtLeastZero,
    Choose,
    Condition,
    Env,
    Field,
    Figure,
    Smaller,
    Zero,
)
from accounts.models import DepositHold, Payment
from car_rental_system.money import ZERO, quantize_money
from rentals.models import Rental

# --- the ledger sums ---------------------------------------------------------------

CHARGE, REFUND = Payment.TransactionType.CHARGE, Payment.TransactionType.REFUND

# name: (the Payment column summed, its transaction type, the statuses counted)
LEDGER_SUMS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "paid": ("amount", CHARGE, (Payment.Status.PAID,)),
    "refunded": ("amount", REFUND, (Payment.Status.REFUNDED,)),
    "goodwill": ("goodwill_amount", REFUND, (Payment.Status.REFUNDED,)),
    # Refunds asked of the provider and not yet answered (SPEC §11).
    "in_flight": ("amount", REFUND, tuple(Payment.OPEN_STATUSES)),
}
SUM_NAMES = tuple(LEDGER_SUMS)


def sum_rows(rows: Iterable[tuple[str, str, Decimal, Decimal]]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(paid, refunded, goodwill, in flight) of ``(transaction_type, status,
    amount, goodwill_amount)`` rows, by ``LEDGER_SUMS``."""
    totals = dict.fromkeys(SUM_NAMES, ZERO)
    for transaction_type, status, amount, goodwill in rows:
        for name, (column, kind, statuses) in LEDGER_SUMS.items():
            if transaction_type == kind and status in statuses:
                totals[name] += goodwill if column == "goodwill_amount" else amount
    return tuple(quantize_money(totals[name]) for name in SUM_NAMES)  # type: ignore[return-value]


def ledger_condition(name: str, prefix: str = "") -> Q:
    _column, kind, statuses = LEDGER_SUMS[name]
    return Q(**{f"{prefix}transaction_type": kind, f"{prefix}status__in": statuses})


def ledger_aggregates(prefix: str = "") -> dict[str, Sum]:
    """The four sums as aggregates over Payment rows (``prefix`` reaches them
    from another model, e.g. ``"payments__"``)."""
    return {
        name: Sum(f"{prefix}{column}", filter=ledger_condition(name, prefix))
        for name, (column, _kind, _statuses) in LEDGER_SUMS.items()
    }


# --- the figures (SPEC §4, §16 goodwill, §11 refunds in flight) ------------------------------

S = Rental.Status
paid, refunded, goodwill, in_flight = (Field(name) for name in SUM_NAMES)
total_amount, deposit, cancellation_fee = Field("total_amount"), Field("deposit"), Field("cancellation_fee")

RENT_AND_FEES = Figure(
    "rent_and_fees",
    # Summed as a balanced tree: SQLite's parser has a shallow stack.
    (total_amount + Field("cross_location_fee"))
    + ((Field("overdue_fee") + Field("damage_fee")) + Field("traffic_fine_fee")),
)
ORDER_TOTAL = Figure("order_total", RENT_AND_FEES + deposit)
# A deposit frozen in Alipay or waived on WeChat Pay Score is never owed as
# money, in any status (§18); the orders whose deposit it is.
HELD_DEPOSIT = Condition(deposit_modes=tuple(Rental.HELD_DEPOSIT_MODES))
# The rent of the days used: the rental fee less the early-return fee it holds
# once a car came back early (SPEC §19); pages and the CSV list the two apart.
RENTAL_FEE = Figure("rental_fee", total_amount - Field("early_return_fee"))
# What the customer owes for the order as it stands: all of it while open, rent
# and fees once returned (the deposit comes back), the cancellation fee once
# cancelled; less goodwill given back, never below zero.
OWED = Figure(
    "owed",
    AtLeastZero(
        Choose(
            (
                (Condition(statuses=(S.COMPLETED,)), RENT_AND_FEES),
                (Condition(statuses=(S.CANCELLED,)), cancellation_fee),
                (HELD_DEPOSIT, RENT_AND_FEES),
            ),
            default=ORDER_TOTAL,
        )
        - goodwill
    ),
)
NET_PAID = Figure("net_paid", paid - refunded)
REMAINING = Figure("remaining", AtLeastZero(OWED - NET_PAID))
# Refunds in flight are no longer due and not yet refunded (§11).
REFUND_DUE = Figure("refund_due", AtLeastZero(NET_PAID - OWED - in_flight))
# The deposit actually in hand on an open order: payments cover rent and fees
# (less goodwill) first, the deposit last (§4: fees are taken from the deposit).
DEPOSIT_HELD = Figure(
    "deposit_held",
    Choose(
        (
            (HELD_DEPOSIT, Zero()),
            (
                Condition(statuses=tuple(Rental.ACTIVE_STATUSES), positive="deposit"),
                Smaller(deposit, AtLeastZero(NET_PAID - AtLeastZero(RENT_AND_FEES - goodwill))),
            ),
        ),
        default=Zero(),
    ),
)
# Refunds asked of the provider and not yet confirmed or refused: neither
# spent nor back yet (§11).
REFUND_IN_FLIGHT = Figure("refund_in_flight", in_flight)
# What the customer will not get back: net paid less the deposit still held,
# any refund still due and any refund on its way back.
# (The deepest term last, at the top: SQLite's parser has a shallow stack.)
SPENT = Figure("spent", NET_PAID - REFUND_IN_FLIGHT - DEPOSIT_HELD - REFUND_DUE)

# What the company keeps of a closed order (the amount of its e-invoice, SPEC
# §20): net paid less refunds in flight and any refund still due, i.e. the
# smaller of what is owed and what stays paid.
# (net paid − in flight − refund due is the smaller of owed and net paid −
# in flight: written so, its SQL stays shallow enough for SQLite's parser.)
KEPT = Figure("kept", AtLeastZero(Smaller(OWED, NET_PAID - REFUND_IN_FLIGHT)))
# What the order's HELD deposit hold still holds (§18; not money).
HELD = Figure("held", Field("held"))

FIGURES: dict[str, Figure] = {
    figure.name: figure
    for figure in (
        RENT_AND_FEES,
        ORDER_TOTAL,
        OWED,
        NET_PAID,
        REMAINING,
        REFUND_DUE,
        REFUND_IN_FLIGHT,
        DEPOSIT_HELD,
        SPENT,
        KEPT,
        HELD,
    )
}


# --- the deposit's way on a returned order (§4: fees are taken from the deposit) -------------

# Payments cover the rental fee first, then the deposit, then any fee beyond
# both (paid at booking, like a one-way fee, or at the counter after return).
DEPOSIT_PAID = Figure("deposit_paid", Smaller(deposit, AtLeastZero(paid - total_amount)))
FEES_PAID_APART = AtLeastZero(paid - total_amount - deposit)
# The fees found beyond the rental fee (less goodwill) that the deposit paid.
FEES_FROM_DEPOSIT = Figure(
    "fees_from_deposit",
    Smaller(DEPOSIT_PAID, AtLeastZero(RENT_AND_FEES - total_amount - goodwill - FEES_PAID_APART)),
)
# What of the deposit comes back to the customer: refunded, in flight or due.
DEPOSIT_BACK = Figure("deposit_back", DEPOSIT_PAID - FEES_FROM_DEPOSIT)
DEPOSIT_FIGURES: dict[str, Figure] = {figure.name: figure for figure in (DEPOSIT_PAID, FEES_FROM_DEPOSIT, DEPOSIT_BACK)}

# Every figure by name for ``sql`` and ``value_of``: the money figures, and the
# rental fee without the early-return fee (read by the report lines only, so
# ``figures_for`` and the batch job don't load its field).
NAMED_FIGURES: dict[str, Figure] = {**FIGURES, RENTAL_FEE.name: RENTAL_FEE}


def deposit_way(order: Any, figures: "MoneyFigures") -> dict[str, Decimal]:
    """The deposit's way of a returned order (its DEPOSIT_FIGURES): paid, fees
    taken from it, back to the customer; empty for other orders and orders
    without a deposit paid."""
    if order.status != Rental.Status.COMPLETED or order.deposit <= ZERO:
        return {}
    if order.deposit_mode in Rental.HELD_DEPOSIT_MODES:  # no deposit was paid as money (§18)
        return {}
    sums = {"paid": figures.paid, "goodwill": figures.goodwill}
    way = {name: evaluate(figure, order, sums, {}) for name, figure in DEPOSIT_FIGURES.items()}
    return way if way["deposit_paid"] > ZERO else {}


# --- while an order is OVERDUE (SPEC §16 "overdue so far") ---------------------------------

# The late fee accrued so far (``Rental.overdue_fee_so_far(now)``): an input
# given with the sums in Python; in SQL an annotation of that name.
OVERDUE_SO_FAR = Field("overdue_so_far")
# What the order would still owe if the car came back now, counted the way the
# order owes while open (the deposit included).
REMAINING_SO_FAR = Figure("remaining_so_far", AtLeastZero(OWED + OVERDUE_SO_FAR - NET_PAID))
# The part of the late fee so far the deposit in hand pays at the return (§4:
# fees are taken from the deposit before it is refunded).
OVERDUE_FROM_DEPOSIT = Figure("overdue_from_deposit", Smaller(OVERDUE_SO_FAR, DEPOSIT_HELD))
# What the return would ask beyond what was paid, deposit used: rent and fees
# with the late fee so far (less goodwill), less net paid.
DUE_AT_RETURN_SO_FAR = Figure(
    "due_at_return_so_far", AtLeastZero(AtLeastZero(RENT_AND_FEES + OVERDUE_SO_FAR - goodwill) - NET_PAID)
)
SO_FAR_FIGURES: dict[str, Figure] = {
    figure.name: figure for figure in (REMAINING_SO_FAR, OVERDUE_FROM_DEPOSIT, DUE_AT_RETURN_SO_FAR)
}


def so_far_figures(order: Any, figures: "MoneyFigures", overdue_so_far: Decimal) -> dict[str, Decimal]:
    """The SO_FAR_FIGURES of one order, from its figures (``figures_for``) and
    the late fee accrued so far."""
    known = {"owed": figures.owed, "net_paid": figures.net_paid, "deposit_held": figures.deposit_held}
    sums = {"goodwill": figures.goodwill, "overdue_so_far": quantize_money(overdue_so_far)}
    return {name: evaluate(figure, order, sums, known) for name, figure in SO_FAR_FIGURES.items()}


def evaluate(figure: Figure, order: Any, sums: Mapping[str, Decimal], known: Mapping[str, Decimal]) -> Decimal:
    """``figure`` of ``order`` on ``sums``, taking the figures in ``known`` as given."""
    env = Env(order, sums)
    env.figures.update(known)
    return figure.value(env)


def sql(name: str, *, open_only: bool = False) -> Any:
    """Figure ``name`` as a SQL expression on a Rental queryset's stored sums.
    ``open_only``: zero for SETTLED orders without working it out (a SETTLED
    order is closed and square: nothing remaining, no refund due, no deposit
    held), which lets the database skip them."""
    expression: Expression = NAMED_FIGURES[name].sql()
    if open_only:
        return Case(
            When(settlement_status=Rental.SettlementStatus.SETTLED, then=Value(ZERO)),
            default=expression,
            output_field=MONEY,
        )
    return expression


def value_of(name: str, order: Any, sums: Mapping[str, Decimal] | None = None) -> Decimal:
    """Figure ``name`` of one order in Python, on ``sums`` (default: the
    order's stored sums)."""
    return NAMED_FIGURES[name].value(Env(order, sums if sums is not None else stored_sums(order)))


def from_totals(name: str, totals: Mapping[str, Decimal]) -> Decimal:
    """Figure ``name`` (a sum or difference of other figures, like ``spent``)
    over many orders, from the totals of the figures it is made of: those
    are taken as given, so the definition is the same one."""
    env = Env(None, {})
    env.figures.update(totals)
    return FIGURES[name].value(env)


def stored_sums(order: Any) -> dict[str, Decimal]:
    return {name: getattr(order, column) for name, column in STORED_SUMS.items()}


# --- one order's figures ---------------------------------------------------------------------


@dataclass(frozen=True)
class MoneyFigures:
    """The §4 figures of one rental, all derived from its Payment ledger."""

    paid: Decimal
    refunded: Decimal
    goodwill: Decimal
    net_paid: Decimal
    refund_in_flight: Decimal
    order_total: Decimal
    owed: Decimal
    remaining: Decimal
    refund_due: Decimal
    settlement_status: str
    deposit_held: Decimal = ZERO
    spent: Decimal = ZERO
    # §18: what a HELD deposit hold still holds (not money), and whether a
    # hold is open (PENDING or HELD): an order with one is never SETTLED.
    held: Decimal = ZERO
    hold_open: bool = False


def settlement_of(
    *,
    status: str,
    paid: Decimal,
    remaining: Decimal,
    refund_due: Decimal,
    in_flight: Decimal,
    hold_open: bool = False,
) -> str:
    """SETTLED once a closed order is square with nothing in flight and no
    deposit hold open (§18); else PARTIAL when anything was paid, UNSETTLED
    when nothing was."""
    if (
        status in Rental.CLOSED_STATUSES
        and remaining == ZERO
        and refund_due == ZERO
        and in_flight == ZERO
        and not hold_open
    ):
        return Rental.SettlementStatus.SETTLED
    if paid > ZERO:
        return Rental.SettlementStatus.PARTIAL
    return Rental.SettlementStatus.UNSETTLED


def figures_for(
    order: Any,
    paid: Decimal,
    refunded: Decimal,
    goodwill: Decimal = ZERO,
    in_flight: Decimal = ZERO,
    holds: tuple[Decimal, bool] | None = None,
) -> MoneyFigures:
    """The figures of ``order`` for given ledger sums and ``holds`` = (held,
    a hold open) (``hold_sums``; None: as stored on the order). Pure; no query."""
    held, hold_open = holds if holds is not None else stored_holds(order)
    sums = {"paid": paid, "refunded": refunded, "goodwill": goodwill, "in_flight": in_flight, "held": held}
    env = Env(order, sums)
    values = {name: figure.value(env) for name, figure in FIGURES.items()}
    return MoneyFigures(
        paid=paid,
        refunded=refunded,
        goodwill=goodwill,
        net_paid=values["net_paid"],
        refund_in_flight=values["refund_in_flight"],
        order_total=values["order_total"],
        owed=values["owed"],
        remaining=values["remaining"],
        refund_due=values["refund_due"],
        settlement_status=settlement_of(
            status=order.status,
            paid=paid,
            remaining=values["remaining"],
            refund_due=values["refund_due"],
            in_flight=in_flight,
            hold_open=hold_open,
        ),
        deposit_held=values["deposit_held"],
        spent=values["spent"],
        held=values["held"],
        hold_open=hold_open,
    )


def stored_holds(order: Any) -> tuple[Decimal, bool]:
    """(held, a hold open) as stored on the order: its ``amount_held``; an
    order holding nothing may still have a hold asked and not confirmed, which
    only the rows tell (``hold_sums``)."""
    held = getattr(order, STORED_HELD, ZERO)
    return held, held > ZERO


def hold_sums(order: Any) -> tuple[Decimal, bool]:
    """(held, a hold open) of one order from its DepositHold rows: the rest of
    its HELD holds (§18 ``held``) and whether any is PENDING or HELD. Uses a
    prefetch of ``holds`` when there is one; orders whose deposit is paid as
    money or waived hold nothing and are not read."""
    cache = getattr(order, "_prefetched_objects_cache", {})
    if "holds" in cache:
        rows = [(h.status, h.amount, h.captured_amount, h.released_amount) for h in cache["holds"]]
    elif getattr(order, "deposit_mode", None) in Rental.HELD_DEPOSIT_MODES and order.pk:
        rows = list(
            DepositHold.objects.filter(rental_id=order.pk, status__in=DepositHold.OPEN_STATUSES)
            .order_by()
            .values_list("status", "amount", "captured_amount", "released_amount")
        )
    else:
        return ZERO, False
    held = sum(
        (
            amount - captured - released
            for status, amount, captured, released in rows
            if status == DepositHold.Status.HELD
        ),
        ZERO,
    )
    return quantize_money(held), any(status in DepositHold.OPEN_STATUSES for status, *_rest in rows)


def ledger_sums(order: Any) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(paid, refunded, goodwill, in flight) of one order's Payment rows; uses
    a prefetch when there is one, else reads its rows (a handful) in one plain
    query and adds them up here."""
    cache = getattr(order, "_prefetched_objects_cache", {})
    if "payments" in cache:
        rows = [(p.transaction_type, p.status, p.amount, p.goodwill_amount) for p in cache["payments"]]
    else:
        rows = list(order.payments.order_by().values_list("transaction_type", "status", "amount", "goodwill_amount"))
    return sum_rows(rows)
