"""The consumption report's order card reads as arithmetic: rent before the
member discount, then the discounted rental fee (the subtotal)."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


class FeeRows(HTMLParser):
    """(header, amount) of each row of the first fee table of the page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._in_table = False
        self._done = False
        self._cell: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and not self._done:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("th", "td"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "table" and self._in_table:
            self._in_table, self._done = False, True
        elif self._in_table and tag in ("th", "td") and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("zh-hans", [("基础租金：3 天 × ¥320.00", "¥960.00"), ("会员折扣", "−¥48.00"), ("租金小计", "¥912.00")]),
        ("en", [("Rent: 3 days × ¥320.00", "¥960.00"), ("Member discount", "−¥48.00"), ("Rental fee", "¥912.00")]),
    ],
)
def test_rent_comes_before_the_discount_and_the_subtotal_after_it(client, language, expected):
    customer = CustomerFactory(member_level=Customer.MemberLevel.SILVER)
    RentalFactory(customer=customer, vehicle=VehicleFactory(daily_rate=Decimal("320.00")))
    client.force_login(customer.user)

    response = client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE=language)

    fees = FeeRows()
    fees.feed(response.content.decode())
    assert [tuple(row) for row in fees.rows[:3]] == expected
