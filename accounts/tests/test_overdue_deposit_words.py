"""An overdue order's page says how the late fee so far will be paid (SPEC §4:
fees are taken from the deposit before it is refunded; §16 "overdue so far"):
from the deposit in hand, and what is owed beyond it, if anything — never a
red "to pay now" that the deposit covers. The figures equal what the return
would do at that moment."""

from datetime import timedelta
from decimal import Decimal

import pytest

from accounts.figures import so_far_figures
from rentals.models import Rental
from rentals.services import process_return
from rentals.tests.admin_support import NOW, ongoing_rental
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

# Three days from START at ¥480 a day: at NOW the car is 26 h late, two
# started days × 480 × 1.5 = ¥1,440 so far.
START = NOW - timedelta(days=3, hours=26)


def overdue_order(customer, *, deposit: str, paid: Decimal | None = None, rate: str = "480.00") -> Rental:
    car = VehicleFactory(daily_rate=Decimal(rate), deposit_amount=Decimal(deposit))
    rental = ongoing_rental(vehicle=car, customer=customer, start=START, paid=paid)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    rental.refresh_from_db()
    return rental


def order_page(client, rental, language) -> str:
    return client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()


def summary(html: str, name: str) -> str:
    return html.split(f'data-summary="{name}">')[1].split("<")[0]


def alert(html: str) -> str:
    return " ".join(html.split('id="overdue-so-far"')[1].split("</div>")[0].split())


CASES = {
    # the ¥5,000 deposit covers the ¥1,440 so far
    "covered": {
        "deposit": "5000.00",
        "figures": ("¥1,440.00", "¥1,440.00", "¥0.00"),
        "zh-hans": "还车时将从您的押金（在押 ¥5,000.00）中扣除，截至目前没有超出押金的欠款。",
        "en": "It will be taken from your deposit (¥5,000.00 held) at the return: nothing is owed beyond the deposit so "
        "far.",
    },
    # a ¥1,000 deposit covers part of it
    "beyond": {
        "deposit": "1000.00",
        "figures": ("¥1,440.00", "¥1,000.00", "¥440.00"),
        "zh-hans": "其中 ¥1,000.00 将在还车时从押金中扣除，超出押金的 ¥440.00 需在还车时支付。",
        "en": "¥1,000.00 of it will be taken from your deposit at the return; ¥440.00 beyond the deposit is to be paid "
        "then.",
    },
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_page_says_the_deposit_pays_the_fee_so_far_and_what_is_beyond_it(
    client, frozen, customer, staff_user, case, language
):
    spec = CASES[case]
    rental = overdue_order(customer, deposit=spec["deposit"])
    client.force_login(customer.user)

    html = order_page(client, rental, language)

    figures = tuple(summary(html, name) for name in ("overdue_so_far", "overdue_from_deposit", "due_at_return_so_far"))
    assert figures == spec["figures"]
    assert spec[language] in alert(html)
    fee = (
        "截至目前超时费为 ¥1,440.00，还车前每开始一天都会增加。" + spec["zh-hans"]
        if language == "zh-hans"
        else "The overdue fee so far is ¥1,440.00; it grows with every started day until the car is returned. "
        + spec["en"]
    )
    assert fee in alert(html)
    # nothing reads as a debt to settle now
    assert 'data-summary="remaining_so_far"' not in html and "截至目前待支付" not in html
    assert 'id="pay-button"' not in html
    assert ("alert-info" if case == "covered" else "alert-warning") in html.split('id="overdue-so-far"')[0][-80:]

    # what the return does now is what the page said
    process_return(rental=rental, returned_at=NOW, location=rental.pickup_location, by_user=staff_user)
    rental.refresh_from_db()
    after = rental.money_figures()
    assert rental.overdue_fee == Decimal("1440.00")
    if case == "covered":
        assert after.refunded == Decimal("5000.00") - Decimal("1440.00") and after.remaining == Decimal("0.00")
    else:
        assert after.refunded == Decimal("0.00") and after.remaining == Decimal("440.00")


@pytest.mark.parametrize(
    "language, words",
    [
        ("zh-hans", "本订单无押金可扣：¥900.00 需在还车时支付。"),
        ("en", "There is no deposit to take it from: ¥900.00 is to be paid at the return."),
    ],
)
def test_without_a_deposit_the_whole_fee_so_far_is_to_be_paid_at_the_return(
    client, frozen, vip_customer, language, words
):
    rental = overdue_order(vip_customer, deposit="2000.00", rate="300.00")  # a VIP pays no deposit
    client.force_login(vip_customer.user)

    html = order_page(client, rental, language)

    assert words in alert(html)
    assert (summary(html, "overdue_from_deposit"), summary(html, "due_at_return_so_far")) == ("¥0.00", "¥900.00")


def test_the_figures_come_from_the_one_definition(frozen, customer):
    rental = overdue_order(customer, deposit="1000.00", paid=Decimal("2000.00"))  # rent 1,440 + 560 of the deposit
    figures = rental.money_figures()
    so_far = so_far_figures(rental, figures, rental.overdue_fee_so_far())
    assert figures.deposit_held == Decimal("560.00")
    assert so_far == {
        "remaining_so_far": Decimal("1880.00"),  # 440 of the deposit unpaid + 1,440
        "overdue_from_deposit": Decimal("560.00"),
        "due_at_return_so_far": Decimal("880.00"),
    }
