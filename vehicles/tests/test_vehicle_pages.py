"""Car list with filters and car detail (SPEC §7)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from rentals.models import Rental
from rentals.tests.factories import RentalFactory
from vehicles import selectors
from vehicles.models import Vehicle
from vehicles.tests.factories import LocationFactory, VehicleFactory

pytestmark = pytest.mark.django_db

LOCAL = "%Y-%m-%dT%H:%M"


def listed_ids(response) -> set[int]:
    return {vehicle.pk for vehicle in response.context["vehicles"]}


def test_home_and_list_show_bookable_cars_only(client, vehicle):
    # given
    broken = VehicleFactory(status=Vehicle.Status.MAINTENANCE)
    retired = VehicleFactory(status=Vehicle.Status.RETIRED)
    rented = VehicleFactory(status=Vehicle.Status.RENTED)
    # when
    home = client.get(reverse("vehicles:home"), HTTP_ACCEPT_LANGUAGE="en")
    listing = client.get(reverse("vehicles:list"))
    # then
    assert home.status_code == 200 and listing.status_code == 200
    assert listed_ids(home) == {vehicle.pk, rented.pk}
    assert broken.pk not in listed_ids(listing) and retired.pk not in listed_ids(listing)
    assert "¥300.00" in home.content.decode()


def test_filter_by_city_price_and_seats(client, location):
    beijing = LocationFactory(city="北京", name="国贸店")
    cheap = VehicleFactory(location=location, daily_rate=Decimal("150.00"), seats=5)
    dear = VehicleFactory(location=location, daily_rate=Decimal("800.00"), seats=7)
    far = VehicleFactory(location=beijing, daily_rate=Decimal("200.00"), seats=5)

    assert listed_ids(client.get(reverse("vehicles:list"), {"city": "北京"})) == {far.pk}
    assert listed_ids(client.get(reverse("vehicles:list"), {"min_price": "160", "max_price": "900"})) == {
        far.pk,
        dear.pk,
    }
    assert listed_ids(client.get(reverse("vehicles:list"), {"max_price": "150.00"})) == {cheap.pk}
    assert listed_ids(client.get(reverse("vehicles:list"), {"seats": "7"})) == {dear.pk}


def test_period_filter_shows_only_cars_free_for_the_whole_period(client, location, booking_times):
    start, end = booking_times
    booked = VehicleFactory(location=location)
    free = VehicleFactory(location=location)
    cancelled_elsewhere = VehicleFactory(location=location)
    RentalFactory(vehicle=booked, start_time=start + timedelta(days=1), end_time=end + timedelta(days=1))
    RentalFactory(vehicle=cancelled_elsewhere, start_time=start, end_time=end, status=Rental.Status.CANCELLED)
    # A booking that ends exactly at our start does not block the car.
    RentalFactory(vehicle=free, start_time=start - timedelta(days=2), end_time=start)

    # when: the form reads local (Asia/Shanghai) wall-clock times
    response = client.get(
        reverse("vehicles:list"),
        {
            "start_time": timezone.localtime(start).strftime(LOCAL),
            "end_time": timezone.localtime(end).strftime(LOCAL),
        },
    )
    assert response.status_code == 200
    assert listed_ids(response) == {free.pk, cancelled_elsewhere.pk}
    # The book links carry the period on to the booking form.
    assert f"start_time={timezone.localtime(start).strftime(LOCAL)}" in response.content.decode()


def test_bad_filters_show_a_readable_error(client, vehicle):
    response = client.get(
        reverse("vehicles:list"),
        {"start_time": "2030-01-05T10:00", "end_time": "2030-01-04T10:00"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "The return time must be after the pick-up time." in body
    # the impossible period is not applied: the list is not emptied by it
    assert listed_ids(response) == {vehicle.pk}
    assert 'id="no-vehicles"' not in body and 'id="period-note"' not in body


def test_a_bad_filter_is_left_out_and_the_valid_ones_still_apply(client, location):
    # given
    elsewhere = LocationFactory(city="北京")
    cheap = VehicleFactory(location=location, daily_rate=Decimal("150.00"))
    dear = VehicleFactory(location=location, daily_rate=Decimal("800.00"))
    VehicleFactory(location=elsewhere, daily_rate=Decimal("150.00"))
    # when: a price that is not a number, with a valid city
    response = client.get(
        reverse("vehicles:list"), {"min_price": "abc", "city": location.city}, HTTP_ACCEPT_LANGUAGE="en"
    )
    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert listed_ids(response) == {cheap.pk, dear.pk}
    assert "Enter a number." in body and 'id="filter-errors-note"' in body
    assert "2 cars" in body and 'id="no-vehicles"' not in body


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"min_price": "abc", "max_price": "200"}, {"cheap"}),  # the valid maximum still applies
        ({"min_price": "900", "max_price": "100"}, {"cheap", "dear"}),  # inverted range: neither applies
        ({"start_time": "2030-01-05T10:00", "max_price": "200"}, {"cheap"}),  # half a period is left out
        ({"seats": "99", "max_price": "200"}, {"cheap"}),
    ],
)
def test_each_invalid_filter_is_left_out_alone(client, location, params, expected):
    cars = {
        "cheap": VehicleFactory(location=location, daily_rate=Decimal("150.00")),
        "dear": VehicleFactory(location=location, daily_rate=Decimal("800.00")),
    }
    response = client.get(reverse("vehicles:list"), params)
    assert response.status_code == 200 and response.context["form"].errors
    assert listed_ids(response) == {cars[name].pk for name in expected}


def test_blocking_statuses_mirror_rental_active_statuses():
    assert set(selectors.BLOCKING_RENTAL_STATUSES) == {str(s) for s in Rental.ACTIVE_STATUSES}


def test_vehicle_detail_and_unknown_car(client, vehicle):
    response = client.get(reverse("vehicles:detail", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    body = response.content.decode()
    assert vehicle.plate_number in body and "¥2,000.00" in body
    assert reverse("rentals:new", args=[vehicle.pk]) in body
    assert client.get(reverse("vehicles:detail", args=[999999])).status_code == 404


def test_list_query_count_does_not_grow_with_cars(client, location, django_assert_max_num_queries):
    VehicleFactory.create_batch(30, location=location)
    # cities, count, one page of cars joined to their store
    with django_assert_max_num_queries(4):
        response = client.get(reverse("vehicles:list"))
    assert len(response.context["vehicles"]) == 12
