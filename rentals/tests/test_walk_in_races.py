"""A walk-in at the counter and an online booking of the same car for the same
time, at once (PostgreSQL): create_rental's locks let exactly one win, and a
walk-in that loses leaves no customer behind."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.test_payment_races import _run_at_once
from customers.models import Customer
from rentals.models import Rental
from rentals.services import create_rental
from rentals.tests.admin_support import staff_in_group
from rentals.tests.test_staff_browser import ensure_counter_group
from rentals.tests.test_walk_in import NEW_ID
from vehicles.tests.factories import VehicleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 5


def _post(vehicle, start) -> dict:
    return {
        "store": vehicle.location_id,
        "id_card_number": NEW_ID,
        "name": "王小明",
        "phone": "13912345678",
        "driver_license_number": "310101199001011234",
        "vehicle": vehicle.pk,
        "start_time": timezone.localtime(start).strftime("%Y-%m-%dT%H:%M"),
        "end_time": timezone.localtime(start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        "return_location": vehicle.location_id,
        "_confirm": "1",
    }


def test_a_walk_in_and_an_online_booking_of_the_same_car_and_time_one_wins(customer, location):
    ensure_counter_group()
    clerk = staff_in_group("counter")
    start = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    winners = []
    for _ in range(ROUNDS):
        vehicle = VehicleFactory(location=location)
        counter = Client()
        counter.force_login(clerk)

        def work(i, vehicle=vehicle, counter=counter):
            if i == 0:
                response = counter.post(reverse("admin:rentals_rental_walk_in"), _post(vehicle, start))
                return "walk-in" if response.status_code == 302 else response.context["form"].non_field_errors()
            online = Customer.objects.get(pk=customer.pk)
            try:
                create_rental(
                    customer=online,
                    vehicle=vehicle,
                    start_time=start,
                    end_time=start + timedelta(days=2),
                    pickup_location=location,
                )
            except ValidationError as error:
                return error.messages
            return "online"

        results, errors = _run_at_once(2, work)

        assert errors == []
        won = [result for result in results if result in ("walk-in", "online")]
        assert len(won) == 1, results
        assert Rental.objects.filter(vehicle=vehicle).count() == 1
        loser = next(result for result in results if result not in ("walk-in", "online"))
        assert any("已被预订" in message for message in loser), loser
        walk_ins = Customer.objects.filter(id_card_number=NEW_ID)
        assert walk_ins.count() == (1 if won == ["walk-in"] else 0)
        Rental.objects.filter(vehicle=vehicle).delete()
        walk_ins.delete()
        winners.append(won[0])
    print("winners:", winners)


def test_two_clerks_adding_the_same_new_person_at_once_make_one_customer(location):
    ensure_counter_group()
    start = (timezone.now() + timedelta(hours=2)).replace(second=0, microsecond=0)
    cars = [VehicleFactory(location=location) for _ in range(2)]
    clients = []
    for i in range(2):
        clerk = Client()
        clerk.force_login(staff_in_group("counter", username=f"desk-{i}"))
        clients.append(clerk)

    results, errors = _run_at_once(
        2,
        lambda i: clients[i].post(reverse("admin:rentals_rental_walk_in"), _post(cars[i], start)).status_code,
    )

    assert errors == []
    assert results == [302, 302]
    person = Customer.objects.get(id_card_number=NEW_ID)
    assert Rental.objects.filter(customer=person).count() == 2
