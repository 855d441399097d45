"""One review per completed order (SPEC §3 Review)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.models import Review
from accounts.tests.factories import PaymentFactory
from customers.tests.factories import CustomerFactory
from rentals import reviews
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def completed(customer):
    rental = RentalFactory(customer=customer)
    PaymentFactory(rental=rental, amount=Decimal("900.00"))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.COMPLETED)
    rental.refresh_from_db()
    rental.refresh_financials()
    return rental


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def test_review_a_completed_order_once(customer_client, completed):
    url = reverse("accounts:review", args=[completed.pk])
    assert customer_client.get(url).status_code == 200
    response = customer_client.post(url, {"rating": "4", "comment": " Clean car "})
    assert response.status_code == 302 and response["Location"] == completed.get_absolute_url()
    review = Review.objects.get()
    assert (review.rental_id, review.rating, review.comment) == (completed.pk, 4, "Clean car")
    # a second attempt is turned away and writes nothing
    again = customer_client.post(url, {"rating": "1"})
    assert again.status_code == 302 and Review.objects.count() == 1


def test_pending_order_cannot_be_reviewed(customer_client, customer):
    rental = RentalFactory(customer=customer)
    response = customer_client.post(reverse("accounts:review", args=[rental.pk]), {"rating": "5"})
    assert response.status_code == 302 and not Review.objects.exists()


def test_rating_must_be_1_to_5(customer_client, completed):
    response = customer_client.post(reverse("accounts:review", args=[completed.pk]), {"rating": "9"})
    assert response.status_code == 200 and "rating" in response.context["form"].errors
    assert not Review.objects.exists()


def test_another_customers_order_is_404(client, completed):
    client.force_login(CustomerFactory().user)
    assert client.post(reverse("accounts:review", args=[completed.pk]), {"rating": "1"}).status_code == 404
    assert not Review.objects.exists()


def test_create_review_service_rules(completed, customer):
    reviews.create_review(rental=completed, rating=5, by_user=customer.user)
    with pytest.raises(ValidationError):
        reviews.create_review(rental=completed, rating=5, by_user=customer.user)
    with pytest.raises(ValidationError):
        reviews.create_review(rental=RentalFactory(customer=customer), rating=5)
    assert Review.objects.count() == 1


def test_review_form_is_csrf_protected(customer, completed):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer.user)
    assert strict.post(reverse("accounts:review", args=[completed.pk]), {"rating": "5"}).status_code == 403
