"""The small expression language the money figures are written in
(``accounts.figures``): each term is evaluated in Python on one order's
fields and sums, or turned into a Django SQL expression on the stored sums."""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Case, DecimalField, F, Q, Value, When
from django.db.models.functions import Greatest, Least, Round

from car_rental_system.money import ZERO, quantize_money

MONEY: DecimalField = DecimalField(max_digits=14, decimal_places=2)

# Where each sum is stored on the order (``Rental.apply_figures`` writes them).
STORED_SUMS = {
    "paid": "amount_paid",
    "refunded": "amount_refunded",
    "goodwill": "goodwill_amount",
    "in_flight": "amount_refund_in_flight",
}
# The §18 figure ``held``: what the order's HELD deposit hold still holds. Not
# a ledger sum (holds are not money): read from the hold rows (``hold_sums``)
# or, stored, off the order.
STORED_HELD = "amount_held"


class Term:
    """A figure's expression: ``value`` in Python, ``sql`` as a Django expression."""

    def value(self, env: "Env") -> Any:
        raise NotImplementedError

    def sql(self) -> Any:
        raise NotImplementedError

    def __add__(self, other: "Term") -> "Term":
        return Plus(self, other)

    def __sub__(self, other: "Term") -> "Term":
        return Minus(self, other)


@dataclass(frozen=True, eq=False)
class Field(Term):
    """An order field, or a ledger sum (stored on the order for SQL)."""

    name: str

    def value(self, env: "Env") -> Any:
        return env.read(self.name)

    def sql(self) -> Any:
        return F(STORED_SUMS.get(self.name, STORED_HELD if self.name == "held" else self.name))


@dataclass(frozen=True, eq=False)
class Plus(Term):
    left: Term
    right: Term

    def value(self, env: "Env") -> Decimal:
        return self.left.value(env) + self.right.value(env)

    def sql(self) -> Any:
        return self.left.sql() + self.right.sql()


@dataclass(frozen=True, eq=False)
class Minus(Term):
    left: Term
    right: Term

    def value(self, env: "Env") -> Decimal:
        return self.left.value(env) - self.right.value(env)

    def sql(self) -> Any:
        return self.left.sql() - self.right.sql()


@dataclass(frozen=True, eq=False)
class AtLeastZero(Term):
    term: Term

    def value(self, env: "Env") -> Decimal:
        return max(ZERO, quantize_money(self.term.value(env)))

    def sql(self) -> Any:
        return Greatest(self.term.sql(), Value(ZERO), output_field=MONEY)


@dataclass(frozen=True, eq=False)
class Smaller(Term):
    left: Term
    right: Term

    def value(self, env: "Env") -> Decimal:
        return min(self.left.value(env), self.right.value(env))

    def sql(self) -> Any:
        return Least(self.left.sql(), self.right.sql(), output_field=MONEY)


@dataclass(frozen=True, eq=False)
class Zero(Term):
    def value(self, env: "Env") -> Decimal:
        return ZERO

    def sql(self) -> Any:
        return Value(ZERO, output_field=MONEY)


@dataclass(frozen=True, eq=False)
class Condition:
    """A test on an order's status and fields: a bool in Python, a ``Q`` in SQL."""

    statuses: tuple[str, ...] = ()
    positive: str = ""  # a field that must be > 0
    deposit_modes: tuple[str, ...] = ()  # the order's deposit_mode is one of these

    def holds(self, env: "Env") -> bool:
        if self.statuses and env.read("status") not in self.statuses:
            return False
        if self.deposit_modes and env.read("deposit_mode") not in self.deposit_modes:
            return False
        return not self.positive or env.read(self.positive) > ZERO

    def q(self) -> Q:
        q = Q(status__in=self.statuses) if self.statuses else Q()
        if self.deposit_modes:
            q &= Q(deposit_mode__in=self.deposit_modes)
        return q & Q(**{f"{self.positive}__gt": 0}) if self.positive else q


@dataclass(frozen=True, eq=False)
class Choose(Term):
    """The first case whose condition holds, else ``default``."""

    cases: tuple[tuple[Condition, Term], ...]
    default: Term

    def value(self, env: "Env") -> Decimal:
        for condition, term in self.cases:
            if condition.holds(env):
                return term.value(env)
        return self.default.value(env)

    def sql(self) -> Any:
        return Case(
            *(When(condition.q(), then=term.sql()) for condition, term in self.cases),
            default=self.default.sql(),
            output_field=MONEY,
        )


@dataclass(frozen=True, eq=False)
class Figure(Term):
    """A named figure: computed once per order in Python, rounded to the cent in SQL."""

    name: str
    term: Term

    def value(self, env: "Env") -> Decimal:
        if self.name not in env.figures:
            env.figures[self.name] = quantize_money(self.term.value(env))
        return env.figures[self.name]

    def sql(self) -> Any:
        return Round(self.term.sql(), 2, output_field=MONEY)


class Env:
    """One order's inputs: its fields (read off ``order``, or off ``values``
    when given) and its ledger sums; figures computed are kept."""

    def __init__(self, order: Any, sums: Mapping[str, Decimal], values: Mapping[str, Any] | None = None):
        self.order, self.sums, self.values = order, sums, values
        self.figures: dict[str, Decimal] = {}

    def read(self, name: str) -> Any:
        if name in self.sums:
            return self.sums[name]
        if self.values is not None:
            return self.values[name]
        if name == "held":
            return getattr(self.order, STORED_HELD)
        return getattr(self.order, name)
