"""The customer's consumption report (SPEC §7): totals, the monthly chart, one
page of orders and the CSV of a year. A page costs the same queries and
renders the same 20 orders however many orders the customer has.

Rules:
- A period is a calendar year or a month of a year in the site's time zone;
  an order belongs to the period it was booked in (``created_at``).
- The totals and the chart cover every order of the period (the whole history
  without a period), whatever page is shown: they are SQL aggregates over the
  stored ledger figures (``amount_paid`` … which refresh_financials keeps
  equal to the Payment rows), one query for the totals and one grouped query
  over the Payment rows for the chart; the chart is kept in the cache until
  any order of the customer changes (the totals query says when one did).
- The orders are listed newest booking first, ``PAGE_SIZE`` a page; their
  figures and their flow of charges and refunds come from their Payment rows
  (one prefetch for the page).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django import forms
from django.core.cache import cache
from django.db.models import Case, Count, DecimalField, F, IntegerField, Max, Min, Q, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.translation import gettext_lazy as _

from accounts.figures import from_totals
from accounts.figures import sql as figure_sql
from accounts.finance import day_start, site_tz
from accounts.models import Payment
from car_rental_system.compiled_queries import CompiledQuery
from car_rental_system.money import ZERO, quantize_money
from rentals import pricing
from rentals.models import Rental

PAGE_SIZE = 20
MIN_YEAR, MAX_YEAR = 2000, 2100
MONEY: DecimalField = DecimalField(max_digits=14, decimal_places=2)
CHARGE, REFUND = Payment.TransactionType.CHARGE, Payment.TransactionType.REFUND
MOVEMENTS = Q(transaction_type=CHARGE, status=Payment.Status.PAID) | Q(
    transaction_type=REFUND, status=Payment.Status.REFUNDED
)
# Fee columns summed as they are stored; the rental fee without the
# early-return fee, which has its own column (``accounts.figures``).
FEES = (
    "rental_fee",
    "discount_amount",
    "deposit",
    "cross_location_fee",
    "overdue_fee",
    "damage_fee",
    "cancellation_fee",
    "early_return_fee",
)
STORED_FEES = FEES[1:]
MONTH_CHOICES = [("", _("Every month"))] + [(str(number), name) for number, name in MONTHS.items()]


# --- period ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    year: int | None = None
    month: int | None = None

    @property
    def is_whole_history(self) -> bool:
        return self.year is None

    @property
    def first_day(self) -> date | None:
        return date(self.year, self.month or 1, 1) if self.year else None

    def bounds(self) -> tuple[datetime, datetime] | None:
        """[local midnight of the first day, local midnight after the last day)."""
        if self.year is None:
            return None
        if self.month is None:
            return day_start(date(self.year, 1, 1)), day_start(date(self.year + 1, 1, 1))
        first = date(self.year, self.month, 1)
        after = date(self.year + (self.month == 12), self.month % 12 + 1, 1)
        return day_start(first), day_start(after)

    def q(self, prefix: str = "") -> Q:
        bounds = self.bounds()
        if bounds is None:
            return Q()
        return Q(**{f"{prefix}created_at__gte": bounds[0], f"{prefix}created_at__lt": bounds[1]})


def _year_field(required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        label=_("Year"),
        required=required,
        error_messages={
            "required": _("Choose a year."),
            "invalid": _("The year must be a number such as 2026."),
        },
    )


def _check_year(year: int | None) -> int | None:
    if year is not None and not MIN_YEAR <= year <= MAX_YEAR:
        raise forms.ValidationError(
            _("Choose a year between %(min)s and %(max)s."),
            code="year_out_of_range",
            params={"min": MIN_YEAR, "max": MAX_YEAR},
        )
    return year


class PeriodForm(forms.Form):
    """``?year=2026&month=3``: both optional, a month needs a year."""

    year = _year_field(required=False)
    month = forms.TypedChoiceField(
        label=_("Month"),
        required=False,
        choices=MONTH_CHOICES,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": _("The month must be a number from 1 to 12.")},
    )

    def clean_year(self):
        return _check_year(self.cleaned_data.get("year"))

    def clean(self):
        data = super().clean()
        if data.get("month") and not data.get("year"):
            raise forms.ValidationError(_("Choose a year for the month."), code="month_without_year")
        return data

    def period(self) -> Period:
        return Period(self.cleaned_data.get("year"), self.cleaned_data.get("month"))


class YearForm(forms.Form):
    """The CSV's ``?year=2026`` (required)."""

    year = _year_field(required=True)

    def clean_year(self):
        return _check_year(self.cleaned_data.get("year"))


# --- per-order expressions (stored figures, §4) --------------------------------------


def _order_expressions() -> dict:
    """§4 per order from the stored ledger sums, as ``accounts.figures``
    defines them. A SETTLED order is closed and square (nothing remaining, no
    refund due, no deposit held), so those three are only worked out for the
    others."""
    return {
        "order_total": figure_sql("order_total"),  # with the fees: the CSV's totals row only
        "paid": F("amount_paid"),
        "refunded": F("amount_refunded"),
        "net_paid": figure_sql("net_paid"),
        "owed": figure_sql("owed"),  # of overdue orders only, for their late fee so far
        "remaining": figure_sql("remaining", open_only=True),
        "refund_due": figure_sql("refund_due", open_only=True),
        "refund_in_flight": figure_sql("refund_in_flight", open_only=True),
        "deposit_held": figure_sql("deposit_held", open_only=True),
        "rental_fee": figure_sql("rental_fee"),
        **{fee: F(fee) for fee in STORED_FEES},
    }


# --- totals --------------------------------------------------------------------------

PAGE_TOTALS = ("paid", "refunded", "net_paid", "remaining", "refund_due", "refund_in_flight", "deposit_held")
FEE_TOTALS = ("order_total", *FEES)


@dataclass
class Totals:
    figures: dict
    order_count: int
    first_booked: datetime | None
    # (orders, last change of any order) over the whole history: changes with
    # every order written and every ledger change (refresh_financials saves
    # the order's sums and updated_at).
    version: tuple = ()


_WHOLE_HISTORY: list[CompiledQuery] = []


def _whole_history_totals(customer_id: int, aggregates: dict) -> dict:
    """The aggregate of the whole history (the report's default page), as one
    group of the customer's orders: its statement is the same for every
    customer, so it is compiled once per connection; no order, no group."""
    if not _WHOLE_HISTORY:
        _WHOLE_HISTORY.append(
            CompiledQuery(
                lambda pk: (
                    Rental.objects.filter(customer_id=pk)
                    .order_by()
                    .values("customer_id")
                    .annotate(**aggregates)
                    .values(*aggregates)
                )
            )
        )
    found = _WHOLE_HISTORY[0].fetch(customer_id)
    if found:
        return found[0]
    return {name: 0 if isinstance(aggregate, Count) else None for name, aggregate in aggregates.items()}


def totals(customer, period: Period, now: datetime | None = None, *, with_fees: bool = False) -> Totals:
    """The period's totals, its order count, the customer's first booking and
    the version of their orders, in one aggregate query (no
    GROUP BY: each sum filters the period's orders).

    An OVERDUE order's remaining counts its late fee so far (SPEC §16), which
    depends on the time: the query brings the end and rate of the period's
    overdue order when there is one (the usual case); with more than one, a
    second query reads them, one row per overdue order. ``with_fees`` adds the
    sums of the fees and of the order totals (for the CSV's totals row)."""
    now = now or timezone.now()
    names = PAGE_TOTALS + FEE_TOTALS if with_fees else PAGE_TOTALS
    expressions = _order_expressions()
    in_period = period.q()
    overdue = in_period & Q(status=Rental.Status.OVERDUE)

    def in_period_sum(expression, condition=in_period):
        return (
            Sum(expression, output_field=MONEY, filter=condition) if condition else Sum(expression, output_field=MONEY)
        )

    aggregates = dict(
        **{f"sum_{name}": in_period_sum(expressions[name]) for name in names},
        **({"count": Count("pk", filter=in_period)} if in_period else {}),
        first_booked=Min("created_at"),
        last_updated=Max("updated_at"),
        all_orders=Count("pk"),
        overdue_count=Count("pk", filter=overdue),
        overdue_owed=in_period_sum(expressions["owed"], overdue),
        overdue_net_paid=in_period_sum(expressions["net_paid"], overdue),
        overdue_remaining=in_period_sum(expressions["remaining"], overdue),
        overdue_end=Max("end_time", filter=overdue),
        overdue_rate=Max("daily_rate", filter=overdue),
    )
    if not in_period and not with_fees:
        row = _whole_history_totals(customer.pk, aggregates)
    else:
        row = Rental.objects.filter(customer=customer).aggregate(**aggregates)
    sums = {name: quantize_money(row[f"sum_{name}"] or ZERO) for name in names}
    overdue_orders = []
    if row["overdue_count"] == 1:
        overdue_orders = [
            (
                row["overdue_end"],
                row["overdue_rate"],
                row["overdue_owed"],
                row["overdue_net_paid"],
                row["overdue_remaining"],
            )
        ]
    elif row["overdue_count"] > 1:
        overdue_orders = list(
            Rental.objects.filter(customer=customer)
            .filter(overdue)
            .annotate(
                owed_db=expressions["owed"],
                net_db=expressions["net_paid"],
                remaining_db=expressions["remaining"],
            )
            .values_list("end_time", "daily_rate", "owed_db", "net_db", "remaining_db")
        )
    overdue_so_far = ZERO
    for end_time, daily_rate, owed, net_paid, remaining in overdue_orders:
        so_far = pricing.overdue_fee_for(end_time, now, daily_rate)
        overdue_so_far += so_far
        remaining_so_far = max(ZERO, quantize_money(quantize_money(owed) + so_far - quantize_money(net_paid)))
        sums["remaining"] += remaining_so_far - quantize_money(remaining)
    figures = {name: quantize_money(value) for name, value in sums.items()}
    figures["overdue_so_far"] = quantize_money(overdue_so_far)
    # What the customer will not get back, over the period (the figure is linear).
    figures["spent"] = from_totals("spent", figures)
    updated = row["last_updated"]
    version = (row["all_orders"], updated.isoformat() if updated else "")
    return Totals(figures, row["count"] if in_period else row["all_orders"], row["first_booked"], version)


# --- monthly chart --------------------------------------------------------------------


def _month_starts(first: date, last: date) -> list[date]:
    """First days of the months from ``first``'s to ``last``'s, and of the month after."""
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    months.append(date(year, month, 1))
    return months


def _bucket(field: str, bounds: list[datetime], low: int, high: int):
    """The index i with bounds[i] <= field < bounds[i + 1], as a balanced tree of
    comparisons (log₂ of the months per row, no time-zone function in SQL);
    NULL outside [bounds[low], bounds[high])."""
    if high - low == 1:
        return Case(
            When(**{f"{field}__gte": bounds[low], f"{field}__lt": bounds[high]}, then=Value(low)),
            default=None,
            output_field=IntegerField(),
        )
    middle = (low + high) // 2
    return Case(
        When(**{f"{field}__lt": bounds[middle]}, then=_bucket(field, bounds, low, middle)),
        default=_bucket(field, bounds, middle, high),
        output_field=IntegerField(),
    )


MONTHLY_CACHE_SECONDS = 24 * 3600


def monthly(
    customer, period: Period, first_booked: datetime | None, now: datetime | None = None, version=()
) -> list[dict]:
    """Paid, refunded and net paid per local month the money moved (``paid_at``,
    else ``created_at``), over the Payment rows of the period's orders; months
    without money left out. One grouped query; rows outside the expected range
    (money moved before the first booking or after a year from now) are placed
    by a second one, for them only.

    With a ``version`` (Totals.version) the result is kept in the cache until
    any order of the customer changes."""
    if first_booked is None:
        return []
    if version:
        key = f"consumption-monthly:{customer.pk}:{period.year}:{period.month}:{version[0]}:{version[1]}"
        cached = cache.get(key)
        if cached is None:
            cached = monthly(customer, period, first_booked, now)
            cache.set(key, cached, MONTHLY_CACHE_SECONDS)
        return cached
    tz = site_tz()
    now = now or timezone.now()
    low = timezone.localtime(first_booked, tz).date()
    # Refunds of orders still running may come after today: a year of margin.
    high = max(timezone.localtime(now, tz).date(), low) + timedelta(days=366)
    starts = _month_starts(low, high)
    bounds = [day_start(start) for start in starts]
    payments = (
        Payment.objects.filter(MOVEMENTS, rental__customer=customer)
        .filter(period.q("rental__"))
        .annotate(moved_at=Coalesce("paid_at", "created_at"))
    )
    rows = (
        payments.annotate(bucket=_bucket("moved_at", bounds, 0, len(bounds) - 1))
        .values("bucket", "transaction_type")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    by_month: dict[str, dict[str, Decimal]] = {}

    def add(month: str, transaction_type: str, amount) -> None:
        key = "paid" if transaction_type == CHARGE else "refunded"
        entry = by_month.setdefault(month, {"paid": ZERO, "refunded": ZERO})
        entry[key] += quantize_money(amount)

    outside = False
    for row in rows:
        if row["bucket"] is None:
            outside = True
            continue
        add(f"{starts[row['bucket']]:%Y-%m}", row["transaction_type"], row["total"])
    if outside:
        stray = payments.exclude(moved_at__gte=bounds[0], moved_at__lt=bounds[-1]).values_list(
            "moved_at", "transaction_type", "amount"
        )
        for moved_at, transaction_type, amount in stray:
            add(f"{timezone.localtime(moved_at, tz):%Y-%m}", transaction_type, amount)
    return [
        {
            "month": month,
            "paid": str(quantize_money(by_month[month]["paid"])),
            "refunded": str(quantize_money(by_month[month]["refunded"])),
            "net_paid": str(quantize_money(by_month[month]["paid"] - by_month[month]["refunded"])),
        }
        for month in sorted(by_month)
    ]


# --- the page -------------------------------------------------------------------------


def years_of(first_booked: datetime | None, now: datetime | None = None) -> list[int]:
    """The years a customer can pick, newest first: from the first booking to this year."""
    if first_booked is None:
        return []
    tz = site_tz()
    first = timezone.localtime(first_booked, tz).year
    last = max(first, timezone.localtime(now or timezone.now(), tz).year)
    return list(range(last, first - 1, -1))


def report(customer, period: Period, page_number=None, now: datetime | None = None) -> dict:
    """Totals and chart of the period, and one page of its orders (the page
    number is clamped to the pages there are)."""
    from accounts.selectors import customer_rentals, order_row, rentals_page

    now = now or timezone.now()
    summary = totals(customer, period, now)
    # the count is known from the totals: no COUNT query
    page = rentals_page(
        rentals=customer_rentals(customer=customer).filter(period.q()),
        number=page_number,
        per_page=PAGE_SIZE,
        count=summary.order_count,
        all_of=None if period.q() else customer.pk,
    )
    rows = [order_row(rental=rental, now=now) for rental in page.object_list]
    return {
        "rows": rows,
        "page": page,
        "totals": summary.figures,
        "order_count": summary.order_count,
        "monthly": monthly(customer, period, summary.first_booked, now, summary.version),
        "years": years_of(summary.first_booked, now),
        "period": period,
    }
