"""Booking page /rentals/new/<vehicle_pk>/ and its live price preview (SPEC §5, §7)."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from rentals import pricing
from rentals.models import Rental
from rentals.tests.factories import RentalFactory
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db

LOCAL = "%Y-%m-%dT%H:%M"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(dt) -> str:
    return timezone.localtime(dt, SHANGHAI).strftime(LOCAL)


def booking_data(vehicle, start, end, return_location=None) -> dict:
    return {
        "start_time": local(start),
        "end_time": local(end),
        "pickup_location": vehicle.location_id,
        "return_location": (return_location or vehicle.location).pk,
    }


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def test_anonymous_is_sent_to_login_with_next(client, vehicle):
    url = reverse("rentals:new", args=[vehicle.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('accounts:login')}?next={url}"
    assert client.post(url, {}).status_code == 302
    assert not Rental.objects.exists()


def test_booking_page_shows_the_form_with_spec_field_names(customer_client, vehicle):
    response = customer_client.get(reverse("rentals:new", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("start_time", "end_time", "pickup_location", "return_location", "csrfmiddlewaretoken"):
        assert f'name="{name}"' in body
    assert 'type="datetime-local"' in body
    assert reverse("rentals:quote", args=[vehicle.pk]) in body
    assert 'id="price-breakdown"' in body and "js/booking.js" in body


def test_valid_post_creates_a_pending_rental_and_shows_its_order_page(
    customer_client, customer, vehicle, other_location, booking_times, assert_ledger
):
    start, end = booking_times
    response = customer_client.post(
        reverse("rentals:new", args=[vehicle.pk]), booking_data(vehicle, start, end, other_location)
    )
    rental = Rental.objects.get()
    assert response.status_code == 302 and response["Location"] == rental.get_absolute_url()
    assert rental.customer == customer and rental.status == Rental.Status.PENDING
    assert (rental.start_time, rental.end_time) == (start, end)
    assert rental.return_location == other_location
    assert rental.total_amount == Decimal("900.00") and rental.cross_location_fee == Decimal("200.00")
    assert rental.order_total == Decimal("3100.00")
    assert_ledger(rental)
    page = customer_client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    assert "¥3,100.00" in page.content.decode()


def test_datetime_local_input_is_read_as_shanghai_time(customer_client, vehicle):
    start_local = (timezone.localtime(timezone.now(), SHANGHAI) + timedelta(days=2)).replace(
        hour=9, minute=30, second=0, microsecond=0
    )
    data = {
        "start_time": start_local.strftime(LOCAL),
        "end_time": (start_local + timedelta(days=1)).strftime(LOCAL),
        "pickup_location": vehicle.location_id,
        "return_location": vehicle.location_id,
    }
    customer_client.post(reverse("rentals:new", args=[vehicle.pk]), data)
    rental = Rental.objects.get()
    expected = datetime(start_local.year, start_local.month, start_local.day, 9, 30, tzinfo=SHANGHAI)
    assert rental.start_time == expected
    assert timezone.localtime(rental.start_time, SHANGHAI).hour == 9


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("end_before_start", "The return time must be after the pick-up time."),
        ("start_in_past", "The pick-up time must be in the future."),
        ("overlap", "This car is already booked from"),
        ("missing", "This field is required."),
    ],
)
def test_bad_input_shows_a_readable_error_and_creates_nothing(customer_client, vehicle, booking_times, case, message):
    start, end = booking_times
    if case == "end_before_start":
        data = booking_data(vehicle, start, start - timedelta(hours=2))
    elif case == "start_in_past":
        data = booking_data(vehicle, timezone.now() - timedelta(days=1), end)
    elif case == "overlap":
        RentalFactory(vehicle=vehicle, start_time=start + timedelta(days=1), end_time=end + timedelta(days=1))
        data = booking_data(vehicle, start, end)
    else:
        data = {"pickup_location": vehicle.location_id}
    before = Rental.objects.count()

    response = customer_client.post(reverse("rentals:new", args=[vehicle.pk]), data, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Rental.objects.count() == before
    if case == "overlap":
        # The service's ValidationError became a non-field error of the form.
        assert any(message in error for error in response.context["form"].non_field_errors())


def test_unknown_or_unbookable_car_is_404(customer_client, vehicle, booking_times):
    start, end = booking_times
    assert customer_client.get(reverse("rentals:new", args=[999999])).status_code == 404
    assert (
        customer_client.post(reverse("rentals:new", args=[999999]), booking_data(vehicle, start, end)).status_code
        == 404
    )
    vehicle.status = Vehicle.Status.MAINTENANCE
    vehicle.save()
    assert customer_client.get(reverse("rentals:new", args=[vehicle.pk])).status_code == 404
    assert not Rental.objects.exists()


def test_pickup_must_be_the_cars_store(customer_client, vehicle, other_location, booking_times):
    start, end = booking_times
    data = booking_data(vehicle, start, end)
    data["pickup_location"] = other_location.pk
    response = customer_client.post(reverse("rentals:new", args=[vehicle.pk]), data)
    assert response.status_code == 200 and "pickup_location" in response.context["form"].errors
    assert not Rental.objects.exists()


def test_booking_page_is_csrf_protected(customer, vehicle, booking_times):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer.user)
    start, end = booking_times
    response = strict.post(reverse("rentals:new", args=[vehicle.pk]), booking_data(vehicle, start, end))
    assert response.status_code == 403
    assert not Rental.objects.exists()


# --- quote ------------------------------------------------------------------------


def expected_quote(vehicle, level, start, end, return_location):
    return pricing.quote(
        daily_rate=vehicle.daily_rate,
        deposit_amount=vehicle.deposit_amount,
        member_level=level,
        start_time=start,
        end_time=end,
        pickup_location_id=vehicle.location_id,
        return_location_id=return_location.pk,
    )


def test_quote_for_anonymous_is_regular_price(client, vehicle, other_location, booking_times):
    start, end = booking_times
    response = client.get(
        reverse("rentals:quote", args=[vehicle.pk]), booking_data(vehicle, start, end, other_location)
    )
    assert response.status_code == 200
    data = response.json()
    q = expected_quote(vehicle, "REGULAR", start, end, other_location)
    assert data["ok"] is True and data["member_level"] == "REGULAR" and data["days"] == 3
    assert data["amounts"] == {
        "daily_rate": "300.00",
        "base_rent": "900.00",
        "discount_amount": "0.00",
        "total_amount": "900.00",
        "deposit": "2000.00",
        "cross_location_fee": "200.00",
        "order_total": "3100.00",
    }
    assert data["amounts"]["order_total"] == str(q.order_total)
    assert data["display"]["order_total"] == "¥3,100.00"


def test_quote_uses_the_customers_member_level_and_matches_the_booking(client, vip_customer, vehicle, booking_times):
    client.force_login(vip_customer.user)
    start, end = booking_times
    data = client.get(reverse("rentals:quote", args=[vehicle.pk]), booking_data(vehicle, start, end)).json()
    assert data["member_level"] == Customer.MemberLevel.VIP
    assert data["amounts"]["discount_amount"] == "135.00"
    assert data["amounts"]["total_amount"] == "765.00"
    assert data["amounts"]["deposit"] == "0.00"
    assert data["amounts"]["order_total"] == "765.00"
    # what the page previews is what the booking charges
    client.post(reverse("rentals:new", args=[vehicle.pk]), booking_data(vehicle, start, end))
    rental = Rental.objects.get()
    assert str(rental.order_total) == data["amounts"]["order_total"]
    assert str(rental.discount_amount) == data["amounts"]["discount_amount"]


def test_quote_rejects_bad_times_with_readable_errors(client, vehicle, booking_times):
    start, _ = booking_times
    response = client.get(
        reverse("rentals:quote", args=[vehicle.pk]),
        booking_data(vehicle, start, start - timedelta(days=1)),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert response.json() == {"ok": False, "errors": ["The return time must be after the pick-up time."]}
    assert client.get(reverse("rentals:quote", args=[999999])).status_code == 404


def test_quote_for_taken_dates_says_so_and_offers_the_next_free_period(client, vehicle):
    # given: the car is booked 5th 09:00 to 8th 09:00 March 2026 (Beijing time)
    booked_from = datetime(2026, 3, 5, 9, 0, tzinfo=SHANGHAI)
    RentalFactory(vehicle=vehicle, start_time=booked_from, end_time=booked_from + timedelta(days=3))
    start = datetime(2026, 3, 6, 10, 0, tzinfo=SHANGHAI)
    # when: a two-day quote overlapping it, asked on 1st March
    with time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=SHANGHAI), tick=False):
        data = client.get(
            reverse("rentals:quote", args=[vehicle.pk]),
            booking_data(vehicle, start, start + timedelta(days=2)),
            HTTP_ACCEPT_LANGUAGE="en",
        ).json()
    # then
    assert data["ok"] is True and data["available"] is False
    assert data["taken"] == {
        "message": "This car is already booked from 2026-03-05 09:00 to 2026-03-08 09:00.",
        "next_free": {
            "start_time": "2026-03-08T09:00",
            "end_time": "2026-03-10T09:00",
            "text": "Next free period of the same length: 2026-03-08 09:00 to 2026-03-10 09:00.",
        },
    }


def test_quote_for_free_dates_is_available(client, vehicle, booking_times):
    start, end = booking_times
    RentalFactory(vehicle=vehicle, start_time=end, end_time=end + timedelta(days=1))  # back to back is fine
    data = client.get(reverse("rentals:quote", args=[vehicle.pk]), booking_data(vehicle, start, end)).json()
    assert data["available"] is True and data["taken"] is None
    assert data["amounts"]["order_total"] == "2900.00"


def test_the_offered_period_can_be_booked(customer_client, vehicle, booking_times):
    start, end = booking_times
    RentalFactory(vehicle=vehicle, start_time=start, end_time=end)
    taken = customer_client.get(
        reverse("rentals:quote", args=[vehicle.pk]), booking_data(vehicle, start + timedelta(hours=5), end)
    ).json()["taken"]
    offer = {**booking_data(vehicle, start, end), **{k: taken["next_free"][k] for k in ("start_time", "end_time")}}
    response = customer_client.post(reverse("rentals:new", args=[vehicle.pk]), offer)
    assert response.status_code == 302
    rental = Rental.objects.latest("pk")
    assert (rental.start_time, rental.end_time) == (end, end + (end - start - timedelta(hours=5)))
