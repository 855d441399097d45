"""The stores page (address, opening hours, phone, the cars standing there),
the links to it from the car and order pages, and car photos: the placeholder
when a car has none, and the admin's upload check."""

import re
from datetime import time
from io import BytesIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from customers.tests.factories import CustomerFactory
from rentals.tests.factories import RentalFactory
from vehicles.models import PHOTO_MAX_BYTES, Location, Vehicle
from vehicles.tests.factories import LocationFactory, VehicleFactory

pytestmark = pytest.mark.django_db

WORDS = {
    "zh-hans": {
        "title": '<h1 class="h3 mb-1">门店</h1>',
        "daily": "每天 08:00–22:00",
        "always": "24 小时营业",
        "unknown": "营业时间请致电门店",
        "hotline": "请致电客服热线：",
        "count": "本店可订 2 辆车",
        "none": "本店目前没有可预订的车辆。",
        "nav": ">门店</a>",
        "placeholder": 'alt="丰田 卡罗拉 暂无照片"',
        "photo": 'alt="丰田 卡罗拉 的照片"',
    },
    "en": {
        "title": '<h1 class="h3 mb-1">Stores</h1>',
        "daily": "Daily 08:00–22:00",
        "always": "Open 24 hours",
        "unknown": "Call the store for its hours",
        "hotline": "Call customer service: ",
        "count": "2 cars to book here",
        "none": "No car to book at this store right now.",
        "nav": ">Stores</a>",
        "placeholder": 'alt="No photo of the 丰田 卡罗拉 yet"',
        "photo": 'alt="Photo of the 丰田 卡罗拉"',
    },
}


@pytest.fixture
def stores():
    square = LocationFactory(
        city="上海",
        name="人民广场店",
        address="黄浦区南京西路 1 号",
        opens_at=time(8),
        closes_at=time(22),
        phone="021-6350 1001",
    )
    airport = LocationFactory(
        city="上海", name="虹桥机场店", address="长宁区虹桥机场 T2", opens_at=time(0), closes_at=time(0), phone=""
    )
    beijing = LocationFactory(city="北京", name="国贸店", address="朝阳区建国门外大街 1 号", phone="+86 10 6505 1004")
    return square, airport, beijing


def store_block(body: str, store: Location) -> str:
    """The HTML of one store's card on the list page."""
    start = body.index(f'id="store-{store.pk}"')
    end = body.find("<article", start + 1)
    return body[start : end if end != -1 else len(body)]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_store_list_shows_address_hours_phone_and_the_cars_to_book(client, stores, language):
    # given
    square, airport, beijing = stores
    corolla = VehicleFactory(location=square, brand="丰田", model="卡罗拉")
    rented = VehicleFactory(location=square, brand="本田", model="雅阁", status=Vehicle.Status.RENTED)
    broken = VehicleFactory(location=square, brand="大众", model="帕萨特", status=Vehicle.Status.MAINTENANCE)
    words = WORDS[language]

    # when
    response = client.get(reverse("vehicles:stores"), HTTP_ACCEPT_LANGUAGE=language)

    # then
    body = response.content.decode()
    assert response.status_code == 200
    assert words["title"] in body
    assert body.index("上海") < body.index("北京")  # grouped by city
    square_card, airport_card, beijing_card = (store_block(body, s) for s in (square, airport, beijing))
    assert "黄浦区南京西路 1 号" in square_card
    assert words["daily"] in square_card
    assert '<a class="store-phone" href="tel:02163501001">021-6350 1001</a>' in square_card
    assert words["count"] in square_card
    assert f'href="/vehicles/{corolla.pk}/"' in square_card and f'href="/vehicles/{rented.pk}/"' in square_card
    assert f"/vehicles/{broken.pk}/" not in body  # not bookable: not listed
    assert words["always"] in airport_card
    assert words["hotline"] in airport_card and 'href="tel:4008001234"' in airport_card  # no number of its own
    assert words["none"] in airport_card
    assert words["unknown"] in beijing_card
    assert 'href="tel:+861065051004"' in beijing_card
    assert f'href="{square.get_absolute_url()}"' in square_card


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_store_page_shows_one_store_with_its_cars_and_photos(client, stores, language):
    square = stores[0]
    VehicleFactory(location=square, brand="丰田", model="卡罗拉")
    elsewhere = VehicleFactory(location=stores[2])

    response = client.get(square.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language)

    body = response.content.decode()
    assert response.status_code == 200
    assert "上海 · 人民广场店" in body and "黄浦区南京西路 1 号" in body
    assert WORDS[language]["daily"] in body and 'href="tel:02163501001"' in body
    assert WORDS[language]["placeholder"] in body
    assert f"/vehicles/{elsewhere.pk}/" not in body
    assert client.get(reverse("vehicles:store", args=[square.pk + 1000])).status_code == 404


def test_navbar_and_footer_link_to_the_stores(client, vehicle):
    body = client.get(reverse("vehicles:list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert '<a class="nav-link" href="/stores/" id="nav-stores">门店</a>' in body
    assert re.search(
        r'<a class="text-body-secondary" href="/stores/" id="footer-stores">门店地址、营业时间和电话</a>', body
    )
    stores_page = client.get(reverse("vehicles:stores"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<a class="nav-link active" href="/stores/" id="nav-stores">' in stores_page


def test_car_list_and_car_page_link_to_the_cars_store(client, stores):
    square = stores[0]
    car = VehicleFactory(location=square)
    link = f'<a class="text-body-secondary store-link" href="/stores/{square.pk}/">上海 · 人民广场店</a>'

    listing = client.get(reverse("vehicles:list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    page = client.get(car.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert link in listing
    assert f'<a class="store-link" href="/stores/{square.pk}/">上海 · 人民广场店</a>' in page
    assert "每天 08:00–22:00" in page


def test_order_page_links_the_pick_up_and_return_stores(client, stores):
    square, airport, _ = stores
    customer = CustomerFactory()
    rental = RentalFactory(
        customer=customer,
        vehicle=VehicleFactory(location=square),
        pickup_location=square,
        return_location=airport,
    )
    client.force_login(customer.user)

    body = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert f'<a class="store-link" href="/stores/{square.pk}/" data-store="pickup">上海 · 人民广场店</a>' in body
    assert f'<a class="store-link" href="/stores/{airport.pk}/" data-store="return">上海 · 虹桥机场店</a>' in body


# --- opening hours and phone ------------------------------------------------------


def test_opening_and_closing_times_come_together():
    store = LocationFactory.build(opens_at=time(8), closes_at=None)
    with pytest.raises(ValidationError):
        store.full_clean()
    LocationFactory.build(opens_at=None, closes_at=None).full_clean()
    LocationFactory.build(opens_at=time(8), closes_at=time(20), phone="021-6350 1001").full_clean()


@pytest.mark.parametrize("phone", ["021-6350 1001", "+86 21 6350 1001", "(021) 63501001", "4008001234"])
def test_store_phone_numbers_accepted(phone):
    LocationFactory.build(phone=phone).full_clean()


@pytest.mark.parametrize("phone", ["call us", "021-6350 1001 ext. 3", "12", "javascript:alert(1)"])
def test_store_phone_numbers_refused(phone):
    with pytest.raises(ValidationError) as refused:
        LocationFactory.build(phone=phone).full_clean()
    assert "phone" in refused.value.message_dict


# --- photos -----------------------------------------------------------------------


def image_bytes(fmt: str = "PNG", size=(64, 40)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_car_without_a_photo_shows_the_placeholder(client, location, language):
    car = VehicleFactory(location=location, brand="丰田", model="卡罗拉")

    for url in (reverse("vehicles:list"), car.get_absolute_url()):
        body = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        assert 'src="/static/img/car-placeholder.svg"' in body, url
        assert WORDS[language]["placeholder"] in body, url
        assert 'data-car-photo="uploaded"' not in body, url


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_car_with_a_photo_shows_it(client, location, language):
    car = VehicleFactory(location=location, brand="丰田", model="卡罗拉")
    car.photo.save("corolla.png", SimpleUploadedFile("corolla.png", image_bytes()))

    body = client.get(car.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    assert f'src="/media/{car.photo.name}"' in body
    assert WORDS[language]["photo"] in body
    assert "car-placeholder.svg" not in body


def car_form(location, photo) -> dict:
    return {
        "plate_number": "沪Z99999",
        "brand": "丰田",
        "model": "卡罗拉",
        "year": "2024",
        "seats": "5",
        "daily_rate": "199.00",
        "deposit_amount": "2000.00",
        "location": str(location.pk),
        "status": Vehicle.Status.AVAILABLE,
        "description": "",
        "photo": photo,
    }


def upload(staff_client, location, photo):
    return staff_client.post(
        reverse("admin:vehicles_vehicle_add"), car_form(location, photo), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )


def photo_errors(response) -> list[str]:
    assert response.status_code == 200, "the form should be shown again with its error"
    return list(response.context["adminform"].form.errors["photo"])


def test_admin_upload_stores_a_photo_the_car_page_shows(staff_client, location, settings):
    response = upload(staff_client, location, SimpleUploadedFile("car.png", image_bytes(), "image/png"))

    assert response.status_code == 302
    car = Vehicle.objects.get(plate_number="沪Z99999")
    assert car.photo.name.startswith("cars/") and car.photo.name.endswith(".png")
    assert (Path(settings.MEDIA_ROOT) / car.photo.name).read_bytes() == image_bytes()


def test_admin_upload_refuses_a_file_that_is_no_image(staff_client, location):
    response = upload(staff_client, location, SimpleUploadedFile("car.png", b"%PDF-1.7 not a picture", "image/png"))

    assert photo_errors(response) == ["请上传一张有效的图片。您所上传的文件不是图片或者是已损坏的图片。"]
    assert not Vehicle.objects.filter(plate_number="沪Z99999").exists()


def test_admin_upload_refuses_an_image_of_another_type(staff_client, location):
    response = upload(staff_client, location, SimpleUploadedFile("car.gif", image_bytes("GIF"), "image/gif"))

    [error] = photo_errors(response)
    assert "“gif”" in error and "jpg, jpeg, png, webp" in error
    assert not Vehicle.objects.filter(plate_number="沪Z99999").exists()


def test_admin_upload_refuses_a_photo_over_5_mb_before_opening_it(staff_client, location):
    too_big = b"\0" * (PHOTO_MAX_BYTES + 1)  # not even an image: its size is what is said

    response = upload(staff_client, location, SimpleUploadedFile("car.png", too_big, "image/png"))

    assert photo_errors(response) == ["该照片大小为 5.0 MB，照片最大为 5 MB。"]
    assert not Vehicle.objects.filter(plate_number="沪Z99999").exists()


def test_admin_car_form_says_what_may_be_uploaded(staff_client):
    body = staff_client.get(reverse("admin:vehicles_vehicle_add"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert 'enctype="multipart/form-data"' in body
    assert 'accept="image/jpeg,image/png,image/webp"' in body
    assert "JPEG、PNG 或 WebP 格式，最大 5 MB。" in body


# --- media files ------------------------------------------------------------------


def test_photos_are_served_when_this_process_serves_media(client, settings, location):
    car = VehicleFactory(location=location)
    car.photo.save("served.png", SimpleUploadedFile("served.png", image_bytes()))
    url = f"/media/{car.photo.name}"

    settings.SERVE_MEDIA = True
    served = client.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == image_bytes()

    settings.SERVE_MEDIA = False  # production: the proxy serves MEDIA_ROOT
    assert client.get(url).status_code == 404


def test_store_list_reads_every_store_and_car_in_two_queries(client, django_assert_num_queries):
    for n in range(6):
        store = LocationFactory(city="上海" if n % 2 else "北京", opens_at=time(8), closes_at=time(20))
        VehicleFactory.create_batch(3, location=store)

    with django_assert_num_queries(2):  # the stores, then their bookable cars
        response = client.get(reverse("vehicles:stores"))

    assert response.status_code == 200
    assert response.content.decode().count('class="card h-100 shadow-sm store-card"') == 6


def test_admin_saves_a_stores_hours_and_phone(staff_client):
    form = {"name": "外滩店", "city": "上海", "address": "中山东一路 1 号", "phone": "021-6321 0000"}

    refused = staff_client.post(
        reverse("admin:vehicles_location_add"), {**form, "opens_at": "09:00"}, HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    saved = staff_client.post(
        reverse("admin:vehicles_location_add"), {**form, "opens_at": "09:00", "closes_at": "21:00"}
    )

    assert "请同时填写开门和关门时间，或都不填。" in refused.content.decode()
    assert saved.status_code == 302
    store = Location.objects.get(name="外滩店")
    assert (store.opening_hours, store.phone_uri) == ("每天 09:00–21:00", "tel:02163210000")
