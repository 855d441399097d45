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
# The export shows display labels in the site's language (Chinese by default).
PAID_CHARGE = ("付款", "已支付")
DONE_REFUND = ("退款", "已退款")


def at(y, m, d, hh=12, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SH)


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
        (
            "CHARGE",
            "PAID",
            "123.45",
            at(2026, 2, 28, 23, 55),
            at(2026, 3, 2, 9, 0),
        ),  # created last month, paid in range
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
            description='=HYPERLINK("x")' if n == 0 else "",
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
    got_charges = sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == PAID_CHARGE), Decimal("0"))
    got_refunds = -sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == DONE_REFUND), Decimal("0"))
    assert (got_charges, got_refunds) == (want_charges, want_refunds) == (Decimal("3023.45"), Decimal("2000.00"))
    assert all(r["amount"].count(".") == 1 and len(r["amount"].split(".")[1]) == 2 for r in parsed)
    first_row = next(r for r in parsed if r["transaction_id"] == "PAYCSV0000")
    assert first_row["paid_at"] == "2026-03-01 00:06:00"  # local time, not UTC
    assert first_row["description"].startswith("'=")  # no spreadsheet formula


def test_csv_totals_equal_the_dashboard_month(finance_client, rows):
    from accounts import finance

    parsed = read_csv(finance_client.get(EXPORT, {"start": "2026-03-01", "end": "2026-03-10"}))
    month = finance.dashboard()["month_revenue"]

    charges = sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == PAID_CHARGE), Decimal("0"))
    refunds = -sum((Decimal(r["amount"]) for r in parsed if (r["type"], r["status"]) == DONE_REFUND), Decimal("0"))
    assert (charges, refunds) == (month.revenue, month.refunds)


@pytest.mark.parametrize(
    "params",
    [{"start": "2026-03-10", "end": "2026-03-01"}, {"start": "nope", "end": "2026-03-01"}, {"start": "2026-03-01"}],
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


# --- the export for people (SPEC §16 Bounds; README "Finance dashboard") ------------------


def test_csv_export_shows_labels_and_refunds_as_negative_amounts(finance_client, rows):
    parsed = read_csv(finance_client.get(EXPORT, {"start": "2026-03-01", "end": "2026-03-10"}))

    refund = next(r for r in parsed if r["transaction_id"] == "REFCSV0003")
    charge = next(r for r in parsed if r["transaction_id"] == "PAYCSV0000")
    assert (refund["type"], refund["status"], refund["direction"], refund["amount"]) == (
        "退款",
        "已退款",
        "支出",
        "-2000.00",
    )
    assert (charge["type"], charge["status"], charge["direction"], charge["amount"]) == (
        "付款",
        "已支付",
        "收入",
        "2900.00",
    )
    assert charge["method"] == "支付宝"
    assert not {"ALIPAY", "REFUNDED", "PAID", "CHARGE", "REFUND"} & {
        r[k] for r in parsed for k in ("type", "status", "method")
    }


def test_csv_export_labels_follow_the_language_of_the_request(finance_client, rows):
    parsed = read_csv(
        finance_client.get(EXPORT, {"start": "2026-03-01", "end": "2026-03-10"}, HTTP_ACCEPT_LANGUAGE="en")
    )
    refund = next(r for r in parsed if r["transaction_id"] == "REFCSV0003")
    assert (refund["type"], refund["direction"], refund["amount"]) == ("Refund", "out", "-2000.00")


@pytest.mark.parametrize("lead", ["\t", "\r", "=", "+", "-", "@"])
def test_csv_export_neutralises_cells_starting_with_a_formula_or_control_character(finance_client, frozen, lead):
    rental = RentalFactory(start_time=NOW - timedelta(days=2))
    rental.customer.name = lead + "cmd|' /C calc'!A0"
    rental.customer.save(update_fields=["name"])
    PaymentFactory(
        rental=rental,
        amount=Decimal("10.00"),
        created_at=NOW,
        paid_at=NOW,
        description=lead + "SUM(A1:A9)",
        failure_reason=lead + "x",
        transaction_id="PAYLEAD0001",
    )

    parsed = read_csv(finance_client.get(EXPORT, {"start": "2026-03-10", "end": "2026-03-10"}))

    row = next(r for r in parsed if r["transaction_id"] == "PAYLEAD0001")
    for column in ("customer", "description", "failure_reason"):
        assert row[column].startswith("'" + lead), (column, row[column])


def test_a_bad_range_shows_the_export_form_again_in_the_admin(finance_client, frozen):
    response = finance_client.get(EXPORT, {"start": "2026-03-10", "end": "2026-03-01"}, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'id="export-form"' in html and 'name="start"' in html and 'value="2026-03-10"' in html
    assert "The end date must not be before the start date." in html
    assert 'class="errornote"' in html and "admin/css/base.css" in html  # the admin's look
    assert [t.name for t in response.templates][0] == "admin/accounts/payment/export.html"


def test_the_export_page_without_a_range_offers_the_form(finance_client, frozen):
    response = finance_client.get(EXPORT)
    assert response.status_code == 200
    assert response.context["export_form"].initial == {"start": "2026-03-01", "end": "2026-03-10"}


@pytest.mark.parametrize(
    "params",
    [
        {"start": "9999-12-01", "end": "9999-12-31"},
        {"start": "2026-09-07", "end": "2026-09-30"},  # beyond the booking horizon
        {"start": "0001-01-01", "end": "0001-01-31"},
        {"start": "1999-12-01", "end": "1999-12-31"},
    ],
)
def test_an_export_outside_the_date_bounds_is_the_form_with_an_error_not_a_crash(finance_client, frozen, params):
    response = finance_client.get(EXPORT, params, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 400
    assert not response.streaming
    assert "Please choose a date between 2000-01-01 and 2026-09-06." in response.content.decode()


def test_an_export_up_to_the_horizon_is_streamed(finance_client, frozen, settings):
    settings.BOOKING_HORIZON_DAYS = 30
    assert read_csv(finance_client.get(EXPORT, {"start": "2026-03-10", "end": "2026-04-09"})) == []
    assert finance_client.get(EXPORT, {"start": "2026-03-10", "end": "2026-04-10"}).status_code == 400
