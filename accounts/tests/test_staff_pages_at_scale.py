"""The finance dashboard and the CSV export at scale: the dashboard costs the
same queries for 3 orders as for 60 and its balance totals, counts and deposits
(now computed in the database) equal the Python figures of every order; the
export sends its first line before it reads a single ledger row."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import figures, finance
from rentals.models import Rental
from rentals.tests.admin_support import staff_in_group
from rentals.tests.factories import RentalFactory
from rentals.tests.test_admin_at_scale import add_orders

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/accounts/payment/dashboard/"
EXPORT = "/admin/accounts/payment/export/"


@pytest.fixture
def finance_client(client):
    client.force_login(staff_in_group("finance"))
    return client


def dashboard_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    return len(queries)


def test_the_dashboard_costs_the_same_queries_for_3_orders_as_for_60(finance_client, frozen):
    add_orders(3)
    few = dashboard_queries(finance_client)

    add_orders(57, first=3)
    many = dashboard_queries(finance_client)

    assert many == few
    assert (
        many <= 23
    )  # one query per figure, the refunds held abnormal, the invoice requests waiting and the deposit holds (one grouped query) among them


def python_figures(rentals):
    return {r.pk: r.figures_for(r.amount_paid, r.amount_refunded, r.goodwill_amount) for r in rentals}


def test_balance_totals_and_counts_cover_every_order_not_only_the_listed_ones(frozen):
    cancelled = add_orders(40)[::4]  # paid 500 and then cancelled: owed back
    Rental.objects.filter(pk__in=[r.pk for r in cancelled]).update(status=Rental.Status.CANCELLED)
    for rental in Rental.objects.filter(pk__in=[r.pk for r in cancelled]):
        rental.refresh_financials()
    RentalFactory()  # PENDING and unpaid: owes nothing yet
    rentals = list(Rental.objects.all())
    figures = python_figures(rentals)
    owing = {r.pk: figures[r.pk].remaining for r in rentals if r.status != "PENDING" and figures[r.pk].remaining > 0}
    owed = {r.pk: figures[r.pk].refund_due for r in rentals if figures[r.pk].refund_due > 0}
    assert len(owing) > 3 and len(owed) > 3

    lists = finance.balance_lists(limit=3)

    assert lists["balances"] == {
        "outstanding_total": sum(owing.values(), Decimal("0")),
        "outstanding_count": len(owing),
        "refunds_due_total": sum(owed.values(), Decimal("0")),
        "refunds_due_count": len(owed),
    }
    assert finance.balance_totals() == lists["balances"]
    largest_owing = sorted(owing.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    largest_owed = sorted(owed.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [(r.pk, r.remaining_raw) for r in lists["outstanding"]] == largest_owing
    assert [(r.pk, r.refund_due_raw) for r in lists["refunds_due"]] == largest_owed


def test_deposits_held_in_the_database_equal_the_rule_order_by_order(frozen):
    rentals = add_orders(12)
    # a paid-up booking holds its whole deposit; a part-paid one none of it
    paid_up = RentalFactory()
    paid_up_total = paid_up.order_total
    part_paid = RentalFactory()
    from accounts.tests.factories import PaymentFactory

    PaymentFactory(rental=paid_up, amount=paid_up_total)
    PaymentFactory(rental=part_paid, amount=Decimal("100.00"))
    for rental in (paid_up, part_paid):
        rental.refresh_financials()
    active = [r for r in Rental.objects.all() if r.status in Rental.ACTIVE_STATUSES]
    held = [figures.value_of("deposit_held", r) for r in active]
    assert len(active) == len(rentals) // 2 + 2

    result = finance.deposits_held()

    assert result == {"total": sum(held, Decimal("0.00")), "count": sum(1 for h in held if h > 0)}
    assert figures.value_of("deposit_held", Rental.objects.get(pk=paid_up.pk)) == paid_up.deposit > 0


def test_the_export_sends_its_first_line_before_reading_the_ledger(finance_client, frozen):
    add_orders(5)

    with CaptureQueriesContext(connection) as before_first_line:
        response = finance_client.get(
            EXPORT, {"start": "2026-01-01", "end": "2026-03-10"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
        )
        chunks = iter(response.streaming_content)
        first = next(chunks)

    assert response.status_code == 200 and response.streaming
    assert not [q["sql"] for q in before_first_line.captured_queries if "accounts_payment" in q["sql"]]
    assert first.startswith("\ufeff".encode()) and first.decode("utf-8-sig").startswith("交易号,订单,")
    rest = b"".join(chunks).decode("utf-8")
    assert "已支付" in rest and "支付宝" in rest  # labels in the request's language
