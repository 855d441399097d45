"""What the customer's pages say about their money, read in a real browser
(Playwright + Debian's Chromium) at phone width (390×844) in Chinese and in English, with
axe-core's WCAG 2.1 AA rules clean: the banner after a cancel at each state of
its refund (in progress, refused, back) and the order page's transaction list;
the consumption report keeping a refund in progress apart from what was spent;
an overdue order whose late fee the deposit covers; a returned order whose
fees took its deposit, with the damage note; the late-fee rule on the booking
page. Each test reads the exact words of both languages. Screenshots go to
test-artifacts/screenshots/ (words-phone-<zh|en>-<state>.png; ``UX_SHOTS``
adds a copy elsewhere)."""

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
from rentals.services import cancel_rental, process_return
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


LOCALES = {"zh-hans": "zh-CN", "en": "en-US"}


@pytest.fixture(params=list(LOCALES))
def language(request) -> str:
    return request.param


@pytest.fixture
def phone_page(browser, live_server, customer, language):
    require_axe()
    locale = LOCALES[language]
    context = browser.new_context(
        locale=locale, viewport=PHONE, extra_http_headers={"Accept-Language": locale}, is_mobile=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", customer.user.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == language
    yield page
    context.close()


def no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0, page.url


BANNERS = {
    "zh-hans": {
        "hold": ("info", "¥2,900.00 退款中，将退回您的支付宝，到账后我们会通知您。", "退款中"),
        "refund_failed": ("warning", "¥2,900.00 退款失败，客服将联系您，您也可以到门店柜台领取。", "退款失败"),
        "refunded": ("success", "¥2,900.00 已退回您的支付宝。", "已退款"),
    },
    "en": {
        "hold": (
            "info",
            "A refund of ¥2,900.00 to your Alipay is in progress; we will tell you when it arrives.",
            "Refund in progress",
        ),
        "refund_failed": (
            "warning",
            "The refund of ¥2,900.00 did not go through; our staff will contact you, "
            "or you can collect it at the store counter.",
            "Refund failed",
        ),
        "refunded": ("success", "¥2,900.00 has been refunded to your Alipay.", "Refunded"),
    },
}
WORDS = {
    "zh-hans": {
        "reason": "行程有变",
        "cancelled": "订单 #{pk} 已取消。",
        "back": "已退回",
        "pending": "待付款",
        "overdue_fee": "截至目前超时费为 ¥1,440.00",
        "from_deposit": "还车时将从您的押金（在押 ¥5,000.00）中扣除，截至目前没有超出押金的欠款。",
        "to_pay_so_far": "截至目前待支付",
        "fees_from_deposit": "还车时产生的费用已从您的押金中扣除",
        "damage_note": "还车检查记录：左前门刮伤，需钣金喷漆",
        "late_fee_rule": (
            "超时还车：约定还车时间后 1 小时内免费；超过后按日租金的 1.5 倍（¥450.00）计费，"
            "每开始一天计一天，宽限时间一并计入。"
        ),
    },
    "en": {
        "reason": "Change of plans",
        "cancelled": "Order #{pk} is cancelled.",
        "back": "has been refunded",
        "pending": "Pending",
        "overdue_fee": "The overdue fee so far is ¥1,440.00",
        "from_deposit": (
            "It will be taken from your deposit (¥5,000.00 held) at the return: nothing is owed beyond the deposit so far."
        ),
        "to_pay_so_far": "to pay so far",
        "fees_from_deposit": "The fees found at the return were taken from your deposit",
        "damage_note": "Noted at the return: 左前门刮伤，需钣金喷漆",
        "late_fee_rule": (
            "Late return: free within 1 hour after the return time; after that, 1.5 × the daily rate (¥450.00) "
            "for every started day, the grace included."
        ),
    },
}
SHORT = {"zh-hans": "zh", "en": "en"}
REPORT_EXPLAINED = {
    "zh-hans": (
        "净支付 ¥2,900.00 = 实际消费 ¥300.00 + 在押押金 ¥0.00 + 待退款 ¥0.00 + 退款中 ¥2,600.00。"
        "实际消费是不会退还的部分；退款中的款项正在退还给您；押金在还车后退还。"
    ),
    "en": (
        "Net paid ¥2,900.00 = spent ¥300.00 + deposits held ¥0.00 + refunds due ¥0.00 + refunds in progress "
        "¥2,600.00. Spent is what you will not get back; a refund in progress is on its way back to you; "
        "deposits come back when the car is returned."
    ),
}
REFUND_IN_PROGRESS = {"zh-hans": "退款中", "en": "Refund in progress"}


@pytest.mark.parametrize("outcome", ["hold", "refund_failed", "refunded"])
def test_the_cancel_banner_says_where_the_refund_is(phone_page, live_server, customer, settings, language, outcome):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = outcome
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    rental = RentalFactory(customer=customer, vehicle=car, start_time=timezone.now() + timedelta(days=2))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    page = phone_page
    level, words, row_status = BANNERS[language][outcome]
    text = WORDS[language]

    page.goto(live_server.url + reverse("rentals:cancel", args=[rental.pk]))
    page.fill("#id_reason", text["reason"])
    page.click("#cancel-submit")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")

    banner = page.inner_text(".messages")
    assert text["cancelled"].format(pk=rental.pk) in banner and words in banner
    if outcome != "refunded":
        assert text["back"] not in banner
    status = page.locator("#refund-status")
    assert status.get_attribute("data-state") == {"hold": "in_flight", "refund_failed": "failed"}.get(outcome, "back")
    assert words in status.inner_text()
    assert page.inner_text('.transaction[data-type="REFUND"] .badge') == row_status
    assert text["pending"] not in page.inner_text("main")
    assert level in page.get_attribute(".messages .alert", "class")
    no_horizontal_scroll(page)
    shot(page, f"phone-{SHORT[language]}-cancel-{outcome}")
    assert_no_serious_axe_violations(page, f"order page after a cancel ({outcome})")


def test_the_report_keeps_a_refund_in_progress_apart_from_what_was_spent(
    phone_page, live_server, customer, staff_user, settings, language
):
    # paid ¥2,900 (rent 900 + deposit 2,000), never picked up: cancelled by staff
    # with the policy's no-show fee of a day's rent, ¥300; ¥2,600 is on its way back
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    rental = RentalFactory(customer=customer, vehicle=car, start_time=timezone.now() - timedelta(hours=1))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    cancel_rental(rental=rental, reason="未到店", cancellation_fee=Decimal("300.00"), by_user=staff_user)
    page = phone_page

    page.goto(live_server.url + reverse("accounts:consumption_report"))

    assert page.text_content('[data-total="spent"]') == "¥300.00"
    assert page.text_content('[data-total="refund_in_flight"]') == "¥2,600.00"
    assert page.text_content('[data-total="refund_due"]') == "¥0.00"
    flight_card = page.locator('.stat:has([data-total="refund_in_flight"])')
    assert REFUND_IN_PROGRESS[language] in flight_card.inner_text()
    assert page.inner_text("#report-explained") == REPORT_EXPLAINED[language]
    order = page.locator(f'.report-order[data-order-id="{rental.pk}"]')
    assert order.locator('[data-figure="spent"]').inner_text() == "¥300.00"
    assert order.locator('[data-figure="refund_in_flight"]').inner_text() == "¥2,600.00"
    no_horizontal_scroll(page)
    shot(page, f"phone-{SHORT[language]}-report-refund-in-progress")
    assert_no_serious_axe_violations(page, "consumption report with a refund in progress")


def test_an_overdue_order_covered_by_its_deposit(phone_page, live_server, customer, language):
    # three days at ¥480 from 3 days 26 h ago, paid in full with a ¥5,000 deposit: ¥1,440 so far
    car = VehicleFactory(daily_rate=Decimal("480.00"), deposit_amount=Decimal("5000.00"))
    start = timezone.now() - timedelta(days=3, hours=26)
    rental = RentalFactory(customer=customer, vehicle=car, start_time=start, end_time=start + timedelta(days=3))
    PaymentFactory(rental=rental, amount=Decimal("6440.00"), paid_at=start - timedelta(hours=1))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE, picked_up_at=start)
    rental.refresh_from_db()
    rental.refresh_financials()
    page = phone_page
    text = WORDS[language]

    page.goto(f"{live_server.url}/accounts/orders/{rental.pk}/")

    note = page.inner_text("#overdue-so-far")
    assert text["overdue_fee"] in note
    assert text["from_deposit"] in note
    assert page.text_content('[data-summary="overdue_from_deposit"]') == "¥1,440.00"
    assert page.text_content('[data-summary="due_at_return_so_far"]') == "¥0.00"
    assert text["to_pay_so_far"].lower() not in page.inner_text("main").lower()
    assert page.locator("#pay-button").count() == 0
    no_horizontal_scroll(page)
    shot(page, f"phone-{SHORT[language]}-overdue-covered")
    assert_no_serious_axe_violations(page, "overdue order covered by its deposit")


def test_a_returned_order_whose_fees_took_the_deposit(phone_page, live_server, customer, staff_user, language):
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
    text = WORDS[language]

    page.goto(f"{live_server.url}/accounts/orders/{rental.pk}/")

    assert page.text_content('[data-deposit="deposit_paid"]') == "¥5,000.00"
    assert page.text_content('[data-deposit="fees_from_deposit"]') == "−¥5,000.00"
    assert page.text_content('[data-deposit="deposit_back"]') == "¥0.00"
    assert text["fees_from_deposit"] in page.inner_text("#deposit-way")
    assert page.inner_text("#damage-note") == text["damage_note"]
    no_horizontal_scroll(page)
    shot(page, f"phone-{SHORT[language]}-fees-from-deposit")
    assert_no_serious_axe_violations(page, "returned order whose fees took the deposit")


def test_the_booking_page_states_the_late_fee_rule(phone_page, live_server, language):
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    page = phone_page

    page.goto(live_server.url + reverse("rentals:new", args=[car.pk]))

    assert page.inner_text("#late-fee-rule") == WORDS[language]["late_fee_rule"]
    no_horizontal_scroll(page)
    shot(page, f"phone-{SHORT[language]}-booking-late-fee")
    assert_no_serious_axe_violations(page, "booking page")


LATE_CANCEL = {
    "zh-hans": ("现在取消收取 ¥300.00。", "¥2,600.00 已退回您的支付宝。"),
    "en": ("Cancelling now costs ¥300.00.", "¥2,600.00 has been refunded to your Alipay."),
}


def test_the_cancel_page_shows_the_fee_that_applies_and_the_refund_follows_it(
    phone_page, live_server, customer, language
):
    """SPEC §19: half a day before pick-up the free cancellation is over: the
    cancel page says what cancelling costs now (a day's rent, ¥300), and after
    the cancel the rest of the ¥2,900 paid comes back."""
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    rental = RentalFactory(customer=customer, vehicle=car, start_time=timezone.now() + timedelta(hours=12))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    page = phone_page
    costs, refunded = LATE_CANCEL[language]

    page.goto(live_server.url + reverse("rentals:cancel", args=[rental.pk]))
    assert costs in page.inner_text("#cancel-cost-now")
    assert page.get_attribute("#cancel-cost-now", "data-amount") == "300.00"
    no_horizontal_scroll(page)
    shot(page, f"phone-{SHORT[language]}-cancel-page-late-fee")
    assert_no_serious_axe_violations(page, "cancel page after the free cancellation")
    page.fill("#id_reason", WORDS[language]["reason"])
    page.click("#cancel-submit")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")

    assert refunded in page.inner_text(".messages")
    rental.refresh_from_db()
    assert (rental.status, rental.cancellation_fee) == (Rental.Status.CANCELLED, Decimal("300.00"))
    assert_no_serious_axe_violations(page, "order page after a cancel with a fee")
