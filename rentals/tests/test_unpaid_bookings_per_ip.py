"""A client address holds at most MAX_UNPAID_BOOKINGS_PER_IP unpaid bookings at
once, whichever accounts make them (SPEC §17 "Hostile users"): a few accounts
from one place can't hold the whole fleet."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory
from rentals.exceptions import RentalError
from rentals.models import Rental
from rentals.selectors import unpaid_bookings_from_ip
from rentals.tests.clock import NOW
from rentals.tests.factories import book, paid
from rentals.tests.test_races import run_at_once
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

HOME = "203.0.113.7"
REFUSED_EN = "Too many unpaid bookings (6) were already made from your network."
REFUSED_ZH = "您所在的网络已有 6 个未付款的预订"


def _cars(location, n):
    return [VehicleFactory(location=location) for _ in range(n)]


def _post_booking(client, car, **extra):
    return client.post(
        reverse("rentals:new", args=[car.pk]),
        {
            "start_time": "2026-03-02T09:00",
            "end_time": "2026-03-05T09:00",
            "pickup_location": car.location_id,
            "return_location": car.location_id,
        },
        **extra,
    )


def test_the_seventh_unpaid_booking_from_one_address_is_refused_on_the_booking_page(
    frozen_clock, location, client, settings
):
    assert settings.MAX_UNPAID_BOOKINGS_PER_IP == 6
    cars = _cars(location, 8)
    # three accounts, at most MAX_UNPAID_BOOKINGS (3) each, from one address
    customers = [CustomerFactory() for _ in range(3)]
    for n, car in enumerate(cars[:6]):
        client.force_login(customers[n // 2].user)
        assert _post_booking(client, car, REMOTE_ADDR=HOME).status_code == 302
    assert set(Rental.objects.values_list("client_ip", flat=True)) == {HOME}

    client.force_login(customers[2].user)  # holds two: the per-customer cap is not the reason
    english = _post_booking(client, cars[6], REMOTE_ADDR=HOME, HTTP_ACCEPT_LANGUAGE="en")
    chinese = _post_booking(client, cars[6], REMOTE_ADDR=HOME, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert english.status_code == 200 and REFUSED_EN in english.content.decode()
    assert REFUSED_ZH in chinese.content.decode()
    assert Rental.objects.count() == 6
    # the same account from another address books as usual
    assert _post_booking(client, cars[6], REMOTE_ADDR="198.51.100.20").status_code == 302
    assert Rental.objects.get(vehicle=cars[6]).client_ip == "198.51.100.20"


def test_the_service_refuses_with_its_code_and_paid_or_lapsed_bookings_free_places(frozen_clock, location):
    cars = _cars(location, 9)
    held = [book(CustomerFactory(), car, client_ip=HOME) for car in cars[:6]]

    with pytest.raises(RentalError) as excinfo:
        book(CustomerFactory(), cars[6], client_ip=HOME)

    assert excinfo.value.code == "too_many_unpaid_from_ip"
    # paying for one frees a place
    paid(held[0], Decimal("100.00"))
    book(CustomerFactory(), cars[6], client_ip=HOME)
    assert unpaid_bookings_from_ip(client_ip=HOME).count() == 6
    with pytest.raises(RentalError):
        book(CustomerFactory(), cars[7], client_ip=HOME)
    # once the payment window closes, unpaid bookings no longer hold anything
    frozen_clock.move_to(NOW + timedelta(minutes=30), tick=False)
    book(CustomerFactory(), cars[7], client_ip=HOME)


def test_bookings_made_without_an_address_are_not_capped(frozen_clock, location):
    cars = _cars(location, 8)
    customers = [CustomerFactory() for _ in range(3)]

    for n, car in enumerate(cars):
        book(customers[n // 3], car)  # staff and scripts pass no client address

    assert Rental.objects.filter(client_ip__isnull=True).count() == 8


def test_behind_a_proxy_the_trusted_header_names_the_address(frozen_clock, location, client, settings):
    settings.RATELIMIT_IP_META_KEY = "HTTP_X_REAL_IP"
    settings.MAX_UNPAID_BOOKINGS_PER_IP = 1
    first, second = _cars(location, 2)
    client.force_login(CustomerFactory().user)

    assert _post_booking(client, first, REMOTE_ADDR="10.0.0.1", HTTP_X_REAL_IP=HOME).status_code == 302
    refused = _post_booking(client, second, REMOTE_ADDR="10.0.0.2", HTTP_X_REAL_IP=HOME, HTTP_ACCEPT_LANGUAGE="en")

    assert Rental.objects.get().client_ip == HOME
    assert "Too many unpaid bookings (1) were already made from your network." in refused.content.decode()


def test_an_ipv6_client_counts_as_its_64_network(frozen_clock, location, client, settings):
    settings.MAX_UNPAID_BOOKINGS_PER_IP = 1
    first, second = _cars(location, 2)
    client.force_login(CustomerFactory().user)

    assert _post_booking(client, first, REMOTE_ADDR="2001:db8:1:2::10").status_code == 302
    refused = _post_booking(client, second, REMOTE_ADDR="2001:db8:1:2:ffff::1", HTTP_ACCEPT_LANGUAGE="en")

    assert Rental.objects.get().client_ip == "2001:db8:1:2::"
    assert refused.status_code == 200 and Rental.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_bookings_of_many_accounts_from_one_address_stop_at_the_cap(location):
    # given: four unpaid bookings from the address, eight accounts booking eight cars at once
    cars = _cars(location, 12)
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    end = start + timedelta(days=2)
    for car in cars[:4]:
        book(CustomerFactory(), car, start, end, client_ip=HOME)
    customers = [CustomerFactory() for _ in range(8)]

    # when
    results = run_at_once(
        [
            lambda customer=customer, car=car: book(customer, car, start, end, client_ip=HOME)
            for customer, car in zip(customers, cars[4:], strict=True)
        ]
    )

    # then: two more fit under the cap of six, the other six are refused
    booked = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(booked) == 2, results
    assert len(refused) == 6 and all(getattr(e, "code", None) == "too_many_unpaid_from_ip" for e in refused), refused
    assert Rental.objects.filter(client_ip=HOME, status=Rental.Status.PENDING).count() == 6
