"""A returned order says where its deposit went (SPEC §4: fees found at the
return are taken from the deposit before it is refunded): the order page and
the consumption report show the deposit paid, the fees taken from it and what
comes back, so an order total above what was paid reads as what it is."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.figures import deposit_way
from rentals.models import Rental
from rentals.services import process_return
from rentals.tests.admin_support import NOW, pay
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

# three days at ¥300 from START, returned at NOW: 26 h late, ¥900 overdue fee
START = NOW - timedelta(days=3, hours=26)


def returned(customer, staff_user, *, damage: str, return_location=None, late: bool = True) -> Rental:
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("5000.00"))
    rental = RentalFactory(
        customer=customer,
        vehicle=car,
        start_time=START,
        end_time=START + timedelta(days=3),
        return_location=return_location or car.location,
        status=Rental.Status.ONGOING,
        picked_up_at=START,
    )
    pay(rental, rental.order_total)
    back_at = NOW if late else START + timedelta(days=3)
    process_return(
        rental=rental,
        returned_at=back_at,
        location=rental.return_location,
        damage_fee=Decimal(damage),
        by_user=staff_user,
    )
    rental.refresh_from_db()
    return rental


def deposit_rows(html: str) -> tuple[str, ...]:
    card = html.split('id="deposit-way"')[1].split("</section>")[0]
    return tuple(card.split(f'data-deposit="{name}">')[1].split("<")[0] for name in DEPOSIT)


DEPOSIT = ("deposit_paid", "fees_from_deposit", "deposit_back")
WORDS = {
    "zh-hans": {
        "title": "您的押金",
        "taken": "还车时产生的费用已从您的押金中扣除，余下部分退还给您。",
        "none": "您的押金未被扣除任何费用。",
        "report": "已付押金 %s · 从中扣除费用 %s · 退还给您 %s",
    },
    "en": {
        "title": "Your deposit",
        "taken": "The fees found at the return were taken from your deposit; the rest of it comes back to you.",
        "none": "No fee was taken from your deposit.",
        "report": "Deposit %s paid · fees %s taken from it · %s back to you",
    },
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_fees_that_take_the_whole_deposit(client, frozen, customer, staff_user, language):
    # paid ¥5,900 (rent 900 + deposit 5,000); overdue 900 + damage 4,100 = the whole deposit
    rental = returned(customer, staff_user, damage="4100.00")
    figures = rental.money_figures()
    assert (figures.order_total, figures.paid, figures.refunded) == (
        Decimal("10900.00"),
        Decimal("5900.00"),
        Decimal("0.00"),
    )
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    client.force_login(customer.user)

    html = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    report = client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    text = WORDS[language]
    assert deposit_rows(html) == ("¥5,000.00", "−¥5,000.00", "¥0.00")
    assert text["title"] in html and text["taken"] in html
    assert text["report"] % ("¥5,000.00", "¥5,000.00", "¥0.00") in report


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_fees_that_take_part_of_it_and_the_rest_comes_back(client, frozen, customer, staff_user, language):
    rental = returned(customer, staff_user, damage="0")  # the ¥900 overdue fee only
    client.force_login(customer.user)

    html = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert deposit_rows(html) == ("¥5,000.00", "−¥900.00", "¥4,100.00")
    assert WORDS[language]["taken"] in html
    # what comes back is what was refunded
    assert rental.money_figures().refunded == Decimal("4100.00")


def test_a_one_way_fee_paid_at_booking_is_not_taken_from_the_deposit(
    client, frozen, customer, staff_user, other_location
):
    rental = returned(customer, staff_user, damage="0", return_location=other_location, late=False)
    assert rental.cross_location_fee == Decimal("200.00")
    client.force_login(customer.user)

    html = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert deposit_rows(html) == ("¥5,000.00", "¥0.00", "¥5,000.00")
    assert WORDS["zh-hans"]["none"] in html
    assert rental.money_figures().refunded == Decimal("5000.00")
    assert deposit_way(rental, rental.money_figures())["deposit_back"] == Decimal("5000.00")
