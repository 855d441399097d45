"""The walk-in page of the counter (SPEC §20): a customer found by ID card
number or created without a login, a car standing at the store, the times;
booked through create_rental (its rules, the clerk recorded) and then on to
the counter payment. A refusal writes nothing."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from customers.models import Customer
from customers.tests.factories import CustomerFactory, WalkInCustomerFactory
from customers.validators import id_card_check_char
from rentals.models import Rental, RentalEvent
from rentals.tests.admin_support import NOW, ensure_finance_group, non_staff, staff_in_group
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:rentals_rental_walk_in")


def id_number(serial: str) -> str:
    first17 = f"31010119900101{serial}"
    return first17 + id_card_check_char(first17)


NEW_ID = id_number("123")


@pytest.fixture
def counter(client, time_machine):
    time_machine.move_to(NOW, tick=False)
    client.force_login(staff_in_group("counter"))
    return client


def walk_in_post(vehicle, **overrides) -> dict:
    start = NOW + timedelta(minutes=10)
    data = {
        "store": vehicle.location_id,
        "id_card_number": NEW_ID,
        "name": "王小明",
        "phone": "13912345678",
        "driver_license_number": "310101199001011234",
        "vehicle": vehicle.pk,
        "start_time": start.strftime("%Y-%m-%dT%H:%M"),
        "end_time": (start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "return_location": vehicle.location_id,
        "_confirm": "1",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_a_new_customer_is_created_without_a_login_and_booked_by_the_clerk(counter, vehicle):
    response = counter.post(URL, walk_in_post(vehicle))

    rental = Rental.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:rentals_rental_payment", args=[rental.pk])
    customer = rental.customer
    assert (customer.user, customer.name, customer.phone, customer.id_card_number) == (
        None,
        "王小明",
        "13912345678",
        NEW_ID,
    )
    assert rental.status == Rental.Status.PENDING
    assert rental.order_total == rental.apply_quote().order_total
    created = RentalEvent.objects.get(rental=rental, event="created")
    assert created.actor.username == "counter-clerk"


def test_an_existing_customer_is_found_by_id_number_and_not_duplicated(counter, vehicle):
    known = WalkInCustomerFactory(id_card_number=NEW_ID, name="李四")
    preview = counter.post(URL, walk_in_post(vehicle, name="", phone="", driver_license_number="", _confirm=None))
    assert "李四" in preview.content.decode()
    assert preview.context["preview"]["display"]["order_total"]

    response = counter.post(URL, walk_in_post(vehicle, name="", phone="", driver_license_number=""))

    assert response.status_code == 302
    assert Customer.objects.count() == 1
    assert Rental.objects.get().customer == known


def test_an_online_customer_found_by_id_number_keeps_the_member_discount(counter, vehicle):
    vip = CustomerFactory(id_card_number=NEW_ID, member_level=Customer.MemberLevel.VIP)
    counter.post(URL, walk_in_post(vehicle))
    assert Rental.objects.get().customer == vip
    assert Rental.objects.get().discount_amount > 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("id_card_number", "310101199001011230"),  # wrong check character
        ("id_card_number", "12345"),
        ("phone", "12345678901"),
        ("phone", ""),
        ("name", ""),
        ("driver_license_number", ""),
        ("driver_license_number", "D" * 31),
    ],
)
def test_invalid_customer_fields_show_form_errors_and_write_nothing(counter, vehicle, field, value):
    response = counter.post(URL, walk_in_post(vehicle, **{field: value}))

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Rental.objects.exists()
    assert not Customer.objects.exists()


def test_a_car_standing_at_another_store_is_refused(counter, vehicle, other_location):
    response = counter.post(URL, walk_in_post(vehicle, store=other_location.pk))

    assert "vehicle" in response.context["form"].errors
    assert "人民广场店" in response.context["form"].errors["vehicle"][0]
    assert not Rental.objects.exists()
    assert not Customer.objects.exists()


def test_an_overlap_is_refused_with_the_booking_message_and_no_customer_is_kept(counter, vehicle, customer):
    RentalFactory(
        vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1), end_time=NOW + timedelta(days=3)
    )

    response = counter.post(URL, walk_in_post(vehicle))

    errors = response.context["form"].non_field_errors()
    assert response.status_code == 200
    assert errors == ["该车在 2026-03-11 10:00 至 2026-03-13 10:00 已被预订，请选择其他时间。"]
    assert Rental.objects.count() == 1
    assert Customer.objects.count() == 1  # the online customer only


def test_the_preview_shows_the_price_and_writes_nothing(counter, vehicle):
    response = counter.post(URL, walk_in_post(vehicle, _confirm=None, _preview="1"))

    preview = response.context["preview"]
    assert preview["available"] is True
    assert preview["amounts"]["order_total"] == "2600.00"  # 2 days × ¥300 + ¥2,000 deposit
    assert 'id="walk-in-confirm-button"' in response.content.decode()
    assert not Customer.objects.exists()


def test_the_page_is_linked_from_the_board_and_the_changelist(counter):
    assert URL in counter.get(reverse("admin:rentals_rental_today")).content.decode()
    assert URL in counter.get(reverse("admin:rentals_rental_changelist")).content.decode()
    assert counter.get(URL).status_code == 200


def test_finance_staff_get_403_and_customers_the_login(client, vehicle):
    ensure_finance_group()
    client.force_login(staff_in_group("finance"))
    assert client.get(URL).status_code == 403
    assert client.post(URL, walk_in_post(vehicle)).status_code == 403
    assert URL not in client.get(reverse("admin:rentals_rental_changelist")).content.decode()

    client.force_login(non_staff())
    response = client.post(URL, walk_in_post(vehicle))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert not Rental.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(vehicle, time_machine):
    time_machine.move_to(NOW, tick=False)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff_in_group("counter"))
    assert strict.post(URL, walk_in_post(vehicle)).status_code == 403
    assert not Rental.objects.exists()


def test_the_page_reads_in_chinese_first_and_in_english(counter, vehicle, other_location):
    chinese = counter.post(URL, walk_in_post(vehicle, store=other_location.pk, name=""), HTTP_ACCEPT_LANGUAGE="zh-hans")
    text = chinese.content.decode()
    assert "散客租车" in text
    assert "按身份证号查找客户" in text
    assert "尚无客户持有此身份证号：新增客户需填写此项。" in text
    assert "不在 上海 · 虹桥机场店。" in text

    english = counter.post(URL, walk_in_post(vehicle, store=other_location.pk, name=""), HTTP_ACCEPT_LANGUAGE="en")
    text = english.content.decode()
    assert "Walk-in rental" in text
    assert "Nobody holds this ID card number yet" in text
    assert "not at 上海 · 虹桥机场店." in text


def test_a_pick_up_time_in_the_past_is_refused_as_online(counter, vehicle):
    past = (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    response = counter.post(URL, walk_in_post(vehicle, start_time=past), HTTP_ACCEPT_LANGUAGE="en")

    assert response.context["form"].non_field_errors() == ["The pick-up time must be in the future."]
    assert not Rental.objects.exists()
    assert not Customer.objects.exists()


def test_a_walk_in_holding_the_most_unpaid_bookings_is_refused(counter, vehicle, location, settings):
    from vehicles.tests.factories import VehicleFactory

    settings.MAX_UNPAID_BOOKINGS = 1
    known = WalkInCustomerFactory(id_card_number=NEW_ID)
    RentalFactory(vehicle=VehicleFactory(location=location), customer=known)

    response = counter.post(URL, walk_in_post(vehicle), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert Rental.objects.filter(vehicle=vehicle).count() == 0
