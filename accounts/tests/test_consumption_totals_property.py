"""The consumption report's totals, monthly figures and per-order figures equal
sums worked out here, independently, from the Payment rows written (random
orders, charges and refunds across months; whole history and a chosen year).

Few examples locally; ``CI=true`` runs more."""

import os
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import Payment
from accounts.tests.ledgers import ledger_rows
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.services import refresh_statuses_if_due
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

EXAMPLES = 60 if os.environ.get("CI") else 12
SHANGHAI = ZoneInfo("Asia/Shanghai")
ZERO = Decimal("0.00")
REPORT = reverse("accounts:consumption_report")

cents = st.integers(min_value=1, max_value=400_000).map(lambda c: Decimal(c) / 100)
# (month offset from 2025-01, day, hour): local times, month ends included
moment = st.tuples(st.integers(0, 23), st.sampled_from([1, 15, 28, 31]), st.sampled_from([0, 7, 8, 12, 23]))


def local(offset_day_hour) -> datetime:
    offset, day, hour = offset_day_hour
    year, month = 2025 + offset // 12, offset % 12 + 1
    last = 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31
    return datetime(year, month, min(day, last), hour, 30, tzinfo=SHANGHAI)


order_strategy = st.fixed_dictionaries(
    {
        "status": st.sampled_from(
            [Rental.Status.PENDING, Rental.Status.ONGOING, Rental.Status.COMPLETED, Rental.Status.CANCELLED]
        ),
        "booked": moment,
        "damage_fee": st.sampled_from([ZERO, Decimal("150.55")]),
        "cancellation_fee": st.sampled_from([ZERO, Decimal("99.99")]),
        # (amount, status, when) of each charge
        "charges": st.lists(
            st.tuples(cents, st.sampled_from(["PAID", "PAID", "FAILED", "EXPIRED"]), moment), max_size=3
        ),
        # refunds as (share of the PAID charges in percent, status, goodwill share in percent, when)
        "refunds": st.lists(
            st.tuples(
                st.integers(1, 60),
                st.sampled_from(["REFUNDED", "REFUNDED", "PENDING", "FAILED"]),
                st.sampled_from([0, 0, 50]),
                moment,
            ),
            max_size=2,
        ),
    }
)


def write(customer, vehicle, spec) -> tuple[Rental, list[Payment]]:
    rental = RentalFactory(customer=customer, vehicle=vehicle, created_at=local(spec["booked"]))
    Rental.objects.filter(pk=rental.pk).update(
        status=spec["status"], damage_fee=spec["damage_fee"], cancellation_fee=spec["cancellation_fee"]
    )
    charges = [(amount, status, "", Payment.Method.ALIPAY, local(when)) for amount, status, when in spec["charges"]]
    refunds = [(share, status, goodwill, local(when)) for share, status, goodwill, when in spec["refunds"]]
    rows = ledger_rows(rental, charges=charges, refunds=refunds)
    Payment.objects.bulk_create(rows)
    rental.refresh_from_db()
    rental.refresh_financials()
    return rental, rows


def expected(rental: Rental, payments: list[Payment]) -> dict:
    """§4 from the rows written, by hand."""
    paid = sum((p.amount for p in payments if p.transaction_type == "CHARGE" and p.status == "PAID"), ZERO)
    refunds = [p for p in payments if p.transaction_type == "REFUND" and p.status == "REFUNDED"]
    refunded = sum((p.amount for p in refunds), ZERO)
    goodwill = sum((p.goodwill_amount for p in refunds), ZERO)
    in_flight = sum((p.amount for p in payments if p.transaction_type == "REFUND" and p.status == "PENDING"), ZERO)
    fees = rental.total_amount + rental.cross_location_fee + rental.overdue_fee + rental.damage_fee
    order_total = fees + rental.deposit
    owed = {
        Rental.Status.COMPLETED: order_total - rental.deposit,
        Rental.Status.CANCELLED: rental.cancellation_fee,
    }.get(rental.status, order_total)
    owed = max(ZERO, owed - goodwill)
    net = paid - refunded
    held = ZERO
    if rental.status in Rental.ACTIVE_STATUSES and rental.deposit > 0:
        held = min(rental.deposit, max(ZERO, net - max(ZERO, owed - rental.deposit)))
    refund_due = max(ZERO, net - owed - in_flight)
    return {
        "paid": paid,
        "refunded": refunded,
        "net_paid": net,
        "remaining": max(ZERO, owed - net),
        "refund_due": refund_due,
        "deposit_held": held,
        "refund_in_flight": in_flight,
        # a refund on its way back is neither spent nor refunded yet
        "spent": net - held - refund_due - in_flight,
    }


def monthly(payments: list[Payment]) -> list[dict]:
    months: dict[str, list[Decimal]] = {}
    for p in payments:
        if (p.transaction_type, p.status) in (("CHARGE", "PAID"), ("REFUND", "REFUNDED")):
            entry = months.setdefault(f"{p.paid_at.astimezone(SHANGHAI):%Y-%m}", [ZERO, ZERO])
            entry[p.transaction_type == "REFUND"] += p.amount
    return [
        {"month": m, "paid": f"{paid:.2f}", "refunded": f"{refunded:.2f}", "net_paid": f"{paid - refunded:.2f}"}
        for m, (paid, refunded) in sorted(months.items())
    ]


def summed(figures: list[dict]) -> dict:
    return {name: sum((f[name] for f in figures), ZERO) for name in figures[0]} if figures else {}


@settings(max_examples=EXAMPLES)
@given(specs=st.lists(order_strategy, min_size=1, max_size=8), year=st.sampled_from([2025, 2026]))
def test_report_figures_equal_independent_sums_over_the_ledger(client, vehicle, specs, year):
    refresh_statuses_if_due()  # the status refresh has run: the pages show the statuses written here
    customer = CustomerFactory()
    client.force_login(customer.user)
    written = [write(customer, vehicle, spec) for spec in specs]

    for params, chosen in (
        ({}, written),
        ({"year": year}, [w for w in written if w[0].created_at.astimezone(SHANGHAI).year == year]),
    ):
        report = client.get(REPORT, params).context["report"]
        per_order = {rental.pk: expected(rental, payments) for rental, payments in chosen}
        assert report["order_count"] == len(chosen)
        want = summed(list(per_order.values()))
        for name, value in want.items():
            assert report["totals"][name] == value, (params, name)
        if not chosen:
            assert report["totals"]["paid"] == ZERO and report["rows"] == []
        assert report["monthly"] == monthly([p for _rental, payments in chosen for p in payments]), params
        for row in report["rows"]:
            want_row = per_order[row.rental.pk]
            got = {
                "paid": row.figures.paid,
                "refunded": row.figures.refunded,
                "net_paid": row.figures.net_paid,
                "remaining": row.figures.remaining,
                "refund_due": row.figures.refund_due,
                "refund_in_flight": row.figures.refund_in_flight,
                "deposit_held": row.deposit_held,
                "spent": row.spent,
            }
            assert got == want_row, (params, row.rental.pk)
