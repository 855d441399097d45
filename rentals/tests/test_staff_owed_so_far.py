"""An overdue order owes its late fee so far (SPEC §16) on the staff pages as
on the customer's: the counter board and the return page show the figure the
customer's order page shows, and it grows with the clock on all of them."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from rentals.models import Rental
from rentals.tests.admin_support import NOW, admin_url, ongoing_rental
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BOARD = "/admin/rentals/rental/today/"
# Three days at ¥480 with a ¥5,000 deposit, paid in full; at NOW the car is
# 26 h late: two started days × 480 × 1.5 = ¥1,440 so far.
START = NOW - timedelta(days=3, hours=26)


@pytest.fixture
def overdue(frozen, location, customer):
    car = VehicleFactory(location=location, daily_rate=Decimal("480.00"), deposit_amount=Decimal("5000.00"))
    rental = ongoing_rental(vehicle=car, customer=customer, start=START)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    rental.refresh_from_db()
    return rental


def customer_figures(client, rental) -> tuple[str, str, str]:
    """(overdue fee so far, taken from the deposit so far, beyond the deposit so
    far) as the customer's order page shows them."""
    client.force_login(rental.customer.user)
    body = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    shown = tuple(
        re.search(rf'data-summary="{name}">([^<]+)<', body).group(1)
        for name in ("overdue_so_far", "overdue_from_deposit", "due_at_return_so_far")
    )
    client.logout()
    return shown


def staff_deposit_split(page: str) -> tuple[str, str]:
    """(taken from the deposit so far, beyond the deposit so far) on a staff order page."""
    return tuple(
        re.search(rf'id="{name}" data-amount="[^"]+">([^<]+)<', page).group(1)
        for name in ("from-deposit-so-far", "beyond-deposit-so-far")
    )


def board_row(client, rental) -> str:
    body = client.get(BOARD, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    return re.search(rf'<tr data-rental="{rental.pk}">.*?</tr>', body, re.S).group(0)


def return_page(client, rental, language="en") -> str:
    return client.get(admin_url("return", rental), HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_board_and_return_page_show_the_customer_pages_figure(client, staff_user, overdue, time_machine):
    for now, expected in ((NOW, "¥1,440.00"), (NOW + timedelta(days=1), "¥2,160.00")):
        time_machine.move_to(now, tick=False)
        # the deposit covers the fee: taken from it, nothing beyond
        assert customer_figures(client, overdue) == (expected, expected, "¥0.00")
        client.force_login(staff_user)

        row = board_row(client, overdue)
        amount = expected.lstrip("¥").replace(",", "")
        assert f'data-amount="{amount}">{expected}<br>' in row
        assert f"so far, incl. overdue fee {expected}" in row
        assert "—" not in row

        page = return_page(client, overdue)
        assert f'<td class="num" id="overdue-so-far" data-amount="{amount}">{expected}</td>' in page
        assert f'<td class="num" id="remaining" data-amount="{amount}">{expected}</td>' in page
        assert staff_deposit_split(page) == (expected, "¥0.00")
        assert "¥0.00</td></tr>\n      <tr><th>Refund due" not in page
        client.logout()


def test_the_figures_read_in_chinese(staff_client, overdue):
    page = return_page(staff_client, overdue, "zh-hans")
    assert "截至目前超时费" in page and "截至目前待付金额" in page
    body = staff_client.get(BOARD, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "截至目前，含超时费 ¥1,440.00" in body


def test_a_partly_paid_overdue_order_owes_its_balance_plus_the_fee_so_far(
    client, staff_user, frozen, location, vip_customer
):
    car = VehicleFactory(location=location, daily_rate=Decimal("480.00"), deposit_amount=Decimal("5000.00"))
    # a VIP (no deposit, 15 % off 1,440): paid 1,000 of 1,224, then 1,440 so far
    rental = ongoing_rental(vehicle=car, customer=vip_customer, start=START, paid=Decimal("1000.00"))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    rental.refresh_from_db()
    fee, from_deposit, beyond = customer_figures(client, rental)
    assert (fee, from_deposit, beyond) == ("¥1,440.00", "¥0.00", "¥1,664.00")  # no deposit to take it from
    client.force_login(staff_user)
    assert 'data-amount="1664.00">¥1,664.00<br>' in board_row(client, rental)
    page = return_page(client, rental)
    assert 'id="remaining" data-amount="1664.00">¥1,664.00<' in page
    assert staff_deposit_split(page) == (from_deposit, beyond)


def test_an_order_on_time_shows_what_it_owes_as_before(staff_client, frozen, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=1), paid=Decimal("100.00"))
    page = return_page(staff_client, rental)
    assert 'id="overdue-so-far"' not in page
    assert f'<td class="num" id="remaining" data-amount="{rental.money_figures().remaining}">' in page
