"""The deposit block of the customer's order page (SPEC §18 "Pages"): where
the deposit is held, its status in words, what was taken and why, what was
released, when the rest goes back, why a hold was refused; in Chinese first
and in English; no hold query for an order whose deposit is money or waived,
one for a HOLD or CREDIT order."""

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import DepositHold, HoldRelease, Payment, TakeReason
from accounts.tests.factories import PaymentFactory
from accounts.tests.hold_support import held_rental, make_hold, release, take
from rentals.models import Rental
from rentals.services import refresh_statuses_if_due
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

D = Decimal
SHANGHAI = ZoneInfo("Asia/Shanghai")


def hold_block(response) -> str:
    html = response.content.decode()
    match = re.search(r'<section class="card shadow-sm mb-4" id="deposit-holds".*?</section>', html, re.S)
    assert match, "no deposit block on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))


@pytest.fixture
def returned_hold_order(customer, vehicle):
    """A returned Alipay HOLD order: ¥4,000 frozen, ¥300 taken for fees at the
    return, ¥200 for a traffic fine, ¥1,500 released, the rest due back on
    2027-01-10 09:30 Shanghai time."""
    rental = held_rental(customer=customer, vehicle=vehicle)
    PaymentFactory(rental=rental, amount=rental.total_amount + rental.cross_location_fee)
    hold = make_hold(
        rental,
        amount=D("4000.00"),
        release_after=datetime(2027, 1, 10, 9, 30, tzinfo=SHANGHAI),
    )
    take(hold, D("300.00"), TakeReason.RETURN_FEES)
    take(hold, D("200.00"), TakeReason.TRAFFIC_FINE, fine_reference="3101150000123456")
    release(hold, D("1500.00"))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED)
    rental.refresh_from_db()
    rental.refresh_financials()
    refresh_statuses_if_due()
    return rental, hold


def test_the_order_page_shows_the_frozen_deposit_takes_releases_and_release_date_in_chinese(
    client, customer, returned_hold_order
):
    rental, hold = returned_hold_order
    client.force_login(customer.user)
    text = hold_block(client.get(reverse("accounts:order_detail", args=[rental.pk])))

    assert "¥4,000.00" in text and "支付宝" in text and "冻结" in text
    assert "已冻结：您的账户没有扣款" in text
    assert "已从押金扣除 ¥500.00" in text  # taken in all
    assert "还车时核定的费用" in text and "¥300.00" in text
    assert "交通违章罚款" in text and "3101150000123456" in text and "¥200.00" in text
    assert "已退还给您 ¥1,500.00" in text
    # The rest (4000 − 500 − 1500) goes back on the date in local time.
    assert "剩余的 ¥2,000.00 将于 2027-01-10 09:30 解冻。" in text


def test_the_same_block_reads_completely_in_english(client, customer, returned_hold_order):
    rental, _hold = returned_hold_order
    client.force_login(customer.user)
    text = hold_block(client.get(reverse("accounts:order_detail", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en"))

    assert "¥4,000.00 frozen in Alipay" in text
    assert "Held: nothing has left your account" in text
    assert "Taken from the deposit ¥500.00" in text
    assert "Fees found at return" in text and "Traffic fine · notice no. 3101150000123456" in text
    assert "Released to you ¥1,500.00" in text
    assert "The remaining ¥2,000.00 will be released on 2027-01-10 09:30." in text
    assert not re.search(r"[\u4e00-\u9fff]", text.replace("资金预授权", "")), text


def test_a_pay_score_hold_waiting_for_the_customer_says_so(client, customer, vehicle):
    rental = held_rental(customer=customer, vehicle=vehicle, mode=Rental.DepositMode.CREDIT)
    make_hold(rental, provider="wechatpay", status=DepositHold.Status.PENDING, amount=D("4000.00"))
    client.force_login(customer.user)
    text = hold_block(client.get(reverse("accounts:order_detail", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en"))

    assert "¥4,000.00 guaranteed by WeChat Pay Score" in text
    assert "Waiting for you to confirm it with the provider" in text
    assert "Still held" not in text and "will be released on" not in text
    chinese = hold_block(client.get(reverse("accounts:order_detail", args=[rental.pk])))
    assert "微信支付分" in chinese


def test_a_refused_hold_gives_its_reason_and_a_take_on_its_way_is_not_counted_as_taken(client, customer, vehicle):
    rental = held_rental(customer=customer, vehicle=vehicle)
    make_hold(rental, status=DepositHold.Status.FAILED, failure_reason="额度不足 / not enough balance")
    second = make_hold(rental, amount=D("4000.00"))
    take(second, D("120.00"), TakeReason.OVERDUE, status=Payment.Status.PROCESSING)
    release(second, D("1000.00"), status=HoldRelease.Status.PENDING)
    client.force_login(customer.user)
    response = client.get(reverse("accounts:order_detail", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en")
    text = hold_block(response)

    assert "Refused by the provider: 额度不足 / not enough balance" in text
    assert "Late return fee" in text and "being taken" in text
    assert "Taken from the deposit ¥0.00" in text
    assert "Released to you ¥0.00" in text and "Being released ¥1,000.00" in text
    # The newest hold first.
    html = response.content.decode()
    assert html.index(f'data-hold="{second.transaction_id}"') < html.index('data-status="FAILED"')


def test_an_order_paying_its_deposit_as_money_has_no_block_and_no_hold_query(client, customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    PaymentFactory(rental=rental, amount=D("100.00"))
    rental.refresh_financials()
    refresh_statuses_if_due()
    client.force_login(customer.user)
    url = reverse("accounts:order_detail", args=[rental.pk])
    client.get(url)

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)

    assert 'id="deposit-holds"' not in response.content.decode()
    statements = [q["sql"] for q in ctx.captured_queries]
    assert not [sql for sql in statements if "accounts_deposithold" in sql or "accounts_trafficfine" in sql]
    assert len(statements) == 4, statements


def test_a_hold_order_reads_its_holds_releases_and_fines_in_one_more_query(client, customer, returned_hold_order):
    rental, _hold = returned_hold_order
    client.force_login(customer.user)
    url = reverse("accounts:order_detail", args=[rental.pk])
    client.get(url)

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)

    assert response.status_code == 200
    statements = [q["sql"] for q in ctx.captured_queries]
    assert len(statements) == 5, statements
    (hold_query,) = [sql for sql in statements if 'FROM "accounts_deposithold"' in sql]
    assert '"accounts_holdrelease"' in hold_query
    (payments_query,) = [sql for sql in statements if 'FROM "accounts_payment"' in sql]
    assert '"accounts_trafficfine"' in payments_query


def test_another_customers_hold_order_is_404(client, returned_hold_order):
    from customers.tests.factories import CustomerFactory

    rental, _hold = returned_hold_order
    client.force_login(CustomerFactory().user)
    assert client.get(reverse("accounts:order_detail", args=[rental.pk])).status_code == 404


def test_the_page_figures_match_the_rows(returned_hold_order):
    """The block's sums are the rows' own: taken = PAID takes, released = DONE releases."""
    from accounts.selectors.holds import deposit_holds

    rental, hold = returned_hold_order
    rental = Rental.objects.get(pk=rental.pk)
    (view,) = deposit_holds(rental)
    paid_takes = Payment.objects.filter(hold=hold, status=Payment.Status.PAID)
    assert view.taken == sum(p.amount for p in paid_takes) == D("500.00")
    assert view.released == sum(r.amount for r in hold.releases.filter(status=HoldRelease.Status.DONE))
    assert view.held == rental.amount_held == D("2000.00")
    assert timezone.is_aware(view.hold.release_after)
