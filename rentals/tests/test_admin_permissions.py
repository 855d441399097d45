"""Who may use which staff page: the admin login for non-staff, 403 for staff
without the permission, and in both cases nothing changes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from rentals.models import Rental
from rentals.tests.admin_support import (
    NOW,
    PICKUP_CHECK,
    RETURN_CHECK,
    admin_url,
    ledger_snapshot,
    non_staff,
    ongoing_rental,
    pay,
    plain_staff,
    staff_in_group,
)
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

ACTIONS = ["return", "pickup", "cancel", "payment", "refund"]
DASHBOARD = "/admin/accounts/payment/dashboard/"
EXPORT = "/admin/accounts/payment/export/?start=2026-03-01&end=2026-03-10"


@pytest.fixture
def rentals(time_machine, vehicle, other_location, customer):
    """One rental each page can act on: an overdue paid one (return, cancel,
    refund) and a pending half-paid one (pick-up, counter payment)."""
    time_machine.move_to(NOW, tick=False)
    from vehicles.tests.factories import VehicleFactory

    on_road = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3, hours=26))
    pending = RentalFactory(
        vehicle=VehicleFactory(location=other_location), customer=customer, start_time=NOW + timedelta(minutes=30)
    )
    pay(pending, Decimal("500.00"))
    return {"return": on_road, "cancel": on_road, "refund": on_road, "pickup": pending, "payment": pending}


def valid_post(action: str, rental: Rental) -> dict:
    return {
        "return": {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": rental.pickup_location_id,
            "damage_fee": "100",
            "_confirm": "1",
        },
        "pickup": {**PICKUP_CHECK, "_confirm": "1"},
        "cancel": {"reason": "No-show", "cancellation_fee": "0", "_confirm": "1"},
        "payment": {"method": "CASH", "amount": "100.00"},
        "refund": {"amount": "100.00", "reason": "Goodwill", "goodwill": "on"},
    }[action]


@pytest.mark.parametrize("action", ACTIONS)
def test_non_staff_is_sent_to_the_admin_login_and_nothing_changes(client, rentals, action):
    rental = rentals[action]
    client.force_login(non_staff())
    before = ledger_snapshot(rental)

    get = client.get(admin_url(action, rental))
    post = client.post(admin_url(action, rental), valid_post(action, rental))

    for response in (get, post):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))
    assert ledger_snapshot(rental) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_anonymous_is_sent_to_the_admin_login(client, rentals, action):
    rental = rentals[action]
    before = ledger_snapshot(rental)

    response = client.post(admin_url(action, rental), valid_post(action, rental))

    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    assert ledger_snapshot(rental) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_staff_without_the_permission_gets_403_and_nothing_changes(client, rentals, action):
    rental = rentals[action]
    client.force_login(plain_staff())
    before = ledger_snapshot(rental)

    get = client.get(admin_url(action, rental))
    post = client.post(admin_url(action, rental), valid_post(action, rental))

    assert (get.status_code, post.status_code) == (403, 403)
    assert ledger_snapshot(rental) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_counter_clerk_can_do_every_counter_action(client, rentals, action, assert_ledger):
    rental = rentals[action]
    client.force_login(staff_in_group("counter"))
    before = ledger_snapshot(rental)

    page = client.get(admin_url(action, rental))
    response = client.post(admin_url(action, rental), valid_post(action, rental))

    assert page.status_code == 200
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert response["Location"] == reverse("admin:rentals_rental_change", args=[rental.pk])
    assert ledger_snapshot(rental) != before
    assert_ledger(rental)


@pytest.mark.parametrize("action", ["return", "pickup", "cancel", "payment"])
def test_finance_cannot_move_rentals_or_take_payments(client, rentals, action):
    rental = rentals[action]
    client.force_login(staff_in_group("finance"))
    before = ledger_snapshot(rental)

    response = client.post(admin_url(action, rental), valid_post(action, rental))

    assert response.status_code == 403
    assert ledger_snapshot(rental) == before


def test_finance_sees_the_dashboard_and_export_but_counter_does_not(client, rentals):
    finance, counter = staff_in_group("finance"), staff_in_group("counter")

    client.force_login(finance)
    finance_dashboard, finance_export = client.get(DASHBOARD), client.get(EXPORT)
    finance_index = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(counter)
    counter_dashboard, counter_export = client.get(DASHBOARD), client.get(EXPORT)
    counter_index = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")

    assert (finance_dashboard.status_code, finance_export.status_code) == (200, 200)
    assert (counter_dashboard.status_code, counter_export.status_code) == (403, 403)
    assert DASHBOARD.encode() in finance_index.content
    assert DASHBOARD.encode() not in counter_index.content


def test_dashboard_and_export_send_non_staff_to_the_login(client, rentals):
    client.force_login(non_staff())

    for url in (DASHBOARD, EXPORT):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))


def test_buttons_follow_the_permissions(client, rentals):
    on_road = rentals["return"]
    url = reverse("admin:rentals_rental_change", args=[on_road.pk])

    client.force_login(staff_in_group("counter"))
    counter_keys = [a["key"] for a in client.get(url).context["rental_actions"]]
    client.force_login(staff_in_group("finance"))
    finance_keys = [a["key"] for a in client.get(url).context["rental_actions"]]

    assert counter_keys == ["return", "refund", "cancel"]
    assert finance_keys == ["refund"]
