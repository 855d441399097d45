"""The hand-over records the check of the driver and the car, and the return
the car's readings again: kept on the order (CarCheck), in its history with
the clerk and the time (RentalEvent), shown side by side on the return page."""

import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from rentals.exceptions import RentalError
from rentals.models import CarCheck, Rental, RentalEvent
from rentals.services import CheckInput, pickup_rental, process_return, return_preview
from rentals.tests.admin_support import NOW, PICKUP_CHECK, RETURN_CHECK, admin_url, pay
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 10)  # NOW's day in Shanghai
OUT = CheckInput(
    mileage_km=12000,
    fuel_eighths=8,
    condition_notes="Scratch on the rear bumper",
    id_seen=True,
    licence_seen=True,
    licence_valid_until=date(2030, 12, 31),
)


@pytest.fixture
def booking(frozen, vehicle, customer):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(minutes=30))
    pay(rental, rental.order_total)
    return rental


@pytest.fixture
def on_road(booking, staff_user, time_machine):
    pickup_rental(rental=booking, by_user=staff_user, check=OUT)
    time_machine.move_to(booking.end_time, tick=False)
    booking.refresh_from_db()
    return booking


@pytest.fixture
def english():
    from django.utils import translation

    with translation.override("en"):
        yield


def nothing_written(rental: Rental) -> bool:
    rental.refresh_from_db()
    return rental.status == Rental.Status.PENDING and not rental.car_checks.exists() and not rental.events.exists()


# --- hand-over: the rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    "seen", [{"id_seen": False}, {"licence_seen": False}, {"id_seen": False, "licence_seen": False}]
)
def test_no_hand_over_without_the_id_card_and_the_licence_seen(booking, staff_user, seen):
    with pytest.raises(RentalError) as refused:
        pickup_rental(rental=booking, by_user=staff_user, check=CheckInput(**{**OUT.__dict__, **seen}))
    assert refused.value.code == "papers_not_seen"
    assert nothing_written(booking)


def test_an_expired_licence_is_refused(booking, staff_user, english):
    expired = CheckInput(**{**OUT.__dict__, "licence_valid_until": TODAY - timedelta(days=1)})
    with pytest.raises(RentalError) as refused:
        pickup_rental(rental=booking, by_user=staff_user, check=expired)
    assert refused.value.code == "licence_expired"
    assert refused.value.messages == [
        "The driving licence expired on 2026-03-09: the car can't be handed over to this driver."
    ]
    assert nothing_written(booking)


def test_a_licence_valid_until_today_is_accepted(booking, staff_user):
    pickup_rental(
        rental=booking, by_user=staff_user, check=CheckInput(**{**OUT.__dict__, "licence_valid_until": TODAY})
    )
    assert booking.status == Rental.Status.ONGOING


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"licence_valid_until": None}, "licence_date_required"),
        ({"mileage_km": -1}, "mileage_required"),
        ({"fuel_eighths": 9}, "fuel_required"),
    ],
)
def test_the_readings_must_be_given(booking, staff_user, change, code):
    with pytest.raises(RentalError) as refused:
        pickup_rental(rental=booking, by_user=staff_user, check=CheckInput(**{**OUT.__dict__, **change}))
    assert refused.value.code == code
    assert nothing_written(booking)


# --- hand-over: what is kept --------------------------------------------------------------


def test_the_hand_over_keeps_the_check_with_its_clerk_and_time(booking, staff_user):
    pickup_rental(rental=booking, by_user=staff_user, check=OUT)

    [row] = booking.car_checks.all()
    assert (row.stage, row.id_seen, row.licence_seen, row.licence_valid_until) == (
        "pickup",
        True,
        True,
        date(2030, 12, 31),
    )
    assert (row.mileage_km, row.fuel_eighths, row.condition_notes) == (12000, 8, "Scratch on the rear bumper")
    assert (row.checked_by, row.checked_at) == (staff_user, NOW)
    event = RentalEvent.objects.get(rental=booking, event="picked_up")
    assert (event.actor, event.created_at) == (staff_user, NOW)
    assert event.payload["check"] == {
        "id_seen": True,
        "licence_seen": True,
        "licence_valid_until": "2030-12-31",
        "mileage_km": 12000,
        "fuel_eighths": 8,
        "condition_notes": "Scratch on the rear bumper",
    }


# --- return -------------------------------------------------------------------------------


def test_a_return_mileage_below_the_hand_over_is_refused_by_preview_and_return(on_road, staff_user, english):
    back = CheckInput(mileage_km=11999, fuel_eighths=6)
    for attempt in (
        lambda: return_preview(
            rental=on_road, returned_at=on_road.end_time, location=on_road.return_location, check=back
        ),
        lambda: process_return(
            rental=on_road,
            returned_at=on_road.end_time,
            location=on_road.return_location,
            by_user=staff_user,
            check=back,
        ),
    ):
        with pytest.raises(RentalError) as refused:
            attempt()
        assert refused.value.code == "mileage_below_pickup"
        assert refused.value.messages == [
            "The mileage at return (11,999 km) can't be below the 12,000 km recorded at hand-over."
        ]
    on_road.refresh_from_db()
    assert on_road.status == Rental.Status.ONGOING
    assert list(on_road.car_checks.values_list("stage", flat=True)) == ["pickup"]


def test_the_return_keeps_its_readings_with_its_clerk_and_time(on_road, staff_user, time_machine):
    process_return(
        rental=on_road,
        returned_at=on_road.end_time,
        location=on_road.return_location,
        by_user=staff_user,
        check=CheckInput(mileage_km=12000, fuel_eighths=3, condition_notes="  Dent, front left door "),
    )

    back = on_road.car_checks.get(stage="return")
    assert (back.mileage_km, back.fuel_eighths, back.condition_notes) == (12000, 3, "Dent, front left door")
    assert (back.checked_by, back.checked_at) == (staff_user, on_road.end_time)
    assert not back.id_seen and back.licence_valid_until is None
    event = RentalEvent.objects.get(rental=on_road, event="returned")
    assert (event.actor, event.created_at) == (staff_user, on_road.end_time)
    assert event.payload["check"] == {
        "mileage_km": 12000,
        "fuel_eighths": 3,
        "condition_notes": "Dent, front left door",
    }


def test_one_check_per_order_and_moment(on_road):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CarCheck.objects.create(rental=on_road, stage="pickup", mileage_km=1, fuel_eighths=1)


# --- the staff pages -----------------------------------------------------------------------


def test_pickup_page_asks_for_the_check_in_both_languages(staff_client, booking):
    en = staff_client.get(admin_url("pickup", booking), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for label in (
        "Driver and car check",
        "ID card seen",
        "Driving licence seen",
        "Licence valid until",
        "Mileage (km)",
    ):
        assert label in en
    assert 'type="date" name="licence_valid_until"' in en
    zh = staff_client.get(admin_url("pickup", booking), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for label in ("驾驶人与车辆查验", "已查验身份证", "已查验驾驶证", "驾驶证有效期至", "里程（公里）", "油量", "车况"):
        assert label in zh


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Check the customer's ID card and driving licence before handing the car over."),
        ("zh-hans", "交车前请查验客户的身份证和驾驶证。"),
    ],
)
def test_pickup_page_refuses_unticked_papers(staff_client, booking, language, message):
    post = {**PICKUP_CHECK, "_confirm": "1"}
    del post["licence_seen"]
    response = staff_client.post(admin_url("pickup", booking), post, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert html.escape(message) in response.content.decode()
    assert nothing_written(booking)


def test_pickup_page_refuses_an_expired_licence(staff_client, booking):
    post = {**PICKUP_CHECK, "licence_valid_until": "2026-03-09", "_confirm": "1"}
    response = staff_client.post(admin_url("pickup", booking), post, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "驾驶证已于 2026-03-09 过期，不能向该驾驶人交车。" in response.content.decode()
    assert nothing_written(booking)


def test_pickup_page_records_the_check(staff_client, staff_user, booking):
    response = staff_client.post(admin_url("pickup", booking), {**PICKUP_CHECK, "_confirm": "1"})
    assert response.status_code == 302
    row = booking.car_checks.get(stage="pickup")
    assert (row.mileage_km, row.fuel_eighths, row.licence_valid_until, row.checked_by) == (
        12000,
        8,
        date(2030, 12, 31),
        staff_user,
    )


def test_return_page_shows_the_hand_over_beside_the_return(staff_client, on_road):
    page = staff_client.get(admin_url("return", on_road), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    table = re.search(r'<div class="module" id="car-check">.*?</table>', page, re.S).group(0)
    assert '<th scope="col">At hand-over</th>' in table and '<th scope="col">At return</th>' in table
    assert '<td class="num" id="check-out-mileage">12000</td>' in table
    assert '<td id="check-out-fuel">Full (8/8)</td>' in table
    assert "Scratch on the rear bumper" in table
    assert "ID card and driving licence seen" in table and "licence valid until 2030-12-31" in table
    assert "clerk · 2026-03-10 10:00" in table
    assert 'name="mileage_km"' in table and 'name="fuel_eighths"' in table and 'name="condition_notes"' in table

    post = {**RETURN_CHECK, "returned_at": "2026-03-13T10:30", "location": on_road.return_location_id}
    preview = staff_client.post(admin_url("return", on_road), {**post, "_preview": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert '<div class="help" id="check-driven">480 km driven</div>' in preview.content.decode()
    zh = staff_client.get(admin_url("return", on_road), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "交车时" in zh and "还车时" in zh and "满（8/8）" in zh and "驾驶证有效期至 2030-12-31" in zh


def test_return_page_refuses_a_mileage_below_the_hand_over(staff_client, on_road):
    post = {**RETURN_CHECK, "mileage_km": "11000", "returned_at": "2026-03-13T10:30"}
    post["location"] = on_road.return_location_id
    response = staff_client.post(admin_url("return", on_road), {**post, "_confirm": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert html.escape("can't be below the 12,000 km recorded at hand-over") in response.content.decode()
    on_road.refresh_from_db()
    assert on_road.status == Rental.Status.ONGOING


def test_order_change_page_lists_both_checks(staff_client, on_road, staff_user):
    post = {**RETURN_CHECK, "returned_at": "2026-03-13T10:30", "location": on_road.return_location_id}
    assert staff_client.post(admin_url("return", on_road), {**post, "_confirm": "1"}).status_code == 302
    page = staff_client.get(reverse("admin:rentals_rental_change", args=[on_road.pk]), HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert "car checks" in body.lower()
    assert "12000" in body and "12480" in body and "6/8" in body
    assert Decimal(on_road.car_checks.get(stage="return").mileage_km - 12000) == Decimal("480")


def test_counter_staff_see_the_checks_on_the_order(client, on_road):
    from rentals.tests.admin_support import staff_in_group

    client.force_login(staff_in_group("counter"))
    body = client.get(reverse("admin:rentals_rental_change", args=[on_road.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "车辆查验记录" in body.content.decode()
