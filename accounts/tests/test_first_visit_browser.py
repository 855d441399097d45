"""A first-time customer's fixed paths in a real browser, in Chinese and in
English, at phone and desktop width: the car list with ratings, a bad filter,
the car page with its reviews, registering with a bad ID card number, a
booking quote for taken dates and its next free period, and the order page
after a failed payment. Screenshots go to test-artifacts/screenshots/
(first-visit-<lang>-<width>-<step>.png); the same pages are then checked
against axe-core's WCAG 2.1 AA rules.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.accessibility import assert_no_serious_axe_violations, require_axe
from accounts.tests.factories import ReviewFactory
from customers.models import Customer
from customers.tests.factories import TEST_PASSWORD, CustomerFactory, UserFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

# What each page must say, per language.
TEXT = {
    "zh-hans": {
        "reviews": "用户评价",
        "count": "(3 条评价)",
        "no_reviews": "暂无评价",
        "filter_note": "有错误的筛选条件未被使用。",
        "number_error": "输入一个数字。",
        "id_error": "最后一位校验码不符",
        "mobile_error": "请输入以 13 至 19 开头的 11 位中国大陆手机号",
        "taken": "该车在 {start} 至 {end} 已被预订。",
        "next_free": "最近可订的同样时长时段：{start} 至 {end}。",
        "failure": "您上一次支付未成功",
        "rules": "你的密码必须包含至少 8 个字符。",
    },
    "en": {
        "reviews": "Reviews",
        "count": "(3 reviews)",
        "no_reviews": "No reviews yet",
        "filter_note": "Filters with an error are not applied.",
        "number_error": "Enter a number.",
        "id_error": "its last character does not match",
        "mobile_error": "Please enter an 11-digit mainland mobile number",
        "taken": "This car is already booked from {start} to {end}.",
        "next_free": "Next free period of the same length: {start} to {end}.",
        "failure": "Your last payment did not go through",
        "rules": "Your password must contain at least 8 characters.",
    },
}


@dataclass
class Scene:
    customer: Customer
    rated: object  # the car with reviews and a booking
    unrated: object
    order: Rental


@pytest.fixture
def scene(location):
    rated = VehicleFactory(location=location, brand="丰田", model="卡罗拉", daily_rate=Decimal("300.00"))
    unrated = VehicleFactory(location=location, brand="本田", model="思域", daily_rate=Decimal("250.00"))
    long_ago = timezone.now() - timedelta(days=60)
    for days, (rating, name, comment) in enumerate(
        [(5, "张三", "车很干净，取车很快。"), (4, "Li Lei", "Smooth drive, friendly staff."), (4, "王五", "")]
    ):
        past = RentalFactory(
            vehicle=rated,
            customer=CustomerFactory(name=name),
            start_time=long_ago - timedelta(days=10 * days),
            end_time=long_ago - timedelta(days=10 * days - 2),
            status=Rental.Status.COMPLETED,
        )
        ReviewFactory(rental=past, rating=rating, comment=comment, created_at=past.end_time + timedelta(days=1))
    customer = CustomerFactory(user=UserFactory(username="firstvisit"), name="韩梅梅")
    start = timezone.localtime(timezone.now(), SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    order = RentalFactory(
        customer=customer, vehicle=rated, start_time=start + timedelta(days=5), end_time=start + timedelta(days=8)
    )
    return Scene(customer=customer, rated=rated, unrated=unrated, order=order)


def local_input(dt) -> str:
    return timezone.localtime(dt, SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def local_text(dt) -> str:
    return timezone.localtime(dt, SHANGHAI).strftime("%Y-%m-%d %H:%M")


def open_page(browser, live_server, lang: str, viewport: dict):
    context = browser.new_context(
        locale="zh-CN" if lang == "zh-hans" else "en-US",
        viewport=viewport,
        is_mobile=viewport is PHONE,
        has_touch=viewport is PHONE,
    )
    context.add_cookies([{"name": "django_language", "value": lang, "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)
    return context, page


def walk(page, base: str, lang: str, scene: Scene, visit) -> None:
    """The fixed paths; ``visit(step)`` runs once each page is in the state to look at."""
    text = TEXT[lang]

    # 1. Car list: each car's rating, or that it has none.
    page.goto(f"{base}/vehicles/")
    rated = page.locator(f'[data-vehicle-id="{scene.rated.pk}"] .vehicle-rating')
    assert rated.locator("[data-rating-average]").inner_text() == "4.3"
    assert text["count"] in rated.inner_text()
    assert page.locator(f'[data-vehicle-id="{scene.unrated.pk}"] .vehicle-rating').inner_text() == text["no_reviews"]
    visit("01-car-list")

    # 2. A bad filter: its error, and the list is not emptied by it.
    page.goto(f"{base}/vehicles/?min_price=abc")
    assert page.inner_text("#filter-errors-note") == text["filter_note"]
    assert text["number_error"] in page.inner_text("#vehicle-filter")
    assert page.locator(".vehicle-card").count() == 2 and page.locator("#no-vehicles").count() == 0
    visit("02-bad-filter")

    # 3. Car page: average, count and the reviews with masked names.
    page.goto(f"{base}/vehicles/{scene.rated.pk}/")
    assert page.inner_text("#reviews-heading") == text["reviews"]
    assert page.inner_text("#rating-summary [data-rating-average]") == "4.3"
    assert [name.inner_text() for name in page.locator(".review-author").all()] == ["张*", "L**", "王*"]
    assert "车很干净，取车很快。" in page.inner_text("#review-list")
    assert "张三" not in page.content()
    visit("03-car-page-reviews")

    # 4. Register with an ID number whose check character is wrong and a bad mobile.
    page.goto(f"{base}/accounts/register/")
    page.fill("#id_username", f"newcomer-{lang}")
    page.fill("#id_name", "王小明")
    page.fill("#id_phone", "12345678901")
    page.fill("#id_id_card_number", "110105194912310021")
    page.fill("#id_password1", "123")
    page.fill("#id_password2", "123")
    page.click("#register-submit")
    page.wait_for_selector("#id_id_card_number_error")
    assert text["id_error"] in page.inner_text("#id_id_card_number_error")
    assert text["mobile_error"] in page.inner_text("#id_phone_error")
    assert text["rules"] not in page.content()  # the failed rules are listed once, as errors
    visit("04-register-bad-id")

    # 5. Booking: dates inside the customer's own booking are taken; the next
    #    free period of the same length is offered and can be applied.
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "firstvisit")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    order = scene.order
    wanted_start = order.start_time + timedelta(days=1)
    page.goto(
        f"{base}/rentals/new/{scene.rated.pk}/?start_time={local_input(wanted_start)}"
        f"&end_time={local_input(wanted_start + timedelta(days=2))}"
    )
    page.wait_for_selector('#price-breakdown[data-quote-state="taken"]')
    free_from, free_until = order.end_time, order.end_time + timedelta(days=2)
    assert page.inner_text("[data-quote-taken-message]") == text["taken"].format(
        start=local_text(order.start_time), end=local_text(order.end_time)
    )
    assert page.inner_text("[data-quote-next-free]") == text["next_free"].format(
        start=local_text(free_from), end=local_text(free_until)
    )
    assert page.inner_text('[data-quote="order_total"]') == "–"
    assert page.is_disabled("#book-submit")
    visit("05-booking-taken-quote")
    page.click("#quote-apply-next-free")
    page.wait_for_selector('#price-breakdown[data-quote-state="ok"]')
    assert page.input_value("#id_start_time") == local_input(free_from)
    assert page.input_value("#id_end_time") == local_input(free_until)
    assert page.inner_text('[data-quote="order_total"]') == "¥2,600.00"  # 2 days × 300 + 2,000 deposit
    assert page.is_hidden("#quote-taken") and page.is_enabled("#book-submit")
    visit("06-booking-next-free-applied")

    # 6. Pay the order, the bank declines: the order page says so once.
    page.goto(f"{base}/accounts/orders/{order.pk}/")
    page.click("#pay-button")
    page.check("input[name=payment_method][value=ALIPAY]")
    page.click("#pay-submit")
    page.wait_for_selector("#sandbox-form")
    page.fill("#id_failure_reason", "Insufficient balance")
    page.click("button[name=outcome][value=failed]")
    page.wait_for_url(f"**/accounts/orders/{order.pk}/")
    assert "Insufficient balance" not in page.content()  # the provider's words are for staff
    assert text["failure"] in page.inner_text("#payment-failure")
    assert page.locator(".messages .alert").count() == 0
    assert page.content().count(text["failure"]) == 1
    visit("07-order-failed-payment")


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
@pytest.mark.parametrize(("width", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
def test_first_visit_paths(browser, live_server, scene, lang, width, viewport):
    context, page = open_page(browser, live_server, lang, viewport)

    def visit(step: str) -> None:
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{step} is {overflow}px wider than the screen"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"first-visit-{lang}-{width}-{step}.png"), full_page=True)

    walk(page, live_server.url, lang, scene, visit)
    assert Payment.objects.get(rental=scene.order).status == Payment.Status.FAILED
    context.close()


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
def test_first_visit_pages_pass_axe_wcag_21_aa(browser, live_server, scene, lang):
    require_axe()
    context, page = open_page(browser, live_server, lang, PHONE)
    walk(page, live_server.url, lang, scene, lambda step: assert_no_serious_axe_violations(page, step))
    context.close()


def test_every_page_has_an_icon(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/vehicles/")
    icon = page.get_attribute('link[rel="icon"]', "href")
    assert page.request.get(f"{live_server.url}{icon}").status == 200
    answer = page.request.get(f"{live_server.url}/favicon.ico")  # follows the permanent redirect
    assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml")
    context.close()
