"""A counter clerk's day in a real browser (Playwright + Debian's Chromium), in
Chinese and in English: log in on the site's login page and land in the admin,
open the "today at the counter" board, a rental's change page with its events,
the return page with its preview, and be refused the finance dashboard in the
admin's look; the board and the return page also at phone width (390×844).
Screenshots go to test-artifacts/screenshots/staff-*.png."""

import importlib
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from customers.tests.factories import TEST_PASSWORD, CustomerFactory, WalkInCustomerFactory
from rentals.models import Rental
from rentals.services import pickup_rental
from rentals.tests.admin_support import fill_return_check, ongoing_rental, pay, staff_in_group
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
SHANGHAI = ZoneInfo("Asia/Shanghai")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

TEXTS = {
    "zh-hans": {
        "board": "今日柜台",
        "pickups": "今日取车",
        "returns": "今日还车",
        "overdue": "逾期未还车辆",
        "manual": "等待人工退款",
        "handed_over": "已交车",
        "done_by": "操作人",
        "paid_open": "已付清，订单未结束",
        "days": "(2 天)",
        "preview": "预览（尚未保存）",
        "denied": "您的员工账号没有打开此页面的权限。",
        "header": "租车平台管理后台",
    },
    "en": {
        "board": "Today at the counter",
        "pickups": "Pick-ups today",
        "returns": "Returns today",
        "overdue": "Overdue cars",
        "manual": "Waiting for a manual refund",
        "handed_over": "Car handed over",
        "done_by": "Done by",
        "paid_open": "Paid, order open",
        "days": "(2 days)",
        "preview": "Preview (nothing saved yet)",
        "denied": "Your staff account doesn't have permission to open this page.",
        "header": "Car rental administration",
    },
}


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def later_today(minutes: int) -> datetime:
    """``minutes`` from now, but still today in Shanghai (the board's day)."""
    now = timezone.now()
    midnight = datetime.combine(timezone.localtime(now, SHANGHAI).date() + timedelta(days=1), time.min, tzinfo=SHANGHAI)
    return min(now + timedelta(minutes=minutes), midnight - timedelta(minutes=1))


def ensure_counter_group() -> None:
    """The "counter" group as its migration defines it (a transactional test
    flushes the tables, groups included, after each test)."""
    groups = importlib.import_module("accounts.migrations.0002_staff_groups").GROUPS
    group, _ = Group.objects.get_or_create(name="counter")
    for name in groups["counter"]:
        app_label, codename = name.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


@pytest.fixture
def counter_day(location):
    """One order for each list of the board, at one store."""
    ensure_counter_group()
    clerk = staff_in_group("counter", username="desk")
    pickup = RentalFactory(
        vehicle=VehicleFactory(location=location), customer=CustomerFactory(name="周一"), start_time=later_today(90)
    )
    pay(pickup, pickup.order_total)
    due_back = later_today(120)
    returning = ongoing_rental(
        vehicle=VehicleFactory(location=location),
        customer=CustomerFactory(name="吴二"),
        start=due_back - timedelta(days=2),
        days=2,
    )
    returning.events.create(
        event="created", to_status=Rental.Status.PENDING, created_at=returning.start_time - timedelta(days=1)
    )
    Rental.objects.filter(pk=returning.pk).update(status=Rental.Status.PENDING)
    returning.refresh_from_db()
    pickup_rental(rental=returning, by_user=clerk)  # the hand-over event, by the clerk
    returning.refresh_from_db()
    overdue = ongoing_rental(
        vehicle=VehicleFactory(location=location),
        customer=CustomerFactory(name="郑三"),
        start=timezone.now() - timedelta(days=4),
        days=2,
    )
    Rental.objects.filter(pk=overdue.pk).update(status=Rental.Status.OVERDUE)
    walk_in = RentalFactory(
        vehicle=VehicleFactory(location=location),
        customer=WalkInCustomerFactory(name="王四"),
        start_time=timezone.now() + timedelta(days=3),
        status=Rental.Status.CANCELLED,
        requires_manual_refund=True,
    )
    pay(walk_in, Decimal("500.00"), user=None)
    return {"pickup": pickup, "return": returning, "overdue": overdue, "manual": walk_in}


@pytest.mark.parametrize("language, locale", [("zh-hans", "zh-CN"), ("en", "en-US")])
def test_a_counter_clerks_day_in_the_admin(browser, live_server, counter_day, language, locale):
    text = TEXTS[language]
    lang = "zh" if language == "zh-hans" else "en"
    base = live_server.url
    context = browser.new_context(
        locale=locale, viewport={"width": 1280, "height": 900}, extra_http_headers={"Accept-Language": locale}
    )
    page = context.new_page()
    page.set_default_timeout(15000)

    # 1. The site's login page sends counter staff to the admin, not to a 403.
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "desk")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{base}/admin/")
    assert page.locator("#counter-board-link").inner_text().strip().endswith(text["board"])
    assert text["header"] in page.inner_text("#header")
    shot(page, f"staff-{lang}-01-login-lands-on-admin")

    # 2. The board, one click from the admin home.
    page.click("#counter-board-link a")
    page.wait_for_selector("#board-pickups")
    for key, rental in counter_day.items():
        section = {"pickup": "pickups", "return": "returns", "overdue": "overdue", "manual": "manual-refunds"}[key]
        assert page.locator(f'#board-{section} tr[data-rental="{rental.pk}"]').count() == 1
    assert text["pickups"] in page.inner_text("#board-pickups-title")
    assert text["returns"] in page.inner_text("#board-returns-title")
    assert text["overdue"] in page.inner_text("#board-overdue-title")
    assert text["manual"] in page.inner_text("#board-manual-refunds-title")
    shot(page, f"staff-{lang}-02-today-board")

    # 3. The returning rental's change page: events read as labels, actor as "done by".
    returning = counter_day["return"]
    page.click(f'#board-returns tr[data-rental="{returning.pk}"] td:first-child a')
    page.wait_for_selector(".field-event_display")
    events = page.locator("td.field-event_display").all_inner_texts()
    assert text["handed_over"] in [e.strip() for e in events]
    assert text["done_by"].upper() in page.inner_text("body").upper()
    assert "desk" in page.locator("td.field-actor_display").all_inner_texts()[-1]
    shot(page, f"staff-{lang}-03-rental-change-page-events")

    # 4. Back to the board, then the return page with its preview.
    page.go_back()
    page.click(f'#board-returns tr[data-rental="{returning.pk}"] a.board-action')
    page.wait_for_selector("#return-form")
    assert page.inner_text("#rental-summary").count(text["days"]) == 1
    fill_return_check(page)
    page.click("#return-preview-button")
    page.wait_for_selector("#return-preview")
    assert text["preview"] in page.inner_text("#return-preview")
    assert page.get_attribute("#return-preview-button", "class") == page.get_attribute(
        "#return-confirm-button", "class"
    )
    shot(page, f"staff-{lang}-04-return-preview")

    # 5. The paid pick-up reads "paid, order open" in the rental list.
    page.goto(f"{base}/admin/rentals/rental/")
    pickup = counter_day["pickup"]
    row = page.locator(f'tr:has(a[href="/admin/rentals/rental/{pickup.pk}/change/"])')
    assert row.locator("td.field-settlement_display").inner_text().strip() == text["paid_open"]
    shot(page, f"staff-{lang}-05-rental-list")

    # 6. The finance dashboard is refused, in the admin's look.
    response = page.goto(f"{base}/admin/accounts/payment/dashboard/")
    assert response.status == 403
    assert text["denied"] in page.inner_text("#permission-denied-note")
    assert text["header"] in page.inner_text("#header")
    assert page.locator("#user-tools").count() == 1
    shot(page, f"staff-{lang}-06-finance-dashboard-refused")

    # 7. Phone width: the board and the return page stay usable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/admin/rentals/rental/today/")
    page.wait_for_selector("#board-pickups")
    action = page.locator("#board-pickups a.board-action").first
    assert action.is_visible()
    box = action.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # on screen, no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, f"staff-{lang}-07-phone-today-board")
    page.goto(f"{base}/admin/rentals/rental/{returning.pk}/return/")
    fill_return_check(page)
    page.click("#return-preview-button")
    page.wait_for_selector("#return-preview")
    shot(page, f"staff-{lang}-08-phone-return-preview")
    context.close()
