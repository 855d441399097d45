"""Reads for the finance dashboard and the payments export (admin only).

Every date is a calendar day in the site's time zone (Asia/Shanghai): "today"
runs from local midnight to local midnight. Revenue is PAID charges by
``paid_at``; refunds are REFUNDED refund rows by ``paid_at`` (when the money
went back); net = revenue − refunds. Amounts are Decimals, never floats.
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
    Window,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.figures import sql as figure_sql
from accounts.models import Discrepancy, Payment, PaymentEvent, ReconciliationRun
from car_rental_system.money import ZERO, quantize_money
from rentals.models import Rental

CHARGE, REFUND = Payment.TransactionType.CHARGE, Payment.TransactionType.REFUND
PAID, REFUNDED = Payment.Status.PAID, Payment.Status.REFUNDED
# Verdicts written by accounts.services.handle_callback on "callback_received"
# events: accepted, duplicate, ignored (already final), amount_mismatch, rejected.
REJECTED_VERDICT = "rejected"
AMOUNT_MISMATCH_VERDICT = "amount_mismatch"
COUNTER_PROVIDER = Payment.COUNTER_PROVIDER
MONITORING_DAYS = 30
MONEY: DecimalField = DecimalField(max_digits=14, decimal_places=2)


def site_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_today(now: datetime | None = None) -> date:
    return timezone.localtime(now or timezone.now(), site_tz()).date()


def day_start(day: date) -> datetime:
    """Local midnight of ``day`` as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=site_tz())


def day_range(first: date, last: date) -> tuple[datetime, datetime]:
    """[local midnight of ``first``, local midnight after ``last``)."""
    return day_start(first), day_start(last + timedelta(days=1))


# --- revenue ------------------------------------------------------------------------


@dataclass(frozen=True)
class Revenue:
    revenue: Decimal
    refunds: Decimal

    @property
    def net(self) -> Decimal:
        return quantize_money(self.revenue - self.refunds)


def revenue_between(start: datetime, end: datetime) -> Revenue:
    """PAID charges and REFUNDED refunds whose ``paid_at`` is in [start, end)."""
    sums = Payment.objects.filter(paid_at__gte=start, paid_at__lt=end).aggregate(
        revenue=Sum("amount", filter=Q(transaction_type=CHARGE, status=PAID)),
        refunds=Sum("amount", filter=Q(transaction_type=REFUND, status=REFUNDED)),
    )
    return Revenue(quantize_money(sums["revenue"] or ZERO), quantize_money(sums["refunds"] or ZERO))


def daily_net_revenue(*, days: int = MONITORING_DAYS, today: date | None = None) -> list[dict]:
    """One row per local day, oldest first: revenue, refunds and net (days with no money are zero).

    The rows are read through the ``paid_at`` index and grouped by the local day
    they fall in, found by comparing ``paid_at`` with the local midnights worked
    out here: the database never converts a time zone row by row."""
    today = today or local_today()
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=offset) for offset in range(days)]
    ends = [day_start(day + timedelta(days=1)) for day in dates]
    day_index = Case(
        *(When(paid_at__lt=end, then=Value(index)) for index, end in enumerate(ends)), output_field=IntegerField()
    )
    rows = (
        Payment.objects.filter(paid_at__gte=day_start(first), paid_at__lt=ends[-1])
        .filter(Q(transaction_type=CHARGE, status=PAID) | Q(transaction_type=REFUND, status=REFUNDED))
        .annotate(day=day_index)
        .values("day", "transaction_type")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    by_day: dict[date, dict[str, Decimal]] = {}
    for row in rows:
        by_day.setdefault(dates[row["day"]], {})[row["transaction_type"]] = quantize_money(row["total"])
    series = []
    for day in dates:
        revenue = by_day.get(day, {}).get(CHARGE, ZERO)
        refunds = by_day.get(day, {}).get(REFUND, ZERO)
        series.append({"day": day, "revenue": revenue, "refunds": refunds, "net": quantize_money(revenue - refunds)})
    return series


# --- balances -----------------------------------------------------------------------


def _with_balances(qs):
    """Annotate §4 ``remaining_raw`` and ``refund_due_raw`` from the stored
    figures (which equal the ledger), as ``accounts.figures`` defines them."""
    return qs.annotate(remaining_raw=figure_sql("remaining"), refund_due_raw=figure_sql("refund_due"))


def not_settled():
    """Orders whose settlement is not SETTLED. A SETTLED order is closed and square
    (nothing remaining, no refund due, no deposit held, §4), so the balances read
    only the others, from the partial index ``rental_open_balances`` (which the
    database uses for exactly this condition)."""
    return Rental.objects.exclude(settlement_status=Rental.SettlementStatus.SETTLED)


def outstanding_balances(limit: int | None = 100):
    """Orders whose customer still owes money for a car already handed over, a
    return fee or a cancellation fee: remaining > 0 and not PENDING (an unpaid
    booking is not a debt yet). Largest first. The customers and cars of the
    listed orders are fetched afterwards (prefetch): joined into the sort, SQLite
    would read the orders car by car."""
    qs = (
        _with_balances(not_settled().exclude(status=Rental.Status.PENDING))
        .filter(remaining_raw__gt=0)
        .prefetch_related("customer", "vehicle")
        .order_by("-remaining_raw", "pk")
    )
    return qs[:limit] if limit else qs


def refunds_due(limit: int | None = 100):
    """Orders where the company owes money back (refund_due > 0), largest first;
    the ones flagged for manual handling are among them."""
    qs = (
        _with_balances(not_settled())
        .filter(refund_due_raw__gt=0)
        .prefetch_related("customer", "vehicle")
        .order_by("-refund_due_raw", "pk")
    )
    return qs[:limit] if limit else qs


def listed_with_total(qs, amount: str, limit: int) -> tuple[list, Decimal, int]:
    """The first ``limit`` rows of a balance list, the total of ``amount`` and the
    number of rows over the whole list.

    The order numbers, the total and the count come from one query (the total
    and the count are window functions over every row the list filters in,
    before LIMIT) that needs no column outside the settlement index; the listed
    orders are then read by their primary keys."""
    top = list(
        qs.annotate(list_total=Window(Sum(amount)), list_count=Window(Count("pk"))).values_list(
            "pk", "list_total", "list_count"
        )[:limit]
    )
    if not top:
        return [], ZERO, 0
    listed = {row.pk: row for row in qs.filter(pk__in=[pk for pk, _total, _count in top])}
    return [listed[pk] for pk, _total, _count in top], quantize_money(top[0][1]), top[0][2]


def balance_lists(limit: int = 100) -> dict:
    """The outstanding and refund-due lists (largest first, ``limit`` rows each)
    with their totals and counts over all orders."""
    outstanding, outstanding_total, outstanding_count = listed_with_total(
        outstanding_balances(limit=None), "remaining_raw", limit
    )
    due, due_total, due_count = listed_with_total(refunds_due(limit=None), "refund_due_raw", limit)
    return {
        "outstanding": outstanding,
        "refunds_due": due,
        "balances": {
            "outstanding_total": outstanding_total,
            "outstanding_count": outstanding_count,
            "refunds_due_total": due_total,
            "refunds_due_count": due_count,
        },
    }


def balance_totals() -> dict[str, Decimal]:
    return balance_lists(limit=1)["balances"]


def failed_refunds(limit: int | None = 100):
    """Orders whose refund the provider refused and whose money is still due
    back (SPEC §11): staff retry it or settle it by hand. Largest first."""
    # Driven from the few FAILED refunds (index on payment status), not an
    # EXISTS over every order.
    failed = Payment.objects.filter(status=Payment.Status.FAILED, transaction_type=REFUND).values("rental_id")
    qs = (
        _with_balances(Rental.objects.filter(pk__in=failed))
        .filter(refund_due_raw__gt=0)
        .select_related("customer", "vehicle")
        .order_by("-refund_due_raw", "pk")
    )
    return qs[:limit] if limit else qs


def abnormal_refunds() -> dict:
    """Refunds the provider holds as abnormal (WeChat Pay ABNORMAL, SPEC §17):
    in flight, waiting for staff to resolve them. Count and sum."""
    sums = Payment.objects.filter(
        transaction_type=REFUND, status=Payment.Status.PROCESSING, abnormal=Payment.Abnormal.WAITING
    ).aggregate(total=Sum("amount"), count=Count("pk"))
    return {"total": quantize_money(sums["total"] or ZERO), "count": sums["count"]}


def deposits_held() -> dict:
    """Deposits of PENDING/ONGOING/OVERDUE orders that have been paid: the sum
    of each order's ``deposit_held`` (``accounts.figures``), in the database."""
    sums = (
        not_settled()
        .filter(status__in=Rental.ACTIVE_STATUSES, deposit__gt=0, amount_paid__gt=0)
        .annotate(held=figure_sql("deposit_held"))
        .filter(held__gt=0)
        .aggregate(total=Sum("held"), count=Count("pk"))
    )
    return {"total": quantize_money(sums["total"] or ZERO), "count": sums["count"]}


# --- provider monitoring ------------------------------------------------------------


@dataclass
class Monitoring:
    since: datetime
    online_finished: int = 0
    online_paid: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    provider_cancelled: int = 0
    rejected_callbacks: int = 0
    amount_mismatches: int = 0
    rejections_by_reason: list[dict] = field(default_factory=list)
    failures_by_reason: list[dict] = field(default_factory=list)

    @property
    def success_rate(self) -> Decimal | None:
        """PAID ÷ (PAID + FAILED + cancelled by the provider) of online charges,
        in percent (None with no such outcome). Charges we closed ourselves — a
        replaced attempt, a counter payment, a cancelled order, a time-out —
        say nothing about the provider and are left out."""
        if not self.online_finished:
            return None
        return quantize_money(Decimal(self.online_paid) * 100 / Decimal(self.online_finished))


def callback_events(since: datetime):
    return PaymentEvent.objects.filter(event="callback_received", created_at__gte=since)


def rejected_callbacks(since: datetime):
    """Callbacks turned away before acting (bad signature, stale timestamp,
    malformed body, unknown provider or transaction): ``callback_received``
    events with payload verdict "rejected" (accounts.services.handle_callback)."""
    return callback_events(since).filter(payload__verdict=REJECTED_VERDICT)


def cancelled_by_provider():
    """A CANCELLED charge whose cancellation came in a provider callback (the
    payer gave up at the provider), as opposed to one we closed ourselves."""
    return Exists(
        PaymentEvent.objects.filter(
            payment=OuterRef("pk"), to_status=Payment.Status.CANCELLED, payload__source="callback"
        )
    )


def monitoring(*, days: int = MONITORING_DAYS, today: date | None = None) -> Monitoring:
    """Online charges created in the last ``days`` local days (counter payments left out)."""
    today = today or local_today()
    since = day_start(today - timedelta(days=days - 1))
    charges = Payment.objects.filter(transaction_type=CHARGE, created_at__gte=since).exclude(provider=COUNTER_PROVIDER)
    provider_cancelled = Q(status=Payment.Status.CANCELLED) & Q(cancelled_by_provider())
    counts = charges.aggregate(
        finished=Count("pk", filter=Q(status__in=(PAID, Payment.Status.FAILED)) | provider_cancelled),
        paid=Count("pk", filter=Q(status=PAID)),
        failed=Count("pk", filter=Q(status=Payment.Status.FAILED)),
        expired=Count("pk", filter=Q(status=Payment.Status.EXPIRED)),
        cancelled=Count("pk", filter=Q(status=Payment.Status.CANCELLED)),
        provider_cancelled=Count("pk", filter=provider_cancelled),
    )
    failures = list(
        charges.filter(status=Payment.Status.FAILED)
        .values("failure_reason")
        .annotate(count=Count("pk"))
        .order_by("-count", "failure_reason")
    )
    # Grouping on a JSON key differs between SQLite and PostgreSQL; the rejected
    # callbacks of a month are few, so count their reasons here.
    rejected_reasons = [
        (payload or {}).get("reason", "") for payload in rejected_callbacks(since).values_list("payload", flat=True)
    ]
    by_reason: dict[str, int] = {}
    for reason in rejected_reasons:
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return Monitoring(
        since=since,
        online_finished=counts["finished"],
        online_paid=counts["paid"],
        failed=counts["failed"],
        expired=counts["expired"],
        cancelled=counts["cancelled"],
        provider_cancelled=counts["provider_cancelled"],
        rejected_callbacks=len(rejected_reasons),
        amount_mismatches=callback_events(since).filter(payload__verdict=AMOUNT_MISMATCH_VERDICT).count(),
        rejections_by_reason=[
            {"reason": reason, "count": count}
            for reason, count in sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        failures_by_reason=failures,
    )


def reconciliation_status() -> dict:
    """The last reconciliation run of each provider, with its open discrepancies,
    and how many discrepancies are open over all runs (SPEC §14)."""
    last_runs = []
    for provider in sorted(set(ReconciliationRun.objects.order_by().values_list("provider", flat=True))):
        run = (
            ReconciliationRun.objects.filter(provider=provider)
            .annotate(open_count=Count("discrepancies", filter=Q(discrepancies__resolved=False)))
            .order_by("-day")
            .first()
        )
        last_runs.append(run)
    return {"last_runs": last_runs, "open_count": Discrepancy.objects.filter(resolved=False).count()}


def dashboard(now: datetime | None = None) -> dict:
    """Everything the finance dashboard shows."""
    today = local_today(now)
    month_first = today.replace(day=1)
    return {
        "today": today,
        "month_first": month_first,
        "today_revenue": revenue_between(*day_range(today, today)),
        "month_revenue": revenue_between(*day_range(month_first, today)),
        **balance_lists(),
        "failed_refunds": list(failed_refunds()),
        "abnormal_refunds": abnormal_refunds(),
        "deposits_held": deposits_held(),
        "monitoring": monitoring(today=today),
        "daily": daily_net_revenue(today=today),
        "reconciliation": reconciliation_status(),
    }


# --- CSV export ---------------------------------------------------------------------

CSV_HEADER = [
    "transaction_id",
    "rental_id",
    "customer",
    "type",
    "status",
    "method",
    "provider",
    "direction",
    "amount",
    "created_at",
    "paid_at",
    "description",
    "failure_reason",
]
# Leading characters a spreadsheet reads as a formula (or that hide one).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def payments_for_export(first: date, last: date):
    """Ledger rows of the local days [first, last]: by ``paid_at`` when the money
    moved, else by ``created_at`` (so every row appears once and the PAID/REFUNDED
    totals equal the dashboard's revenue for the same days)."""
    start, end = day_range(first, last)
    return (
        Payment.objects.filter(
            Q(paid_at__gte=start, paid_at__lt=end) | Q(paid_at__isnull=True, created_at__gte=start, created_at__lt=end)
        )
        .select_related("rental__customer")
        .order_by("created_at", "id")
    )


def _local_iso(value: datetime | None) -> str:
    return timezone.localtime(value, site_tz()).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _cell(value: str) -> str:
    """Neutralise text a spreadsheet would run as a formula."""
    return "'" + value if value[:1] in FORMULA_PREFIXES else value


class _Echo:
    def write(self, value):
        return value


def _labels(choices) -> dict[str, str]:
    return {value: str(label) for value, label in choices}


def export_rows(first: date, last: date) -> Iterator[str]:
    """CSV lines (UTF-8 BOM and header first) for a StreamingHttpResponse.

    Made for people: type, status and method are the display labels in the
    active language (支付宝, 已退款 …), refunds are negative amounts with the
    direction "out", amounts are plain decimals. The labels are read now, in
    the request's language, not while the response streams.
    """
    labels = {
        "type": _labels(Payment.TransactionType.choices),
        "status": _labels(Payment.Status.choices),
        "method": _labels(Payment.Method.choices),
        "direction": {CHARGE: _("in"), REFUND: _("out")},
    }
    return _export_lines(first, last, labels)


def _export_lines(first: date, last: date, labels: dict) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # The byte-order mark lets spreadsheet programs read the Chinese names as UTF-8.
    yield "\ufeff" + writer.writerow(CSV_HEADER)
    for payment in payments_for_export(first, last).iterator(chunk_size=1000):
        amount = quantize_money(payment.amount)
        if payment.transaction_type == REFUND:
            amount = -amount
        yield writer.writerow(
            [
                payment.transaction_id,
                payment.rental_id,
                _cell(payment.rental.customer.name),
                labels["type"].get(payment.transaction_type, payment.transaction_type),
                labels["status"].get(payment.status, payment.status),
                labels["method"].get(payment.payment_method, payment.payment_method),
                _cell(payment.provider),
                labels["direction"].get(payment.transaction_type, ""),
                f"{amount:.2f}",
                _local_iso(payment.created_at),
                _local_iso(payment.paid_at),
                _cell(payment.description),
                _cell(payment.failure_reason),
            ]
        )
