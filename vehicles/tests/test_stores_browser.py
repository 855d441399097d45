"""The stores pages in a real browser, in Chinese at phone width (390 px): a
customer opens the menu, taps 门店, reads each store's address, hours and
phone (a tel: link), follows a store to its cars (one with a photo, one with
the placeholder) and from a car page back to its store. Nothing overflows
the screen and axe-core's WCAG 2.1 AA rules find nothing serious. Screenshots
go to test-artifacts/screenshots/ (stores-zh-hans-390-<step>.png).
"""

from datetime import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.tests.accessibility import assert_no_serious_axe_violations, require_axe
from vehicles.demo_photos import COLOURS, draw_car
from vehicles.tests.factories import LocationFactory, VehicleFactory

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stores(settings):
    settings.SERVE_MEDIA = True  # the live server serves the uploaded photo, as `make run` does
    square = LocationFactory(
        city="上海",
        name="人民广场店",
        address="黄浦区南京西路 1 号",
        opens_at=time(8),
        closes_at=time(22),
        phone="021-6350 1001",
    )
    airport = LocationFactory(
        city="上海",
        name="虹桥机场店",
        address="长宁区虹桥机场 T2 到达层",
        opens_at=time(0),
        closes_at=time(0),
        phone="021-6268 1002",
    )
    beijing = LocationFactory(city="北京", name="国贸店", address="朝阳区建国门外大街 1 号", phone="")
    pictured = VehicleFactory(location=square, brand="丰田", model="卡罗拉")
    pictured.photo.save("corolla.png", SimpleUploadedFile("corolla.png", draw_car(COLOURS[1])))
    plain = VehicleFactory(location=square, brand="本田", model="雅阁")
    VehicleFactory(location=airport, brand="别克", model="GL8", seats=7)
    return square, airport, beijing, pictured, plain


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_stores_pages_at_phone_width_in_chinese(browser, live_server, stores):
    require_axe()
    square, airport, beijing, pictured, plain = stores
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    context.add_cookies([{"name": "django_language", "value": "zh-hans", "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(15000)

    def look(step: str) -> None:
        assert no_horizontal_overflow(page), step
        page.screenshot(path=str(SCREENSHOTS / f"stores-zh-hans-390-{step}.png"), full_page=True)
        assert_no_serious_axe_violations(page, step)

    try:
        # 1. From the car list, the menu leads to the stores.
        page.goto(f"{live_server.url}/vehicles/")
        page.click(".navbar-toggler")
        page.click("#nav-stores")
        page.wait_for_url(f"{live_server.url}/stores/")
        assert page.inner_text("h1") == "门店"
        square_card = page.locator(f"#store-{square.pk}")
        assert square_card.locator('[data-store-field="address"]').inner_text() == "黄浦区南京西路 1 号"
        assert square_card.locator('[data-store-field="hours"]').inner_text() == "每天 08:00–22:00"
        phone = square_card.locator(".store-phone")
        assert phone.inner_text() == "021-6350 1001" and phone.get_attribute("href") == "tel:02163501001"
        assert "本店可订 2 辆车" in square_card.inner_text()
        assert page.locator(f"#store-{airport.pk} [data-store-field='hours']").inner_text() == "24 小时营业"
        beijing_card = page.locator(f"#store-{beijing.pk}")
        assert beijing_card.locator('[data-store-field="hours"]').inner_text() == "营业时间请致电门店"
        assert beijing_card.locator('[data-store-field="phone"]').inner_text() == "请致电客服热线：400-800-1234"
        assert "本店目前没有可预订的车辆。" in beijing_card.inner_text()
        look("01-store-list")

        # 2. One store: its facts and its cars, with a photo or the placeholder.
        square_card.locator("h3 a").click()
        page.wait_for_url(f"{live_server.url}/stores/{square.pk}/")
        assert page.inner_text("h1") == "上海 · 人民广场店"
        photo = page.locator(f'[data-vehicle-id="{pictured.pk}"] img')
        assert photo.get_attribute("alt") == "丰田 卡罗拉 的照片"
        assert photo.get_attribute("data-car-photo") == "uploaded"
        placeholder = page.locator(f'[data-vehicle-id="{plain.pk}"] img')
        assert placeholder.get_attribute("alt") == "本田 雅阁 暂无照片"
        page.wait_for_function(
            "() => [...document.querySelectorAll('img.car-photo')].every(i => i.complete && i.naturalWidth > 0)"
        )
        look("02-store-page")

        # 3. A car page names its store; the link leads back to it.
        page.locator(f'[data-vehicle-id="{pictured.pk}"] a.btn-outline-secondary').click()
        page.wait_for_url(f"{live_server.url}/vehicles/{pictured.pk}/")
        assert page.locator("img.car-photo").get_attribute("data-car-photo") == "uploaded"
        look("03-car-page")
        page.click(".store-link")
        page.wait_for_url(f"{live_server.url}/stores/{square.pk}/")
    finally:
        context.close()
