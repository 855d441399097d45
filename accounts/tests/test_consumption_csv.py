"""CSV of the consumption report for a year: the page's columns, the orders
booked that year only, a totals row equal to the page's totals for the year,
streamed, UTF-8 with a byte-order mark, never another customer's orders."""

import csv
import io
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from accounts import consumption_csv
from accounts.models import Payment
from accounts.tests.factories import PaymentFactory, RefundFactory
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
CSV_URL = reverse("accounts:consumption_report_csv")
HEADER = [
    "Order",
    "Booked",
    "Car",
    "Pick-up",
    "Return",
    "Status",
    "Payment status",
    "Rental fee",
    "Member discount",
    "Deposit",
    "One-way fee",
    "Overdue fee",
    "Damage fee",
    "Cancellation fee",
    "Early-return fee",
    "Order total",
    "Paid",
    "Refunded",
    "Net paid",
    "Deposit held",
    "Spent",
    "Remaining to pay",
    "Refund due",
    "Refund in progress",
]


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def order(customer, vehicle, booked, *, status, charge=None, refund=None, **fields):
    rental = RentalFactory(customer=customer, vehicle=vehicle, created_at=booked)
    Rental.objects.filter(pk=rental.pk).update(status=status, **fields)
    if charge:
        PaymentFactory(rental=rental, amount=charge, paid_at=booked)
    if refund:
        RefundFactory(rental=rental, amount=refund, paid_at=booked)
    rental.refresh_from_db()
    rental.refresh_financials()
    return rental


@pytest.fixture
def year_orders(customer, vehicle, other_location):
    """2026: a completed order whose deposit came back, a paid order still
    running (deposit held), a cancelled one refunded in full, a booking paid in part;
    2025: one completed order (outside the 2026 CSV)."""
    return {
        "completed": order(
            customer,
            vehicle,
            datetime(2026, 1, 5, 10, tzinfo=SHANGHAI),
            status=Rental.Status.COMPLETED,
            charge=Decimal("2900.00"),
            refund=Decimal("2000.00"),
        ),
        "ongoing": order(
            customer,
            vehicle,
            datetime(2026, 6, 1, 0, 30, tzinfo=SHANGHAI),
            status=Rental.Status.ONGOING,
            charge=Decimal("2900.00"),
        ),
        "cancelled": order(
            customer,
            vehicle,
            datetime(2026, 12, 31, 23, 0, tzinfo=SHANGHAI),
            status=Rental.Status.CANCELLED,
            charge=Decimal("2900.00"),
            refund=Decimal("2900.00"),
        ),
        "unpaid": order(
            customer,
            vehicle,
            datetime(2026, 3, 3, 3, tzinfo=SHANGHAI),
            status=Rental.Status.PENDING,
            charge=Decimal("900.00"),
        ),
        "old": order(
            customer,
            vehicle,
            datetime(2025, 12, 31, 23, 59, tzinfo=SHANGHAI),
            status=Rental.Status.COMPLETED,
            charge=Decimal("2900.00"),
            refund=Decimal("2000.00"),
        ),
    }


def read_csv(response) -> tuple[bytes, list[list[str]]]:
    raw = b"".join(response.streaming_content)
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_of_a_year_has_the_columns_the_orders_and_the_pages_totals(customer_client, year_orders):
    response = customer_client.get(CSV_URL, {"year": 2026}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="consumption-2026.csv"' in response["Content-Disposition"]
    raw, rows = read_csv(response)
    assert raw.startswith("\ufeff".encode())
    header, *orders, total = rows
    assert header == HEADER
    # the year's orders, newest booking first; the 2025 one is not there
    assert [int(row[0]) for row in orders] == [
        year_orders[name].pk for name in ("cancelled", "ongoing", "unpaid", "completed")
    ]
    assert all(len(row) == len(HEADER) for row in rows)
    page = customer_client.get(reverse("accounts:consumption_report"), {"year": 2026}).context["report"]
    assert page["order_count"] == 4
    assert total[0] == "Total 2026"
    for column, name in (
        ("Paid", "paid"),
        ("Refunded", "refunded"),
        ("Net paid", "net_paid"),
        ("Deposit held", "deposit_held"),
        ("Spent", "spent"),
        ("Remaining to pay", "remaining"),
        ("Refund due", "refund_due"),
        ("Refund in progress", "refund_in_flight"),
    ):
        index = HEADER.index(column)
        assert Decimal(total[index]) == page["totals"][name], column
        assert sum(Decimal(row[index]) for row in orders) == page["totals"][name], column
    for index in range(HEADER.index("Rental fee"), len(HEADER)):
        assert sum(Decimal(row[index]) for row in orders) == Decimal(total[index]), HEADER[index]
    assert Decimal(total[HEADER.index("Paid")]) == Decimal("9600.00")
    assert Decimal(total[HEADER.index("Deposit held")]) == Decimal("2000.00")
    assert Decimal(total[HEADER.index("Remaining to pay")]) == Decimal("2000.00")


def test_csv_speaks_chinese_by_default_and_neutralises_formulas(customer_client, customer, vehicle):
    vehicle.brand = "=HYPERLINK(1)"
    vehicle.save()
    order(
        customer,
        vehicle,
        datetime(2026, 2, 1, tzinfo=SHANGHAI),
        status=Rental.Status.COMPLETED,
        charge=Decimal("900.00"),
    )
    _raw, rows = read_csv(customer_client.get(CSV_URL, {"year": 2026}, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert rows[1][2].startswith("'=HYPERLINK")
    assert len(rows) == 3


def test_csv_never_contains_another_customers_orders(customer_client, year_orders, vehicle):
    stranger = CustomerFactory(name="别人")
    theirs = order(
        stranger,
        vehicle,
        datetime(2026, 5, 5, tzinfo=SHANGHAI),
        status=Rental.Status.COMPLETED,
        charge=Decimal("777.00"),
    )
    _raw, rows = read_csv(customer_client.get(CSV_URL, {"year": 2026}, HTTP_ACCEPT_LANGUAGE="en"))
    assert str(theirs.pk) not in [row[0] for row in rows]
    assert "777.00" not in {cell for row in rows for cell in row}
    assert Decimal(rows[-1][HEADER.index("Paid")]) == Decimal("9600.00")


@pytest.mark.parametrize("params", [{}, {"year": ""}, {"year": "abc"}, {"year": "1999"}, {"year": "10**9"}])
def test_csv_without_a_sensible_year_is_400_with_a_reason(customer_client, params):
    response = customer_client.get(CSV_URL, params, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.content.decode() in {
        "Choose a year.",
        "The year must be a number such as 2026.",
        "Choose a year between 2000 and 2100.",
    }


def test_csv_needs_a_signed_in_customer(client):
    response = client.get(CSV_URL, {"year": 2026})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_csv_reads_orders_in_chunks(customer_client, customer, vehicle, monkeypatch):
    """The orders are read with .iterator(chunk_size=…): a year with more orders
    than a chunk is streamed whole."""
    monkeypatch.setattr(consumption_csv, "CSV_CHUNK_SIZE", 2)
    for day in range(1, 6):
        order(customer, vehicle, datetime(2026, 4, day, tzinfo=SHANGHAI), status=Rental.Status.PENDING)
    _raw, rows = read_csv(customer_client.get(CSV_URL, {"year": 2026}))
    assert len(rows) == 1 + 5 + 1


def test_report_links_to_the_csv_of_the_chosen_year(customer_client, year_orders):
    body = customer_client.get(
        reverse("accounts:consumption_report"), {"year": 2025}, HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert f'action="{CSV_URL}"' in body
    assert '<option value="2025" selected>2025</option>' in body
    assert Payment.objects.exists()
