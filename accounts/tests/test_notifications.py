"""Notifications page, unread count in the navbar, mark as read (SPEC §7)."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Notification
from accounts.tests.factories import NotificationFactory
from customers.tests.factories import CustomerFactory
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rental(customer):
    return RentalFactory(customer=customer)


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def test_list_shows_own_notifications_and_unread_count_in_navbar(customer_client, rental):
    NotificationFactory.create_batch(3, rental=rental, title="Payment received")
    NotificationFactory(rental=rental, is_read=True, title="Old news")
    NotificationFactory(rental=RentalFactory(customer=CustomerFactory()), title="Someone else's")

    response = customer_client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="en")

    body = response.content.decode()
    assert response.status_code == 200
    assert len(response.context["notifications"]) == 4
    assert "Someone else&#x27;s" not in body and "Someone else's" not in body
    assert 'data-unread-count="3"' in body
    # the navbar badge is on every page
    assert 'data-unread-count="3"' in customer_client.get(reverse("vehicles:list")).content.decode()


def test_mark_one_read_goes_to_its_order(customer_client, rental):
    note = NotificationFactory(rental=rental)
    response = customer_client.post(
        reverse("accounts:notification_read", args=[note.pk]), {"next": rental.get_absolute_url()}
    )
    assert response.status_code == 302 and response["Location"] == rental.get_absolute_url()
    note.refresh_from_db()
    assert note.is_read
    assert "data-unread-count" not in customer_client.get(reverse("accounts:notifications")).content.decode()


def test_mark_all_read(customer_client, customer, rental):
    NotificationFactory.create_batch(3, rental=rental)
    other = NotificationFactory(rental=RentalFactory(customer=CustomerFactory()))
    response = customer_client.post(reverse("accounts:notifications_read_all"))
    assert response.status_code == 302
    assert not Notification.objects.filter(user=customer.user, is_read=False).exists()
    other.refresh_from_db()
    assert not other.is_read


def test_other_users_notification_is_404_and_get_is_not_allowed(customer_client):
    note = NotificationFactory(rental=RentalFactory(customer=CustomerFactory()))
    assert customer_client.post(reverse("accounts:notification_read", args=[note.pk])).status_code == 404
    assert customer_client.get(reverse("accounts:notifications_read_all")).status_code == 405
    note.refresh_from_db()
    assert not note.is_read


def test_mark_read_ignores_offsite_next(customer_client, rental):
    note = NotificationFactory(rental=None, user=rental.customer.user)
    response = customer_client.post(
        reverse("accounts:notification_read", args=[note.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("accounts:notifications")


def test_mark_read_forms_are_csrf_protected(customer, rental):
    note = NotificationFactory(rental=rental)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer.user)
    assert strict.post(reverse("accounts:notification_read", args=[note.pk])).status_code == 403
    assert strict.post(reverse("accounts:notifications_read_all")).status_code == 403
    note.refresh_from_db()
    assert not note.is_read
