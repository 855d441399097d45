"""Every money figure shown anywhere equals the one definition (accounts/figures.py).

Random ledgers — several charges per order (online and at the counter, paid or
not), refunds in every status with goodwill, deposits, fees, every order
status — and then every place that shows a figure is read: the customer's
order rows, the stored figures, the SQL the dashboard, the staff lists and the
consumption report run, the consumption CSV and the batch job's grouped sums.
Each must equal ``figures_for`` over the order's Payment rows, on SQLite and on
PostgreSQL (the suite runs on both).

Few examples locally; ``CI=true`` runs more."""

import csv
import io
import os
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts import consumption, consumption_csv, figures, finance, selectors
from accounts.models import Payment
from accounts.tests.ledgers import ledger_rows
from customers.tests.factories import CustomerFactory
from rentals import ops
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

EXAMPLES = 40 if os.environ.get("CI") else 10
ZERO = Decimal("0.00")
NAMES = ("order_total", "owed", "net_paid", "remaining", "refund_due", "refund_in_flight", "deposit_held", "spent")

cents = st.integers(min_value=1, max_value=300_000).map(lambda c: Decimal(c) / 100)
charge = st.tuples(
    cents,
    st.sampled_from(["PAID", "PAID", "PAID", "FAILED", "PENDING", "EXPIRED", "CANCELLED"]),
    # (provider, method): online, or money taken at the counter
    st.sampled_from([("alipay", "ALIPAY"), ("wechatpay", "WECHAT"), ("internal", "CASH"), ("internal", "BANK")]),
)
refund = st.tuples(
    st.integers(1, 70),  # share of the money paid, in percent
    st.sampled_from(["REFUNDED", "REFUNDED", "PENDING", "PROCESSING", "FAILED"]),
    st.sampled_from([0, 0, 40, 100]),  # goodwill share of a refunded one, in percent
)
order = st.fixed_dictionaries(
    {
        "status": st.sampled_from(list(Rental.Status.values)),
        "deposit": st.sampled_from([ZERO, Decimal("500.00"), Decimal("3000.00")]),
        "fees": st.tuples(*[st.sampled_from([ZERO, Decimal("88.88"), Decimal("1200.00")])] * 3),
        "cancellation_fee": st.sampled_from([ZERO, Decimal("99.99"), Decimal("5000.00")]),
        "charges": st.lists(charge, max_size=4),
        "refunds": st.lists(refund, max_size=3),
    }
)


def write(customer, spec) -> Rental:
    """One order with its ledger; the stored sums refreshed as the services do."""
    now = timezone.now()
    rental = RentalFactory(customer=customer, start_time=now + timedelta(days=2), end_time=now + timedelta(days=5))
    overdue, cross, damage = spec["fees"]
    Rental.objects.filter(pk=rental.pk).update(
        status=spec["status"],
        deposit=spec["deposit"],
        overdue_fee=overdue,
        cross_location_fee=cross,
        damage_fee=damage,
        cancellation_fee=spec["cancellation_fee"],
    )
    # at most one charge still open per order (a constraint of the ledger)
    charges, open_seen = [], False
    for amount, status, (provider, method) in spec["charges"]:
        if status == "PENDING":
            status, open_seen = ("EXPIRED" if open_seen else status), True
        charges.append((amount, status, provider, method, now))
    refunds = [(share, status, goodwill, now) for share, status, goodwill in spec["refunds"]]
    rows = ledger_rows(rental, charges=charges, refunds=refunds)
    Payment.objects.bulk_create(rows)
    rental = Rental.objects.get(pk=rental.pk)
    rental.refresh_financials()
    return rental


def by_the_definition(rental: Rental) -> dict[str, Decimal]:
    """The one definition, over the order's Payment rows as they are stored."""
    rows = Payment.objects.filter(rental=rental).values_list("transaction_type", "status", "amount", "goodwill_amount")
    result = figures.figures_for(rental, *figures.sum_rows(rows))
    return {name: getattr(result, name) for name in NAMES} | {
        "paid": result.paid,
        "refunded": result.refunded,
        "goodwill": result.goodwill,
        "in_flight": result.refund_in_flight,
        "settlement_status": result.settlement_status,
    }


def in_sql(rental: Rental) -> dict[str, Decimal]:
    row = Rental.objects.filter(pk=rental.pk).annotate(**{f"db_{n}": figures.sql(n) for n in NAMES}).get()
    return {name: getattr(row, f"db_{name}") for name in NAMES}


@settings(max_examples=EXAMPLES)
@given(specs=st.lists(order, min_size=1, max_size=5))
def test_every_place_shows_the_figures_of_the_one_definition(specs):
    # each example in a savepoint of its own, rolled back: examples stay apart
    with transaction.atomic():
        check_every_place(specs)
        transaction.set_rollback(True)


def check_every_place(specs):
    customer = CustomerFactory()
    rentals = [write(customer, spec) for spec in specs]
    want = {rental.pk: by_the_definition(rental) for rental in rentals}

    for rental in rentals:
        expected = want[rental.pk]
        # the Python figures of the order (pages, services) and the stored ones
        fresh = rental.money_figures()
        stored = rental.stored_figures()
        for name in NAMES:
            assert getattr(fresh, name) == getattr(stored, name) == expected[name], name
        assert fresh.settlement_status == rental.settlement_status == expected["settlement_status"]
        # the SQL the dashboard, the staff lists and the consumption report run
        assert in_sql(rental) == {name: expected[name] for name in NAMES}
        # the customer's order row (the order pages and "my orders")
        row = selectors.order_row(rental=rental)
        assert (row.deposit_held, row.spent, row.figures.remaining) == (
            expected["deposit_held"],
            expected["spent"],
            expected["remaining"],
        )

    # the batch job's grouped sums
    sums = ops.ledger_sums(Payment.objects.filter(rental__customer=customer))
    for pk, (paid, refunded, goodwill, in_flight, _failed) in sums.items():
        assert (paid, refunded, goodwill, in_flight) == tuple(
            want[pk][n] for n in ("paid", "refunded", "goodwill", "in_flight")
        )

    # the consumption report's totals (overdue orders add their late fee so
    # far, which is the clock's, not the ledger's: left out of "remaining")
    totals = consumption.totals(customer, consumption.Period()).figures
    on_time = [pk for pk, rental in ((r.pk, r) for r in rentals) if rental.status != Rental.Status.OVERDUE]
    for name in ("paid", "refunded", "net_paid", "refund_due", "deposit_held", "spent"):
        assert totals[name] == sum((want[pk][name] for pk in want), ZERO), name
    overdue_so_far = sum((r.overdue_fee_so_far() for r in rentals), ZERO)
    assert totals["remaining"] >= sum((want[pk]["remaining"] for pk in on_time), ZERO)
    if overdue_so_far == ZERO:
        assert totals["remaining"] == sum((want[pk]["remaining"] for pk in want), ZERO)

    # the CSV of the year: each order's money columns
    lines = list(consumption_csv.csv_lines(customer, timezone.localdate().year, "en"))
    table = list(csv.reader(io.StringIO("".join(lines))))
    header = table[0]
    for cells in table[1:]:
        if not cells or not cells[0].isdigit():
            continue
        pk = int(cells[0])
        money = dict(
            zip(header[-len(consumption_csv.CSV_FIGURES) :], cells[-len(consumption_csv.CSV_FIGURES) :], strict=True)
        )
        for label, name in zip(money, consumption_csv.CSV_FIGURES, strict=True):
            if name in ("order_total", "paid", "refunded", "net_paid", "deposit_held", "spent", "refund_due"):
                assert Decimal(money[label]) == want[pk][name], (pk, name)

    # the finance dashboard: its lists and the deposits it counts as held
    outstanding = {r.pk: r.remaining_raw for r in finance.outstanding_balances(limit=None).filter(customer=customer)}
    due = {r.pk: r.refund_due_raw for r in finance.refunds_due(limit=None).filter(customer=customer)}
    for pk, expected in want.items():
        status = Rental.objects.values_list("status", flat=True).get(pk=pk)
        assert outstanding.get(pk, ZERO) == (expected["remaining"] if status != Rental.Status.PENDING else ZERO)
        assert due.get(pk, ZERO) == expected["refund_due"]
    held = (
        finance.not_settled()
        .filter(customer=customer, status__in=Rental.ACTIVE_STATUSES, deposit__gt=0, amount_paid__gt=0)
        .annotate(held=figures.sql("deposit_held"))
        .aggregate(total=Sum("held"))["total"]
        or ZERO
    )
    assert Decimal(held).quantize(Decimal("0.01")) == sum((want[pk]["deposit_held"] for pk in want), ZERO)
