"""Money in the admin: the payments CSV export and the counter/refund pages'
interplay with the online ledger."""

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from accounts.models import Payment
from accounts.tests.factories import PaymentFactory, PendingChargeFactory, RefundFactory
from rentals.models import Rental
from rentals.tests.admin_support import NOW, admin_url, staff_in_group
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
EXPORT = "/admin/accounts/payment/export/"


def at(y, m, d, hh=12, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SH)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def finance_client(client):
    client.force_login(staff_in_group("finance"))
    return client


def read_csv(response) -> list[dict]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def rows(frozen):
    rental = RentalFactory(start_time=NOW - timedelta(days=20))
    data = [
        # (type, status, amount, created_at, paid_at)
        ("CHARGE", "PAID", "2900.00", at(2026, 3, 1, 0, 5), at(2026, 3, 1, 0, 6)),  # Feb 28 in UTC
        ("CHARGE", "PAID", "123.45", at(2026, 2, 28, 23, 55), at(2026, 3, 2, 9, 0)),  # created last month, paid in range
        ("CHARGE", "PAID", "999.99", at(2026, 3, 5, 10, 0), at(2026, 3, 11, 0, 1)),  # paid after the range
        ("REFUND", "REFUNDED", "2000.00", at(2026, 3, 4, 18, 0), at(2026, 3, 4, 18, 0)),
        ("CHARGE", "FAILED", "50.00", at(2026, 3, 3, 8, 0), None),
        ("CHARGE", "EXPIRED", "75.00", at(2026, 2, 27, 8, 0), None),  # before the range
        ("CHARGE", "PAID", "10.00", at(2026, 2, 28, 23, 59), at(2026, 2, 28, 23, 59)),  # before the range
    ]
    for n, (kind, status, amount, created, paid_at) in enumerate(data):
        factory = RefundFactory if kind == "REFUND" else PaymentFactory
        factory(
            rental=rental,
            transaction_type=kind,
            status=status,
            amount=Decimal(amount),
            created_at=created,
            paid_at=paid_at,
            transaction_id=f"{'REF' if kind == 'REFUND' else 'PAY'}CSV{n:04d}",
            description="=HYPERLINK(\"x\")" if n == 0 else "",
        )
    return data


def test_csv_export_parses_and_its_totals_match(finance_client, rows):
    first, last = datetime(2026, 3, 1).date(), datetime(2026, 3, 10).date()

    def in_range(row):
        moment = row[4] or row[3]
        return first <= moment.astimezone(SH).date() <= last

    expected = [r for r in rows if in_range(r)]
    want_charges = sum((Decimal(r[2]) for r in expected if r[:2] == ("CHARGE", "PAID")), Decimal("0"))
    want_refunds = sum((Decimal(r[2]) for r in expected if r[:2] == ("REFUND", "REFUNDED")), Decimal("0"))

    parsed = read_csv(finance_client.get(EXPORT, {"start": "2026-03-01", "end": "2026-03-10"}))

    assert list(parsed[0].keys())[:3] == ["transaction_id", "rental_id", "customer"]
    assert len(parsed) == len(expected) == 4
    got_charges = sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == ("CHARGE", "PAID")), Decimal("0"))
    got_refunds = sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == ("REFUND", "REFUNDED")), Decimal("0"))
    assert (got_charges, got_refunds) == (want_charges, want_refunds) == (Decimal("3023.45"), Decimal("2000.00"))
    assert all(r["amount"].count(".") == 1 and len(r["amount"].split(".")[1]) == 2 for r in parsed)
    first_row = next(r for r in parsed if r["transaction_id"] == "PAYCSV0000")
    assert first_row["paid_at"] == "2026-03-01 00:06:00"  # local time, not UTC
    assert first_row["description"].startswith("'=")  # no spreadsheet formula


def test_csv_totals_equal_the_dashboard_month(finance_client, rows):
    from accounts import finance

    parsed = read_csv(finance_client.get(EXPORT, {"start": "2026-03-01", "end": "2026-03-10"}))
    month = finance.dashboard()["month_revenue"]

    charges = sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == ("CHARGE", "PAID")), Decimal("0"))
    refunds = sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == ("REFUND", "REFUNDED")), Decimal("0"))
    assert (charges, refunds) == (month.revenue, month.refunds)


@pytest.mark.parametrize(
    "params", [{"start": "2026-03-10", "end": "2026-03-01"}, {"start": "nope", "end": "2026-03-01"}, {}]
)
def test_csv_export_refuses_a_bad_range(finance_client, frozen, params):
    assert finance_client.get(EXPORT, params).status_code == 400


def test_csv_export_needs_the_export_permission(client, frozen):
    client.force_login(staff_in_group("counter"))

    assert client.get(EXPORT, {"start": "2026-03-01", "end": "2026-03-10"}).status_code == 403


# --- counter payment and the online ledger --------------------------------------------


def test_counter_payment_cancels_the_open_online_charge(client, staff_user, frozen, assert_ledger):
    rental = RentalFactory(start_time=NOW + timedelta(days=1))
    open_charge = PendingChargeFactory(rental=rental, amount=rental.order_total)
    client.force_login(staff_user)

    response = client.post(admin_url("payment", rental), {"method": "CASH", "amount": str(rental.order_total)})

    assert response.status_code == 302
    open_charge.refresh_from_db()
    assert open_charge.status == Payment.Status.CANCELLED
    assert rental.payments.filter(status=Payment.Status.PAID, provider="counter").count() == 1
    assert_ledger(rental)


def test_manual_refund_after_a_completed_return_goes_to_the_payer(client, staff_user, frozen, assert_ledger):
    # given a completed order whose deposit refund is still due (e.g. a command was skipped)
    rental = RentalFactory(start_time=NOW - timedelta(days=4), status=Rental.Status.ONGOING)
    PaymentFactory(rental=rental, amount=Decimal("2900.00"), payment_method=Payment.Method.WECHAT)
    rental.status = Rental.Status.COMPLETED
    rental.actual_return_time = NOW - timedelta(days=1)
    rental.save()
    rental.refresh_financials()
    client.force_login(staff_user)

    page = client.get(admin_url("refund", rental))
    response = client.post(admin_url("refund", rental), {"amount": "2000.00", "reason": "Deposit back"})

    assert page.context["form"].fields["amount"].initial == Decimal("2000.00")
    assert response.status_code == 302
    refund = rental.payments.get(transaction_type=Payment.TransactionType.REFUND)
    assert (refund.user, refund.payment_method) == (rental.customer.user, Payment.Method.WECHAT)
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger(rental)
