"""What a run of ``update_historical_orders`` (``rentals.ops``) did or, on a dry run,
would do: status moves, refunds, orders left for staff, corrected figures and errors."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from car_rental_system.money import ZERO, quantize_money


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
