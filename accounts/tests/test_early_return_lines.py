"""The early-return and cancellation fees as their own lines (SPEC §19): on
the order page, the receipt, the consumption report and its CSV."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Payment
from accounts.tests.test_receipts import pdf_text
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals.services import cancel_rental, pickup_rental, process_return
from rentals.tests.clock import NOW, START
from rentals.tests.factories import book, pay
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(frozen_clock, vehicle, staff_user):
    """A GOLD customer's five-day order back after two days (rent ¥540 + fee
    ¥162), and a booking of theirs cancelled 12 hours before pick-up (a late cancel: the policy's fee)."""
    customer = CustomerFactory(member_level=Customer.MemberLevel.GOLD)
    early = book(customer, vehicle, START, START + timedelta(days=5))
    pay(early, payment_method=Payment.Method.ALIPAY)
    other_car = VehicleFactory(location=vehicle.location, daily_rate=Decimal("270.00"), deposit_amount=Decimal("0"))
    cancelled = book(customer, other_car, NOW + timedelta(hours=12), NOW + timedelta(days=2))
    pay(cancelled, payment_method=Payment.Method.ALIPAY)
    cancel_rental(rental=cancelled, reason="Plans changed", by_user=customer.user)  # late: a fee
    frozen_clock.move_to(START, tick=False)
    pickup_rental(rental=early, by_user=staff_user)
    when = START + timedelta(days=2) - timedelta(hours=3)
    frozen_clock.move_to(when, tick=False)
    process_return(rental=early, returned_at=when, location=early.return_location, by_user=staff_user)
    cancelled.refresh_from_db()
    assert cancelled.cancellation_fee > 0
    return customer, early, cancelled


def test_the_order_page_and_the_receipt_list_the_early_return_fee_apart(client, orders):
    customer, early, _ = orders
    client.force_login(customer.user)

    page = client.get(reverse("accounts:order_detail", args=[early.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    receipt = pdf_text(client.get(reverse("accounts:receipt", args=[early.pk]), HTTP_ACCEPT_LANGUAGE="en"))

    assert 'data-fee="early_return_fee">¥162.00' in page
    assert 'data-fee="total_amount">¥540.00' in page  # the rent of the two days used
    assert "Rent: 2 days × ¥300.00" in page
    assert "Early-return fee" in receipt and "¥162.00" in receipt and "¥540.00" in receipt


def test_the_report_and_its_csv_list_early_return_and_cancellation_fees_apart(client, orders):
    customer, early, cancelled = orders
    client.force_login(customer.user)

    page = client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    raw = b"".join(
        client.get(
            reverse("accounts:consumption_report_csv"), {"year": NOW.year}, HTTP_ACCEPT_LANGUAGE="en"
        ).streaming_content
    )

    assert 'data-fee="early_return_fee">¥162.00' in page
    fee = f"{cancelled.cancellation_fee:.2f}"
    assert "Cancellation fee" in page and f"¥{fee}" in page
    header, *rows, total = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    cells = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    assert (cells[early.pk]["Rental fee"], cells[early.pk]["Early-return fee"]) == ("540.00", "162.00")
    assert (cells[cancelled.pk]["Cancellation fee"], cells[cancelled.pk]["Early-return fee"]) == (fee, "0.00")
    totals = dict(zip(header, total, strict=True))
    assert (totals["Early-return fee"], totals["Cancellation fee"]) == ("162.00", fee)
    assert totals["Rental fee"] == str(Decimal("540.00") + Decimal(cells[cancelled.pk]["Rental fee"]))


def test_the_early_return_fee_line_reads_in_chinese(client, orders):
    customer, early, _ = orders
    client.force_login(customer.user)

    page = client.get(reverse("accounts:order_detail", args=[early.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "提前还车费" in page.content.decode()


def test_the_reports_cancellation_fee_stands_below_the_order_total_it_is_not_part_of(
    client, frozen, vehicle, customer, staff_user
):
    """The fee is kept from what was paid: listed above the total it would read
    as one of the lines the total adds up (900 + 2,000 + 300 ≠ 2,900)."""
    from accounts.tests.factories import PaymentFactory
    from rentals.tests.factories import RentalFactory

    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=NOW + timedelta(hours=12))
    PaymentFactory(rental=rental, amount=rental.order_total)
    rental.refresh_financials()
    cancel_rental(rental=rental, reason="Plans changed", by_user=staff_user)
    rental.refresh_from_db()
    assert rental.cancellation_fee > 0
    client.force_login(customer.user)
    body = client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    card = re.search(rf'data-order-id="{rental.pk}".*?</table>', body, re.S).group(0)
    assert card.index("Order total") < card.index('data-fee="cancellation_fee"')
