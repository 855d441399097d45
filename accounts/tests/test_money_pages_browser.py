"""The pages that say what a customer owes, has spent and must do by when, in a
real browser (Playwright + Debian's Chromium), in Chinese and English, on a
desktop and at phone width (390×844); plus the staff cancel preview.
Screenshots go to test-artifacts/screenshots/."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.services import record_manual_refund
from accounts.tests.factories import PaymentFactory
from customers.tests.factories import TEST_PASSWORD
from rentals.models import Rental
from rentals.services import cancel_rental, lapse_unpaid_bookings, process_return
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LANGUAGES = [("zh-hans", "zh-CN"), ("en", "en-US")]
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
TEXTS = {
    "zh-hans": {
        "overdue": "已逾期：截至目前 ¥900.00",
        "so_far": "截至目前从押金扣除",
        "spent": "实际消费",
        "reserved": "为您保留至",
        "lapsed": "此预订因未按时支付已取消",
        "goodwill": "补偿退款 ¥50.00",
        "back": "经支付宝退还给",
        "fee_note": "取消费 ¥199.00（原因：未到店）",
        "notice": "订单 #%s 已取消",
    },
    "en": {
        "overdue": "Overdue: ¥900.00 so far",
        "so_far": "Taken from the deposit so far",
        "spent": "Spent",
        "reserved": "Reserved for you until",
        "lapsed": "cancelled because it was not paid in time",
        "goodwill": "¥50.00 goodwill refund",
        "back": "Back through Alipay to",
        "fee_note": "Cancellation fee ¥199.00 (reason: 未到店)",
        "notice": "Order #%s cancelled",
    },
}


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_no_horizontal_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


@pytest.fixture
def orders(location, customer, staff_user):
    def car(rate="300.00"):
        return VehicleFactory(location=location, daily_rate=Decimal(rate), deposit_amount=Decimal("2000.00"))

    now = timezone.now()
    # overdue by 26 h after three days, paid 2,900: 900 so far
    start = now - timedelta(days=3, hours=26)
    overdue = RentalFactory(customer=customer, vehicle=car(), start_time=start, end_time=start + timedelta(days=3))
    PaymentFactory(rental=overdue, amount=Decimal("2900.00"), paid_at=start - timedelta(hours=1))
    Rental.objects.filter(pk=overdue.pk).update(status=Rental.Status.OVERDUE, picked_up_at=start)
    overdue.refresh_from_db()
    overdue.refresh_financials()

    unpaid = RentalFactory(customer=customer, vehicle=car("199.00"), start_time=now + timedelta(days=2))

    lapsed = RentalFactory(customer=customer, vehicle=car(), start_time=now + timedelta(days=3))
    Rental.objects.filter(pk=lapsed.pk).update(created_at=now - timedelta(hours=2))
    lapse_unpaid_bookings(rental_ids=[lapsed.pk])

    start = now - timedelta(days=3, hours=1)
    returned = RentalFactory(customer=customer, vehicle=car(), start_time=start, end_time=start + timedelta(days=3))
    PaymentFactory(rental=returned, amount=Decimal("2900.00"), paid_at=start - timedelta(hours=1))
    Rental.objects.filter(pk=returned.pk).update(status=Rental.Status.ONGOING, picked_up_at=start)
    returned.refresh_from_db()
    process_return(rental=returned, returned_at=now, location=location, by_user=staff_user)
    record_manual_refund(rental=returned, amount=Decimal("50.00"), reason="Dirty seats", by_user=staff_user)

    # a no-show (started two hours ago, never picked up): staff keep the no-show fee, a day's rent (SPEC §19)
    with_fee = RentalFactory(customer=customer, vehicle=car("199.00"), start_time=now - timedelta(hours=2))
    PaymentFactory(rental=with_fee, amount=Decimal("2597.00"))
    with_fee.refresh_financials()
    cancel_rental(rental=with_fee, reason="未到店", cancellation_fee=Decimal("199.00"), by_user=staff_user)

    # starts in 12 hours: past the free window, the policy's fee is ¥199
    to_cancel = RentalFactory(customer=customer, vehicle=car("199.00"), start_time=now + timedelta(hours=12))
    PaymentFactory(rental=to_cancel, amount=Decimal("2597.00"))
    to_cancel.refresh_financials()
    return {
        "overdue": overdue,
        "unpaid": unpaid,
        "lapsed": lapsed,
        "returned": returned,
        "with_fee": with_fee,
        "to_cancel": to_cancel,
    }


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()


@pytest.mark.parametrize("language, locale", LANGUAGES)
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_customer_money_pages(browser, live_server, orders, customer, language, locale, device):
    text = TEXTS[language]
    lang = "zh" if language == "zh-hans" else "en"
    context = browser.new_context(
        locale=locale, viewport=VIEWPORTS[device], extra_http_headers={"Accept-Language": locale}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    base = live_server.url
    log_in(page, base, customer.user.username)

    def visit(path, name):
        page.goto(f"{base}{path}")
        if device == "phone":
            assert_no_horizontal_scroll(page)
        shot(page, f"money-{device}-{lang}-{name}")
        return page.inner_text("main") if page.locator("main").count() else page.inner_text("body")

    body = visit(f"/accounts/orders/{orders['overdue'].pk}/", "01-overdue-order")
    assert text["overdue"] in body and text["so_far"] in body
    assert page.text_content('[data-summary="overdue_from_deposit"]') == "¥900.00"

    visit(f"/accounts/orders/{orders['unpaid'].pk}/", "02-unpaid-order")
    assert text["reserved"] in page.inner_text("#payment-deadline")
    clock = page.locator("[data-countdown-seconds]")
    first = clock.text_content()
    # the script keeps the server-rendered clock ticking
    page.wait_for_function(
        "([el, first]) => el.textContent !== first", arg=[clock.element_handle(), first], timeout=5000
    )

    visit(f"/accounts/orders/{orders['unpaid'].pk}/pay/", "03-pay-page")
    assert page.is_visible("#payment-deadline [data-countdown-seconds]")

    body = visit(f"/accounts/orders/{orders['lapsed'].pk}/", "04-lapsed-order")
    assert text["lapsed"] in body

    body = visit(f"/accounts/orders/{orders['with_fee'].pk}/", "05-cancelled-with-fee")
    assert text["fee_note"] in body

    visit("/accounts/orders/", "06-my-orders")
    assert page.is_visible(".payment-deadline-line")

    body = visit("/accounts/notifications/", "06b-notifications")
    assert text["notice"] % orders["with_fee"].pk in body

    body = visit("/accounts/consumption-report/", "07-consumption-report")
    assert text["spent"] in body and text["goodwill"] in body
    # the unpaid booking's 2,597 and the overdue order's 900 so far
    assert page.text_content('[data-total="remaining"]') == "¥3,497.00"
    assert "¥900.00" in page.text_content('[data-total="overdue_so_far"]')
    context.close()


@pytest.mark.parametrize("language, locale", LANGUAGES)
@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_staff_cancel_preview_and_owed_so_far(browser, live_server, orders, staff_user, language, locale, device):
    text = TEXTS[language]
    lang = "zh" if language == "zh-hans" else "en"
    context = browser.new_context(
        locale=locale, viewport=VIEWPORTS[device], extra_http_headers={"Accept-Language": locale}
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    base = live_server.url
    log_in(page, base, staff_user.username)

    page.goto(f"{base}/admin/rentals/rental/")
    assert page.locator(".owed-so-far").first.text_content() == "¥900.00"
    shot(page, f"money-{device}-{lang}-08-admin-rentals")
    page.locator(".owed-so-far").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"money-{device}-{lang}-08b-admin-still-owed.png"))

    rental = orders["to_cancel"]
    page.goto(f"{base}/admin/rentals/rental/{rental.pk}/cancel/")
    assert page.locator("#cancel-confirm-button").count() == 0
    page.fill("#id_reason", "No-show")
    assert page.input_value("#id_cancellation_fee") == "199.00"  # the policy's fee
    page.fill("#id_cancellation_fee", "150")
    page.click("#cancel-preview-button")
    page.wait_for_selector("#cancel-preview")
    assert page.text_content("#preview-refund") == "¥2,447.00"
    assert text["back"] in page.inner_text("#cancel-preview")
    shot(page, f"money-{device}-{lang}-09-admin-cancel-preview")
    page.click("#cancel-confirm-button")
    page.wait_for_url(f"**/admin/rentals/rental/{rental.pk}/change/")
    shot(page, f"money-{device}-{lang}-10-admin-cancelled")
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED and rental.cancellation_fee == Decimal("150.00")
    context.close()
