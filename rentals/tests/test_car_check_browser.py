"""The driver and car check in a real browser, in Chinese and English: the
pick-up page refuses an expired licence, then hands the car over with the
check; the return page shows the hand-over's readings beside the return's,
also at phone width (390×844), with axe-core's WCAG 2.1 AA rules.
Screenshots go to test-artifacts/screenshots/."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.tests.accessibility import assert_no_serious_axe_violations, require_axe
from customers.tests.factories import TEST_PASSWORD, StaffUserFactory
from rentals.models import Rental
from rentals.tests.admin_support import fill_pickup_check, fill_return_check, pay
from rentals.tests.factories import RentalFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "zh-hans": {
        "expired": "驾驶证已于 2020-01-01 过期，不能向该驾驶人交车。",
        "check": "驾驶人与车辆查验",
        "handed_over": "已交车",
        "columns": ["交车时", "还车时"],
        "full": "满（8/8）",
        "driven": "已行驶 480 公里",
    },
    "en": {
        "expired": "The driving licence expired on 2020-01-01: the car can't be handed over to this driver.",
        "check": "Driver and car check",
        "handed_over": "car handed over",
        "columns": ["At hand-over", "At return"],
        "full": "Full (8/8)",
        "driven": "480 km driven",
    },
}


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize(("language", "locale"), [("zh-hans", "zh-CN"), ("en", "en-US")])
def test_hand_over_with_the_check_then_the_return_side_by_side(
    browser, live_server, vehicle, customer, language, locale
):
    require_axe()
    text, lang = TEXT[language], language[:2]
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=timezone.now() + timedelta(minutes=30))
    pay(rental, rental.order_total)
    StaffUserFactory(username="clerk", is_superuser=True)
    context = browser.new_context(locale=locale, extra_http_headers={"Accept-Language": language})
    page = context.new_page()
    page.set_default_timeout(15000)
    base = live_server.url
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")

    # 1. The pick-up page asks for the check; an expired licence is refused.
    page.goto(f"{base}/admin/rentals/rental/{rental.pk}/pickup/")
    page.wait_for_selector("#pickup-check")
    assert text["check"] in page.inner_text("#pickup-check")
    assert_no_serious_axe_violations(page, "pick-up page")
    fill_pickup_check(page, valid_until="2020-01-01")
    page.fill("#id_condition_notes", "Scratch on the rear bumper")
    page.click("#pickup-confirm-button")
    page.wait_for_selector(".errorlist")
    assert text["expired"] in page.inner_text("#pickup-form")
    shot(page, f"car-check-{lang}-01-pickup-expired-licence")
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING

    # 2. With a valid licence the car is handed over and the check kept.
    fill_pickup_check(page)
    page.click("#pickup-confirm-button")
    page.wait_for_selector("ul.messagelist li.success")
    assert text["handed_over"] in page.inner_text(".messagelist").lower()
    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING
    assert rental.car_checks.get(stage="pickup").mileage_km == 12000

    # 3. The return page shows the hand-over beside the return, and the preview the distance.
    page.goto(f"{base}/admin/rentals/rental/{rental.pk}/return/")
    page.wait_for_selector("#car-check")
    headers = page.locator("#car-check thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers] == [c.lower() for c in text["columns"]]
    assert page.inner_text("#check-out-mileage") == "12000"
    assert page.inner_text("#check-out-fuel") == text["full"]
    assert "Scratch on the rear bumper" in page.inner_text("#check-out-notes")
    page.fill("#id_returned_at", timezone.localtime(timezone.now() + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M"))
    fill_return_check(page, notes="Dent, front left door")
    page.click("#return-preview-button")
    page.wait_for_selector("#return-preview")
    assert page.inner_text("#check-driven") == text["driven"]
    assert page.input_value("#id_mileage_km") == "12480"
    assert_no_serious_axe_violations(page, "return page with preview")
    shot(page, f"car-check-{lang}-02-return-side-by-side")

    # 4. At phone width the table stays on screen.
    page.set_viewport_size({"width": 390, "height": 844})
    box = page.locator("#car-check table").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    shot(page, f"car-check-{lang}-03-phone-return")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#return-confirm-button")
    page.wait_for_selector("ul.messagelist li.success")
    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    back = rental.car_checks.get(stage="return")
    assert (back.mileage_km, back.fuel_eighths, back.condition_notes) == (12480, 6, "Dent, front left door")
    assert rental.money_figures().refund_due == Decimal("0.00")
    context.close()
