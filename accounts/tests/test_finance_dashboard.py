"""The finance dashboard's figures against independent sums over a known data set.

Every expected figure is computed here in plain Python from the rows the test
wrote (local Shanghai dates, Decimal sums), not with the dashboard's queries.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from accounts import finance
from accounts.models import PaymentEvent
from accounts.tests.assertions import expected_figures
from accounts.tests.factories import PaymentFactory, RefundFactory
from rentals.models import Rental
from rentals.tests.admin_support import NOW, staff_in_group
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
DASHBOARD = "/admin/accounts/payment/dashboard/"


def at(y, m, d, hh=12, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture
def ledger_rows(frozen):
    """Charges and refunds around the day and month boundaries of Shanghai time."""
    rental = RentalFactory(start_time=NOW - timedelta(days=40))
    rows = [
        # (type, status, amount, paid_at, provider)
        ("CHARGE", "PAID", "1000.00", at(2026, 3, 10, 9, 0), "sandbox"),
        ("CHARGE", "PAID", "500.50", at(2026, 3, 10, 0, 30), "sandbox"),  # still 03-09 in UTC
        ("CHARGE", "PAID", "260.00", at(2026, 3, 10, 9, 30), "counter"),
        ("CHARGE", "PAID", "800.00", at(2026, 3, 9, 23, 30), "sandbox"),
        ("CHARGE", "PAID", "300.00", at(2026, 3, 1, 0, 10), "sandbox"),  # Feb 28 in UTC
        ("CHARGE", "PAID", "700.00", at(2026, 2, 28, 23, 50), "sandbox"),  # last month
        ("CHARGE", "PAID", "400.00", at(2026, 2, 1, 12, 0), "sandbox"),  # outside the 30 days
        ("REFUND", "REFUNDED", "200.00", at(2026, 3, 10, 8, 0), "internal"),
        ("REFUND", "REFUNDED", "100.25", at(2026, 3, 5, 15, 0), "internal"),
        ("REFUND", "REFUNDED", "50.00", at(2026, 2, 20, 15, 0), "internal"),
        ("CHARGE", "FAILED", "999.00", None, "sandbox"),
        ("CHARGE", "EXPIRED", "888.00", None, "sandbox"),
    ]
    for n, (kind, status, amount, paid_at, provider) in enumerate(rows):
        factory = RefundFactory if kind == "REFUND" else PaymentFactory
        factory(
            rental=rental,
            transaction_type=kind,
            status=status,
            amount=Decimal(amount),
            paid_at=paid_at,
            provider=provider,
            created_at=paid_at or at(2026, 3, 8, 12, 0),
            transaction_id=f"{'REF' if kind == 'REFUND' else 'PAY'}KNOWN{n:04d}",
        )
    return [(k, s, Decimal(a), p) for k, s, a, p, _provider in rows]


def expected_money(rows, first: date, last: date) -> tuple[Decimal, Decimal]:
    revenue = sum(
        (a for k, s, a, p in rows if (k, s) == ("CHARGE", "PAID") and first <= p.astimezone(SH).date() <= last),
        Decimal("0"),
    )
    refunds = sum(
        (a for k, s, a, p in rows if (k, s) == ("REFUND", "REFUNDED") and first <= p.astimezone(SH).date() <= last),
        Decimal("0"),
    )
    return revenue, refunds


def test_today_and_month_revenue_follow_shanghai_dates(ledger_rows):
    figures = finance.dashboard()

    today_rev, today_ref = expected_money(ledger_rows, date(2026, 3, 10), date(2026, 3, 10))
    month_rev, month_ref = expected_money(ledger_rows, date(2026, 3, 1), date(2026, 3, 10))
    assert (today_rev, today_ref) == (Decimal("1760.50"), Decimal("200.00"))
    assert figures["today_revenue"].revenue == today_rev
    assert figures["today_revenue"].refunds == today_ref
    assert figures["today_revenue"].net == today_rev - today_ref
    assert (month_rev, month_ref) == (Decimal("2860.50"), Decimal("300.25"))
    assert figures["month_revenue"].revenue == month_rev
    assert figures["month_revenue"].refunds == month_ref
    assert figures["month_revenue"].net == Decimal("2560.25")


def test_daily_net_revenue_covers_the_last_30_local_days(ledger_rows):
    series = finance.daily_net_revenue()

    assert len(series) == 30
    assert (series[0]["day"], series[-1]["day"]) == (date(2026, 2, 9), date(2026, 3, 10))
    for row in series:
        revenue, refunds = expected_money(ledger_rows, row["day"], row["day"])
        assert (row["revenue"], row["refunds"], row["net"]) == (revenue, refunds, revenue - refunds), row["day"]
    by_day = {row["day"]: row["net"] for row in series}
    assert by_day[date(2026, 3, 1)] == Decimal("300.00")
    assert by_day[date(2026, 2, 28)] == Decimal("700.00")
    assert all(isinstance(row["net"], Decimal) for row in series)


def test_dashboard_page_shows_the_figures_and_the_chart(client, ledger_rows, django_assert_max_num_queries):
    client.force_login(staff_in_group("finance"))

    # session, user, permissions, today + month sums, balances (2 lists + 2 totals),
    # deposits, monitoring (counts, failures, callbacks ×2), daily series,
    # the deposit holds by provider (SPEC §18, one grouped query)
    with django_assert_max_num_queries(21):
        response = client.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="today-revenue">¥1,760.50' in content.replace('data-amount="1760.50" ', "")
    assert 'data-amount="2560.25" id="month-net"' in content
    assert "vendor/chartjs/chart.umd.min.js" in content
    assert 'id="net-revenue-data"' in content
    assert "cdn" not in content.lower()
    chart = response.context["chart"]
    assert len(chart["net"]) == 30 and chart["net"][-1] == "1560.50"


# --- balances ----------------------------------------------------------------------


def paid(rental, amount, **kwargs):
    PaymentFactory(rental=rental, amount=Decimal(amount), **kwargs)
    rental.refresh_financials()


@pytest.fixture
def balances(frozen, walk_in_customer):
    start = NOW - timedelta(days=1)
    unpaid = RentalFactory()  # PENDING, nothing paid: not a debt, no deposit in hand
    fully_paid = RentalFactory(status=Rental.Status.ONGOING, start_time=start)
    paid(fully_paid, "2900.00")
    partly_paid = RentalFactory(status=Rental.Status.ONGOING, start_time=start)
    paid(partly_paid, "1500.00")
    prepaid = RentalFactory()
    paid(prepaid, "2900.00")
    late_completed = RentalFactory(status=Rental.Status.ONGOING, start_time=NOW - timedelta(days=5))
    paid(late_completed, "900.00")
    late_completed.status = Rental.Status.COMPLETED
    late_completed.overdue_fee = Decimal("900.00")
    late_completed.save()
    late_completed.refresh_financials()
    cancelled_walk_in = RentalFactory(customer=walk_in_customer)
    paid(cancelled_walk_in, "2900.00", user=None)
    cancelled_walk_in.status = Rental.Status.CANCELLED
    cancelled_walk_in.requires_manual_refund = True
    cancelled_walk_in.save()
    cancelled_walk_in.refresh_financials()
    return [unpaid, fully_paid, partly_paid, prepaid, late_completed, cancelled_walk_in]


def test_outstanding_refunds_due_and_deposits_held(balances):
    expected = {r.pk: expected_figures(r) for r in balances}
    for r in balances:
        r.refresh_from_db()
    want_outstanding = {
        r.pk: expected[r.pk]["remaining"] for r in balances if r.status != "PENDING" and expected[r.pk]["remaining"] > 0
    }
    want_refunds = {r.pk: expected[r.pk]["refund_due"] for r in balances if expected[r.pk]["refund_due"] > 0}
    # deposit in hand: what is paid beyond the rent and fees, at most the deposit
    want_deposits = sum(
        (
            min(r.deposit, max(Decimal("0"), expected[r.pk]["net_paid"] - (expected[r.pk]["order_total"] - r.deposit)))
            for r in balances
            if r.status in ("PENDING", "ONGOING", "OVERDUE")
        ),
        Decimal("0"),
    )

    figures = finance.dashboard()

    assert want_outstanding == {balances[2].pk: Decimal("1400.00"), balances[4].pk: Decimal("900.00")}
    assert {r.pk: r.remaining_raw for r in figures["outstanding"]} == want_outstanding
    assert figures["balances"]["outstanding_total"] == Decimal("2300.00")
    assert want_refunds == {balances[5].pk: Decimal("2900.00")}
    assert {r.pk: r.refund_due_raw for r in figures["refunds_due"]} == want_refunds
    assert figures["balances"]["refunds_due_total"] == Decimal("2900.00")
    assert want_deposits == Decimal("4600.00")  # 2,000 + 600 + 2,000
    assert figures["deposits_held"] == {"total": want_deposits, "count": 3}


def test_the_lists_link_to_the_rental_change_page(client, staff_user, balances):
    client.force_login(staff_user)

    response = client.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE="en")

    content = response.content.decode()
    for rental in (balances[2], balances[4], balances[5]):
        assert f'href="/admin/rentals/rental/{rental.pk}/change/"' in content


# --- provider monitoring -------------------------------------------------------------


@pytest.fixture
def attempts(frozen):
    rental = RentalFactory()
    recent, old = at(2026, 3, 9), at(2026, 1, 20)
    plan = [
        ("PAID", "", recent, "sandbox"),
        ("PAID", "", recent, "sandbox"),
        ("PAID", "", recent, "sandbox"),
        ("FAILED", "Card declined", recent, "sandbox"),
        ("FAILED", "Card declined", recent, "sandbox"),
        ("FAILED", "Insufficient funds", recent, "sandbox"),
        ("EXPIRED", "", recent, "sandbox"),
        ("CANCELLED", "Order cancelled", recent, "sandbox"),  # closed by us: not the provider's outcome
        ("CANCELLED", "Gave up at the provider", recent, "sandbox"),  # cancelled in a provider callback
        ("PENDING", "", recent, "sandbox"),  # still open: not an attempt that finished
        ("PAID", "", recent, "counter"),  # counter payments aren't provider attempts
        ("FAILED", "Card declined", old, "sandbox"),  # before the window
    ]
    for n, (status, reason, created, provider) in enumerate(plan):
        payment = PaymentFactory(
            rental=rental if status != "PENDING" else RentalFactory(),
            status=status,
            failure_reason=reason,
            created_at=created,
            provider=provider,
            paid_at=created if status == "PAID" else None,
            transaction_id=f"PAYMON{n:04d}",
        )
        if reason == "Gave up at the provider":
            PaymentEvent.objects.create(
                payment=payment,
                rental=payment.rental,
                event="status_changed",
                from_status="PENDING",
                to_status="CANCELLED",
                payload={"source": "callback", "event_id": "evt_gave_up"},
            )
        elif status == "CANCELLED":
            PaymentEvent.objects.create(
                payment=payment,
                rental=payment.rental,
                event="status_changed",
                from_status="PENDING",
                to_status="CANCELLED",
            )
    callbacks = [
        ("rejected", "bad_signature", recent),
        ("rejected", "bad_signature", recent),
        ("rejected", "unknown_transaction", recent),
        ("accepted", "", recent),
        ("duplicate", "event_already_processed", recent),
        ("ignored", "payment_already_final", recent),
        ("amount_mismatch", "amount_mismatch", recent),
        ("rejected", "stale_timestamp", old),
    ]
    for verdict, reason, created in callbacks:
        PaymentEvent.objects.create(
            event="callback_received",
            provider="sandbox",
            payload={"verdict": verdict, "reason": reason},
            created_at=created,
        )
    PaymentEvent.objects.create(event="created", provider="sandbox", payload={}, created_at=recent)  # not a callback
    return plan, callbacks


def test_monitoring_figures(attempts):
    plan, callbacks = attempts
    since = at(2026, 2, 9, 0, 0)
    window = [p for p in plan if p[2] >= since and p[3] != "counter"]
    # PAID ÷ (PAID + FAILED + cancelled by the provider): charges we closed
    # ourselves (replaced, cancelled with the order, expired) are left out.
    finished = [p for p in window if p[0] in ("PAID", "FAILED") or p[1] == "Gave up at the provider"]
    paid_count = sum(1 for p in finished if p[0] == "PAID")

    m = finance.monitoring()

    assert (m.online_paid, m.online_finished) == (paid_count, len(finished)) == (3, 7)
    assert m.success_rate == (Decimal(paid_count) * 100 / Decimal(len(finished))).quantize(Decimal("0.01"))
    assert m.success_rate == Decimal("42.86")
    assert m.failed == 3 and m.expired == 1 and m.cancelled == 2 and m.provider_cancelled == 1
    assert m.failures_by_reason == [
        {"failure_reason": "Card declined", "count": 2},
        {"failure_reason": "Insufficient funds", "count": 1},
    ]
    assert m.rejected_callbacks == sum(1 for v, _r, c in callbacks if v == "rejected" and c >= since) == 3
    assert m.rejections_by_reason == [
        {"reason": "bad_signature", "count": 2},
        {"reason": "unknown_transaction", "count": 1},
    ]
    assert m.amount_mismatches == 1


def test_monitoring_counts_the_rejections_written_by_handle_callback(frozen, settings):
    from accounts.services import handle_callback

    status, _body = handle_callback(
        provider="sandbox", headers={"X-Sandbox-Signature": "t=1,v1=00"}, body=b'{"event_id": "e1"}'
    )

    assert status == 400
    assert finance.monitoring().rejected_callbacks == 1


def test_no_attempts_means_no_success_rate(frozen):
    assert finance.monitoring().success_rate is None


def test_dashboard_page_renders_in_chinese_too(client, staff_user, attempts):
    client.force_login(staff_user)

    response = client.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    assert b'id="rejected-callbacks" data-value="3"' in response.content


# --- SQL figures equal the Python figures (SQLite computes decimals as floats) ---------


@pytest.mark.parametrize(
    ("rate", "deposit", "days", "status"),
    [
        ("1812.47", "1000.00", 1, Rental.Status.ONGOING),  # left 4.5e-13 "remaining" on SQLite
        ("2268.95", "300.10", 1, Rental.Status.PENDING),  # showed as a refund due
        ("0.10", "0.20", 3, Rental.Status.OVERDUE),
        ("333.33", "999.99", 7, Rental.Status.COMPLETED),
    ],
)
def test_paid_orders_are_neither_owing_nor_owed_on_any_database(frozen, rate, deposit, days, status):
    from vehicles.tests.factories import VehicleFactory

    car = VehicleFactory(daily_rate=Decimal(rate), deposit_amount=Decimal(deposit))
    rental = RentalFactory(
        vehicle=car,
        status=status,
        start_time=NOW - timedelta(days=1),
        end_time=NOW - timedelta(days=1) + timedelta(days=days),
    )
    owed = rental.money_figures().owed
    PaymentFactory(rental=rental, amount=owed)
    rental.refresh_financials()
    assert (rental.money_figures().remaining, rental.money_figures().refund_due) == (Decimal("0"), Decimal("0"))

    assert rental.pk not in {r.pk for r in finance.outstanding_balances()}
    assert rental.pk not in {r.pk for r in finance.refunds_due()}
    totals = finance.balance_totals()
    assert (totals["outstanding_count"], totals["refunds_due_count"]) == (0, 0)


def test_charges_we_closed_ourselves_do_not_lower_the_success_rate(client, staff_user):
    """Through the real flows: a replaced attempt, a charge closed by a counter
    payment and one closed with its order are ours; only PAID, FAILED and a
    cancellation reported by the provider count (README "Finance dashboard")."""
    from accounts.models import Payment
    from accounts.services import record_counter_payment, start_payment
    from accounts.tests.payment_support import deliver, success_payload
    from rentals.services import cancel_rental

    # a replaced attempt, then the new one paid
    paid_order = RentalFactory()
    user = paid_order.customer.user
    start_payment(rental=paid_order, method=Payment.Method.ALIPAY, user=user)
    second = start_payment(rental=paid_order, method=Payment.Method.WECHAT, user=user)
    assert deliver(client, success_payload(second, event_id="evt_paid")).status_code == 200
    # the payer gives up at the provider
    given_up = RentalFactory()
    charge = start_payment(rental=given_up, method=Payment.Method.ALIPAY, user=given_up.customer.user)
    assert deliver(client, success_payload(charge, event_id="evt_gave_up", status="cancelled")).status_code == 200
    # an online attempt closed by a counter payment, another by cancelling the order
    at_counter = RentalFactory()
    start_payment(rental=at_counter, method=Payment.Method.ALIPAY, user=at_counter.customer.user)
    record_counter_payment(rental=at_counter, amount=at_counter.order_total, method="CASH", by_user=staff_user)
    cancelled = RentalFactory()
    start_payment(rental=cancelled, method=Payment.Method.ALIPAY, user=cancelled.customer.user)
    cancel_rental(rental=cancelled, reason="Plans changed", by_user=cancelled.customer.user)

    m = finance.monitoring()

    assert Payment.objects.filter(status=Payment.Status.CANCELLED).count() == 4
    assert (m.online_paid, m.online_finished, m.provider_cancelled) == (1, 2, 1)
    assert m.success_rate == Decimal("50.00")
