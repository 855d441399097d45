"""What the customer's pages say about their money, read in a real browser
(Playwright + Debian's Chromium) at phone width (390×844) in Chinese, with
axe-core's WCAG 2.1 AA rules clean: the banner after a cancel at each state of
its refund (in progress, refused, back) and the order page's transaction list;
an overdue order whose late fee the deposit covers; a returned order whose
fees took its deposit, with the damage note; the late-fee rule on the booking
page. Screenshots go to
test-artifacts/screenshots/ (``UX_SHOTS`` adds a copy elsewhere)."""

import os
import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.accessibility import assert_no_serious_axe_violations, require_axe
from accounts.tests.factories import PaymentFactory
from customers.tests.factories import TEST_PASSWORD
from rentals.models import Rental
from rentals.services import process_return
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"words-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UX_SHOTS"):
        Path(os.environ["UX_SHOTS"]).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(os.environ["UX_SHOTS"]) / path.name)


@pytest.fixture
def phone_page(browser, live_server, customer):
    require_axe()
    context = browser.new_context(
        locale="zh-CN", viewport=PHONE, extra_http_headers={"Accept-Language": "zh-CN"}, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", customer.user.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    yield page
    context.close()


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, page.url


BANNERS = {
    "hold": ("info", "¥2,900.00 退款中，将退回您的支付宝，到账后我们会通知您。", "退款中"),
    "refund_failed": ("warning", "¥2,900.00 退款失败，客服将联系您，您也可以到门店柜台领取。", "退款失败"),
    "refunded": ("success", "¥2,900.00 已退回您的支付宝。", "已退款"),
}


@pytest.mark.parametrize("outcome", list(BANNERS))
def test_the_cancel_banner_says_where_the_refund_is(phone_page, live_server, customer, settings, outcome):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = outcome
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    rental = RentalFactory(customer=customer, vehicle=car, start_time=timezone.now() + timedelta(days=2))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    page = phone_page
    level, words, row_status = BANNERS[outcome]

    page.goto(live_server.url + reverse("rentals:cancel", args=[rental.pk]))
    page.fill("#id_reason", "行程有变")
    page.click("#cancel-submit")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")

    banner = page.inner_text(".messages")
    assert f"订单 #{rental.pk} 已取消。" in banner and words in banner
    if outcome != "refunded":
        assert "已退回" not in banner
    status = page.locator("#refund-status")
    assert status.get_attribute("data-state") == {"hold": "in_flight", "refund_failed": "failed"}.get(outcome, "back")
    assert words in status.inner_text()
    assert page.inner_text('.transaction[data-type="REFUND"] .badge') == row_status
    assert "待付款" not in page.inner_text("main")
    assert level in page.get_attribute(".messages .alert", "class")
    no_horizontal_scroll(page)
    shot(page, f"phone-zh-cancel-{outcome}")
    assert_no_serious_axe_violations(page, f"order page after a cancel ({outcome})")


def test_an_overdue_order_covered_by_its_deposit(phone_page, live_server, customer):
    # three days at ¥480 from 3 days 26 h ago, paid in full with a ¥5,000 deposit: ¥1,440 so far
    car = VehicleFactory(daily_rate=Decimal("480.00"), deposit_amount=Decimal("5000.00"))
    start = timezone.now() - timedelta(days=3, hours=26)
    rental = RentalFactory(customer=customer, vehicle=car, start_time=start, end_time=start + timedelta(days=3))
    PaymentFactory(rental=rental, amount=Decimal("6440.00"), paid_at=start - timedelta(hours=1))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE, picked_up_at=start)
    rental.refresh_from_db()
    rental.refresh_financials()
    page = phone_page

    page.goto(f"{live_server.url}/accounts/orders/{rental.pk}/")

    note = page.inner_text("#overdue-so-far")
    assert "截至目前超时费为 ¥1,440.00" in note
    assert "还车时将从您的押金（在押 ¥5,000.00）中扣除，截至目前没有超出押金的欠款。" in note
    assert page.text_content('[data-summary="overdue_from_deposit"]') == "¥1,440.00"
    assert page.text_content('[data-summary="due_at_return_so_far"]') == "¥0.00"
    assert "截至目前待支付" not in page.inner_text("main")
    assert page.locator("#pay-button").count() == 0
    no_horizontal_scroll(page)
    shot(page, "phone-zh-overdue-covered")
    assert_no_serious_axe_violations(page, "overdue order covered by its deposit")


def test_a_returned_order_whose_fees_took_the_deposit(phone_page, live_server, customer, staff_user):
    # paid ¥5,900 (rent 900 + deposit 5,000), returned 26 h late with damage: 900 + 4,100 take the whole deposit
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("5000.00"))
    start = timezone.now() - timedelta(days=3, hours=26)
    rental = RentalFactory(
        customer=customer,
        vehicle=car,
        start_time=start,
        end_time=start + timedelta(days=3),
        status=Rental.Status.ONGOING,
        picked_up_at=start,
    )
    PaymentFactory(rental=rental, amount=Decimal("5900.00"), paid_at=start - timedelta(hours=1))
    rental.refresh_financials()
    process_return(
        rental=rental,
        returned_at=timezone.now(),
        location=rental.return_location,
        damage_fee=Decimal("4100.00"),
        note="左前门刮伤，需钣金喷漆",
        by_user=staff_user,
    )
    page = phone_page

    page.goto(f"{live_server.url}/accounts/orders/{rental.pk}/")

    assert page.text_content('[data-deposit="deposit_paid"]') == "¥5,000.00"
    assert page.text_content('[data-deposit="fees_from_deposit"]') == "−¥5,000.00"
    assert page.text_content('[data-deposit="deposit_back"]') == "¥0.00"
    assert "还车时产生的费用已从您的押金中扣除" in page.inner_text("#deposit-way")
    assert page.inner_text("#damage-note") == "还车检查记录：左前门刮伤，需钣金喷漆"
    no_horizontal_scroll(page)
    shot(page, "phone-zh-fees-from-deposit")
    assert_no_serious_axe_violations(page, "returned order whose fees took the deposit")


def test_the_booking_page_states_the_late_fee_rule(phone_page, live_server):
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    page = phone_page

    page.goto(live_server.url + reverse("rentals:new", args=[car.pk]))

    assert page.inner_text("#late-fee-rule") == (
        "超时还车：约定还车时间后 1 小时内免费；超过后按日租金的 1.5 倍（¥450.00）计费，每开始一天计一天，宽限时间一并计入。"
    )
    no_horizontal_scroll(page)
    shot(page, "phone-zh-booking-late-fee")
    assert_no_serious_axe_violations(page, "booking page")
