"""The hand-over and return pages in Chinese, in a real browser: a car that
came back to another store is handed over there (the page shows the new pick-up
store and one-way fee first), an early hand-over is refused with the advice to
rebook, and the return preview refuses a time before the hand-over.
Screenshots go to test-artifacts/screenshots/."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from customers.tests.factories import TEST_PASSWORD, CustomerFactory, StaffUserFactory
from rentals.models import Rental
from rentals.services import create_rental
from rentals.tests.admin_support import fill_pickup_check, fill_return_check
from rentals.tests.factories import RentalFactory
from vehicles.models import Vehicle

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-hans"})
    page = context.new_page()
    page.set_default_timeout(15000)
    StaffUserFactory(username="clerk", is_superuser=True)
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#content-main")
    yield page
    context.close()


def test_hand_over_at_the_store_where_the_car_stands_in_chinese(page, live_server, vehicle, other_location):
    # booked at the car's store; the car has since been returned to another store
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=30)
    rental = create_rental(
        customer=CustomerFactory(),
        vehicle=vehicle,
        start_time=start,
        end_time=start + timedelta(days=3),
        pickup_location=vehicle.location,
        return_location=vehicle.location,
    )
    Vehicle.objects.filter(pk=vehicle.pk).update(location=other_location)

    page.goto(f"{live_server.url}/admin/rentals/rental/{rental.pk}/pickup/")
    page.wait_for_selector("#pickup-store-change")
    text = page.inner_text("#pickup-store-change")
    assert f"车辆停在{other_location}，不在预订的取车门店{vehicle.location}" in text
    assert page.get_attribute("#pickup-new-fee", "data-amount") == "200.00"
    assert page.input_value("#id_location") == str(other_location.pk)
    shot(page, "handover-pickup-store-changed-zh")

    fill_pickup_check(page)
    page.click("#pickup-confirm-button")
    page.wait_for_selector(".messagelist")
    assert f"已在{other_location}交车" in page.inner_text(".messagelist")
    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING and rental.pickup_location == other_location
    assert rental.cross_location_fee == Decimal("200.00")


def test_early_hand_over_refused_and_return_preview_refuses_a_time_before_pick_up(page, live_server, vehicle, customer):
    early = RentalFactory(vehicle=vehicle, customer=customer, start_time=timezone.now() + timedelta(days=2))
    page.goto(f"{live_server.url}/admin/rentals/rental/{early.pk}/pickup/")
    page.wait_for_selector("#pickup-refusal")
    assert "请按客户需要用车的时间重新预订" in page.inner_text("#pickup-refusal")
    assert page.locator("#pickup-confirm-button").count() == 0
    shot(page, "handover-pickup-too-early-zh")

    start = timezone.now() - timedelta(hours=5)
    out = RentalFactory(
        vehicle=Vehicle.objects.create(
            plate_number="沪B12345",
            brand="Honda",
            model="Accord",
            year=2024,
            seats=5,
            daily_rate=Decimal("300.00"),
            deposit_amount=Decimal("2000.00"),
            location=vehicle.location,
            status=Vehicle.Status.RENTED,
        ),
        customer=customer,
        start_time=start,
        end_time=start + timedelta(days=3),
        status=Rental.Status.ONGOING,
        picked_up_at=start,
    )
    page.goto(f"{live_server.url}/admin/rentals/rental/{out.pk}/return/")
    page.wait_for_selector("#return-form")
    assert page.input_value("#id_location") == str(out.return_location_id)
    shot(page, "handover-return-form-defaults-zh")
    before = timezone.localtime(start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#id_returned_at", before)
    fill_return_check(page)
    page.click("#return-preview-button")
    page.wait_for_selector(".errorlist")
    assert "还车时间不能早于取车时间" in page.inner_text("#return-form")
    assert page.locator("#return-preview").count() == 0
    shot(page, "handover-return-preview-refused-zh")
