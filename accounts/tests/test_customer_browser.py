"""End to end in a real browser (Playwright + Debian's Chromium, headless):
register → book a car → pay through the sandbox → the order shows it paid →
cancel with a reason → the consumption report shows the refund; then the main
pages at phone width (390×844). Screenshots go to test-artifacts/screenshots/.
"""

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from accounts.models import Payment
from customers.models import Customer
from rentals.models import Rental

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def assert_no_horizontal_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


def local_input(dt) -> str:
    return timezone.localtime(dt, SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def test_register_book_pay_cancel_and_see_the_refund(browser, live_server, vehicle, other_location):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    base = live_server.url

    # The car page → Book → sent to log in, and on to register, keeping ?next=.
    page.goto(f"{base}/vehicles/")
    shot(page, "desktop-01-vehicles")
    page.click(f'[data-vehicle-id="{vehicle.pk}"] .book-link')
    assert "/accounts/login/?next=" in page.url
    page.click("#register-link")
    page.fill("#id_username", "liming")
    page.fill("#id_name", "李明")
    page.fill("#id_phone", "13900001111")
    page.fill("#id_password1", "Drive-safely-2026")
    page.fill("#id_password2", "Drive-safely-2026")
    shot(page, "desktop-02-register")
    page.click("#register-submit")
    page.wait_for_url(f"**/rentals/new/{vehicle.pk}/")
    customer = Customer.objects.get(user__username="liming")

    # Booking page: the live breakdown matches §4 before anything is sent.
    start = (timezone.localtime(timezone.now(), SHANGHAI) + timedelta(days=2)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    page.fill("#id_start_time", local_input(start))
    page.fill("#id_end_time", local_input(start + timedelta(days=3)))
    page.wait_for_selector('#price-breakdown[data-quote-state="ok"]')
    assert page.text_content('[data-quote="order_total"]') == "¥2,900.00"
    page.select_option("#id_return_location", str(other_location.pk))
    page.wait_for_function("document.querySelector('#price-breakdown').dataset.orderTotal === '3100.00'")
    assert page.text_content('[data-quote="cross_location_fee"]') == "¥200.00"
    page.select_option("#id_return_location", str(vehicle.location_id))
    page.wait_for_function("document.querySelector('#price-breakdown').dataset.orderTotal === '2900.00'")
    assert page.text_content('[data-quote="base_rent"]') == "¥900.00"
    assert page.text_content('[data-quote="rent_label"]') == "Rent (3 days)"
    assert page.text_content('[data-quote="deposit"]') == "¥2,000.00"
    shot(page, "desktop-03-booking")
    page.click("#book-submit")
    page.wait_for_url("**/accounts/orders/*/")
    rental = Rental.objects.get(customer=customer)
    assert rental.status == Rental.Status.PENDING and rental.order_total == Decimal("2900.00")
    assert page.get_attribute("[data-payment-badge]", "data-payment-badge") == "to_pay"

    # Pay through the sandbox provider.
    page.click("#pay-button")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/pay/")
    shot(page, "desktop-04-pay")
    page.click("#payment-form button[type=submit]")
    page.wait_for_url("**/payments/sandbox/**")
    shot(page, "desktop-05-sandbox")
    page.click('button[name="outcome"][value="succeeded"]')
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")
    assert page.get_attribute("[data-payment-badge]", "data-payment-badge") == "paid"
    assert page.text_content('[data-summary="paid_amount"]') == "¥2,900.00"
    assert page.text_content('[data-summary="remaining_amount"]') == "¥0.00"
    charge = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.CHARGE)
    assert charge.status == Payment.Status.PAID
    assert page.is_visible(f'[data-transaction-id="{charge.transaction_id}"][data-status="PAID"]')
    assert page.locator("#pay-button").count() == 0
    shot(page, "desktop-06-order-paid")

    # Cancel with a reason: the confirm page says what comes back.
    page.click("#cancel-button")
    page.wait_for_url(f"**/rentals/{rental.pk}/cancel/")
    assert page.text_content("#refund-preview").strip() == "¥2,900.00"
    page.click("#cancel-submit")  # without a reason: refused, nothing changes
    assert page.is_visible("#id_reason.is-invalid")
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING
    page.fill("#id_reason", "Flight cancelled")
    shot(page, "desktop-07-cancel")
    page.click("#cancel-submit")
    page.wait_for_url(f"**/accounts/orders/{rental.pk}/")
    assert "¥2,900.00 has been refunded" in page.text_content(".messages")
    assert page.get_attribute("[data-status]", "data-status") == "CANCELLED"
    assert page.get_attribute("[data-payment-badge]", "data-payment-badge") == "settled"
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("2900.00") and refund.status == Payment.Status.REFUNDED
    assert page.is_visible(f'[data-transaction-id="{refund.transaction_id}"]')
    shot(page, "desktop-08-order-cancelled")

    # The consumption report shows the refund, the totals and the chart.
    page.click("text=Consumption report")
    page.wait_for_url("**/accounts/consumption-report/")
    order = page.locator(f'.report-order[data-order-id="{rental.pk}"]')
    assert order.locator('[data-refund-kind="cancellation"]').text_content() == "¥2,900.00 refunded on cancellation"
    assert order.locator('[data-figure="refunded"]').text_content() == "¥2,900.00"
    assert page.text_content('[data-total="refunded"]') == "¥2,900.00"
    assert page.text_content('[data-total="spent"]') == "¥0.00"
    page.wait_for_selector('#monthly-chart[data-chart-ready="true"]')
    shot(page, "desktop-09-consumption-report")

    # Notifications: unread badge in the navbar, mark all read.
    assert int(page.get_attribute("#nav-notifications [data-unread-count]", "data-unread-count")) >= 3
    page.click("#nav-notifications")
    shot(page, "desktop-10-notifications")
    page.click("#read-all-form button")
    page.wait_for_url("**/accounts/notifications/")
    assert page.locator("[data-unread-count]").count() == 0
    context.close()


def test_main_pages_at_phone_width(browser, live_server, customer, vehicle):
    from accounts.tests.factories import NotificationFactory, PaymentFactory, RefundFactory
    from customers.tests.factories import TEST_PASSWORD
    from rentals.tests.factories import RentalFactory

    paid = RentalFactory(customer=customer, vehicle=vehicle)
    PaymentFactory(rental=paid, amount=Decimal("2900.00"))
    paid.refresh_financials()
    returned = RentalFactory(
        customer=customer,
        vehicle=vehicle,
        start_time=paid.start_time + timedelta(days=10),
        end_time=paid.end_time + timedelta(days=10),
    )
    PaymentFactory(rental=returned, amount=Decimal("2900.00"))
    Rental.objects.filter(pk=returned.pk).update(status=Rental.Status.COMPLETED)
    RefundFactory(rental=returned, amount=Decimal("2000.00"))
    returned.refresh_from_db()
    returned.refresh_financials()
    NotificationFactory(rental=paid, title="Payment of ¥2,900.00 received")

    context = browser.new_context(
        locale="en-US", viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    base = live_server.url
    page.goto(f"{base}/accounts/login/?next=/accounts/orders/")
    page.fill("#id_username", customer.user.username)
    page.fill("#id_password", TEST_PASSWORD)
    shot(page, "phone-01-login")
    page.click("#login-submit")
    page.wait_for_url("**/accounts/orders/")

    pages = [
        ("phone-02-vehicles", "/vehicles/"),
        ("phone-03-vehicle-detail", f"/vehicles/{vehicle.pk}/"),
        ("phone-04-booking", f"/rentals/new/{vehicle.pk}/"),
        ("phone-05-orders", "/accounts/orders/"),
        ("phone-06-order-detail", f"/accounts/orders/{returned.pk}/"),
        ("phone-07-cancel", f"/rentals/{paid.pk}/cancel/"),
        ("phone-08-consumption-report", "/accounts/consumption-report/"),
        ("phone-09-notifications", "/accounts/notifications/"),
        ("phone-10-review", f"/accounts/orders/{returned.pk}/review/"),
        ("phone-11-not-found", "/no-such-page/"),
    ]
    for name, path in pages:
        page.goto(f"{base}{path}")
        if name == "phone-04-booking":
            start = timezone.now() + timedelta(days=30)
            page.fill("#id_start_time", local_input(start))
            page.fill("#id_end_time", local_input(start + timedelta(days=2)))
            page.wait_for_selector('#price-breakdown[data-quote-state="ok"]')
        if name == "phone-08-consumption-report":
            page.wait_for_selector('#monthly-chart[data-chart-ready="true"]')
        assert_no_horizontal_scroll(page)
        shot(page, name)

    # The collapsed navbar opens and shows the unread badge on the bell.
    page.goto(f"{base}/accounts/orders/")
    assert page.is_visible(".navbar .d-lg-none [data-unread-count]")
    page.click(".navbar-toggler")
    page.wait_for_selector("#mainNav.show")
    assert page.is_visible("#logout-form button")
    shot(page, "phone-12-menu-open")
    context.close()


def test_screenshots_directory_is_ignored_by_git():
    gitignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
    assert "test-artifacts/" in gitignore
    assert shutil.which("git") is None or True
