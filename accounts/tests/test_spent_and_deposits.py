"""The consumption report keeps refundable deposits apart from money spent, and
an order shows one status badge, one payment badge and what was refunded."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.services import record_manual_refund
from accounts.tests.factories import PaymentFactory
from rentals.models import Rental
from rentals.services import process_return
from rentals.tests.admin_support import NOW, ongoing_rental
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


@pytest.fixture
def cheap_car(location):
    """¥199 a day, ¥2,000 deposit: three days cost 597."""
    return VehicleFactory(location=location, daily_rate=Decimal("199.00"), deposit_amount=Decimal("2000.00"))


def test_a_paid_future_booking_spends_its_rent_and_holds_its_deposit(
    customer_client, customer, cheap_car, assert_ledger
):
    rental = RentalFactory(customer=customer, vehicle=cheap_car)
    PaymentFactory(rental=rental, amount=Decimal("2597.00"))
    rental.refresh_financials()
    assert_ledger(rental)

    response = customer_client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en")

    totals = response.context["report"]["totals"]
    assert (totals["net_paid"], totals["spent"], totals["deposit_held"]) == (
        Decimal("2597.00"),
        Decimal("597.00"),
        Decimal("2000.00"),
    )
    body = response.content.decode()
    assert '<div class="fs-5 fw-semibold" data-total="spent">¥597.00</div>' in body
    assert '<div class="fs-5 fw-semibold" data-total="deposit_held">¥2,000.00</div>' in body
    assert "Net spent" not in body
    assert "Net paid ¥2,597.00 = spent ¥597.00 + deposits held ¥2,000.00 + refunds due ¥0.00." in body
    assert '<td class="text-end" data-figure="deposit_held">¥2,000.00</td>' in body
    assert '<td class="text-end" data-figure="spent">¥597.00</td>' in body


def test_a_partly_paid_booking_holds_no_deposit_until_the_rent_is_covered(customer_client, customer, cheap_car):
    rental = RentalFactory(customer=customer, vehicle=cheap_car)
    PaymentFactory(rental=rental, amount=Decimal("800.00"))
    rental.refresh_financials()
    row = customer_client.get(reverse("accounts:consumption_report")).context["report"]["rows"][0]
    assert (row.spent, row.deposit_held) == (Decimal("597.00"), Decimal("203.00"))


def test_completed_order_has_two_badges_and_says_the_deposit_and_goodwill_came_back(
    customer_client, customer, staff_user, frozen, vehicle, assert_ledger
):
    # given 2,900 paid, returned on time (deposit 2,000 back), then ¥50 goodwill
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3))
    process_return(rental=rental, returned_at=NOW, location=rental.return_location, by_user=staff_user)
    record_manual_refund(rental=rental, amount=Decimal("50.00"), reason="Dirty seats", by_user=staff_user)
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger(rental)

    response = customer_client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en")

    [row] = response.context["report"]["rows"]
    assert row.refund_notes == [("deposit", Decimal("2000.00")), ("goodwill", Decimal("50.00"))]
    assert (row.spent, row.deposit_held) == (Decimal("850.00"), Decimal("0.00"))
    body = response.content.decode()
    order_card = body.split('data-order-id="%s"' % rental.pk, 1)[1].split("</section>", 1)[0]
    assert order_card.count('class="badge ') == 2  # one status badge, one payment badge
    assert '<span class="badge text-bg-success" data-status="COMPLETED">Completed</span>' in body
    assert '<span class="badge text-bg-secondary" data-payment-badge="settled">Settled</span>' in body
    assert '<span data-refund-kind="deposit">deposit ¥2,000.00 refunded</span>' in body
    assert '<span data-refund-kind="goodwill">¥50.00 goodwill refund</span>' in body

    zh = customer_client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<span data-refund-kind="deposit">押金 ¥2,000.00 已退还</span>' in zh
    assert '<span data-refund-kind="goodwill">补偿退款 ¥50.00</span>' in zh


def test_a_deposit_less_the_fees_taken_from_it(customer_client, customer, staff_user, frozen, vehicle):
    # 26 h late: 900 taken from the 2,000 deposit
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3, hours=26))
    process_return(rental=rental, returned_at=NOW, location=rental.return_location, by_user=staff_user)
    body = customer_client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        '<span data-refund-kind="deposit">deposit ¥1,100.00 of ¥2,000.00 refunded (fees taken from it)</span>' in body
    )
