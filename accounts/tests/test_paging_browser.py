"""Paging and the month filter of the consumption report and my orders in a
real browser at phone width (375×812), with axe-core's WCAG 2.1 AA check.
Screenshots go to test-artifacts/screenshots/."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.accessibility import assert_no_serious_axe_violations
from customers.tests.factories import TEST_PASSWORD
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 375, "height": 812}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history(customer, vehicle):
    """45 completed, paid orders: 30 booked this month, 15 in the month before."""
    now = timezone.localtime()
    this_month = now.replace(day=1, hour=12, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    times = [this_month + timedelta(minutes=10 * i) for i in range(30)]
    times += [last_month + timedelta(hours=5 * i) for i in range(15)]
    for i, booked in enumerate(times):
        rental = RentalFactory(customer=customer, vehicle=vehicle, created_at=booked)
        Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED)
        Payment.objects.create(
            rental=rental,
            user=customer.user,
            amount=Decimal("100.00"),
            status=Payment.Status.PAID,
            transaction_type=Payment.TransactionType.CHARGE,
            payment_method=Payment.Method.WECHAT,
            transaction_id=f"PAYBR{i:08d}",
            paid_at=booked,
        )
        rental.refresh_from_db()
        rental.refresh_financials()
    return {"this_month": this_month, "last_month": last_month}


def shot(page, name: str) -> None:
    """The whole page, the first screen and, when there is one, the page links."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-screen.png"))
    nav = page.locator("nav.pagination-nav")
    if nav.count():
        nav.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / f"{name}-pages.png"))


def assert_fits_the_phone(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"


@pytest.mark.parametrize("language, locale", [("zh-hans", "zh-CN"), ("en", "en-US")])
def test_report_and_orders_page_by_page_and_by_month_on_a_phone(
    browser, live_server, history, customer, language, locale
):
    context = browser.new_context(locale=locale, viewport=PHONE, extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    page.set_default_timeout(15000)
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", customer.user.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_load_state()
    lang = "zh" if language == "zh-hans" else "en"

    page.goto(f"{base}/accounts/consumption-report/")
    assert page.locator(".report-order").count() == 20
    nav = page.locator("nav.pagination-nav")
    assert nav.get_attribute("aria-label")
    assert nav.locator("[aria-current=page]").inner_text() == "1"
    next_link = nav.locator("[data-page-link=next]")
    assert next_link.is_visible()
    box = next_link.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    paid_total = page.text_content('[data-total="paid"]')
    assert page.text_content('[data-total="order_count"]') == "45"
    assert_fits_the_phone(page)
    shot(page, f"paging-phone-{lang}-01-report-page-1")
    assert_no_serious_axe_violations(page, "consumption report, page 1")

    next_link.click()
    page.wait_for_load_state()
    assert "page=2" in page.url
    assert page.locator(".report-order").count() == 20
    assert page.locator("nav.pagination-nav [aria-current=page]").inner_text() == "2"
    assert page.text_content('[data-total="paid"]') == paid_total  # whole-history totals on every page
    page.locator("nav.pagination-nav [data-page-link=next]").click()
    page.wait_for_load_state()
    assert page.locator(".report-order").count() == 5
    assert page.locator("nav.pagination-nav [data-page-link=next]").count() == 0  # no link past the end
    assert_fits_the_phone(page)
    shot(page, f"paging-phone-{lang}-02-report-last-page")

    last_month = history["last_month"]
    page.select_option("#period-year", str(last_month.year))
    page.select_option("#period-month", str(last_month.month))
    page.click("#period-form button[type=submit]")
    page.wait_for_load_state()
    assert f"year={last_month.year}" in page.url and f"month={last_month.month}" in page.url
    assert page.get_attribute("#period-note", "data-period") == f"{last_month.year}-{last_month.month:02d}"
    assert page.locator(".report-order").count() == 15
    assert page.text_content('[data-total="order_count"]') == "15"
    assert page.text_content('[data-total="paid"]') == "¥1,500.00"
    assert page.locator("nav.pagination-nav").count() == 0  # one page: no page links
    assert page.locator("#csv-download").is_visible()
    assert_fits_the_phone(page)
    assert_no_serious_axe_violations(page, "consumption report, one month")
    shot(page, f"paging-phone-{lang}-03-report-one-month")

    page.click("#whole-history-link")
    page.wait_for_load_state()
    assert page.text_content('[data-total="order_count"]') == "45"

    page.goto(f"{base}/accounts/orders/?page=3")
    assert page.locator(".order-row").count() == 5
    assert page.locator("nav.pagination-nav [aria-current=page]").inner_text() == "3"
    page.select_option("#id_status", "COMPLETED")
    page.click("#order-filter button[type=submit]")
    page.wait_for_load_state()
    assert "status=COMPLETED" in page.url and page.locator(".order-row").count() == 20
    assert "status=COMPLETED" in page.locator("nav.pagination-nav [data-page-link=next]").get_attribute("href")
    assert_fits_the_phone(page)
    assert_no_serious_axe_violations(page, "my orders, filtered")
    shot(page, f"paging-phone-{lang}-04-orders-completed")
    context.close()
