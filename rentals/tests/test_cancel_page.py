"""Cancel page /rentals/<pk>/cancel/ (SPEC §5 "Cancelling", §7)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, Payment
from accounts.tests.factories import PaymentFactory, PendingChargeFactory
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rental(customer, vehicle):
    """A booking starting in two days: cancelled now, it is free (SPEC §19)."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    return RentalFactory(customer=customer, vehicle=vehicle, start_time=start, end_time=start + timedelta(days=3))


@pytest.fixture
def paid_rental(rental):
    PaymentFactory(rental=rental, amount=Decimal("2900.00"), payment_method=Payment.Method.WECHAT)
    rental.refresh_financials()
    return rental


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def test_confirm_page_shows_the_refund_that_will_happen(customer_client, paid_rental):
    response = customer_client.get(reverse("rentals:cancel", args=[paid_rental.pk]), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response.context["refund_preview"] == Decimal("2900.00")
    body = response.content.decode()
    assert 'id="refund-preview" data-amount="2900.00">¥2,900.00' in body
    assert 'name="reason"' in body and "csrfmiddlewaretoken" in body


def test_cancel_requires_a_reason_and_changes_nothing_without_one(customer_client, paid_rental, assert_ledger):
    response = customer_client.post(
        reverse("rentals:cancel", args=[paid_rental.pk]), {"reason": "   "}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "Please tell us why you are cancelling." in response.content.decode()
    paid_rental.refresh_from_db()
    assert paid_rental.status == Rental.Status.PENDING
    assert not Payment.objects.filter(transaction_type=Payment.TransactionType.REFUND).exists()
    assert_ledger(paid_rental)


def test_cancel_refunds_net_paid_and_the_order_page_says_so(customer_client, customer, paid_rental, assert_ledger):
    # when
    response = customer_client.post(
        reverse("rentals:cancel", args=[paid_rental.pk]), {"reason": "Plans changed"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    # then
    assert response.status_code == 302 and response["Location"] == paid_rental.get_absolute_url()
    paid_rental.refresh_from_db()
    assert paid_rental.status == Rental.Status.CANCELLED and paid_rental.cancel_reason == "Plans changed"
    refund = Payment.objects.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("2900.00") and refund.status == Payment.Status.REFUNDED
    assert refund.payment_method == Payment.Method.WECHAT and refund.user == customer.user
    figures = assert_ledger(paid_rental)
    assert figures["settlement_status"] == "SETTLED"
    page = customer_client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert "¥2,900.00 has been refunded to your WeChat Pay." in body
    assert refund.transaction_id in body and "Plans changed" in body
    assert set(Notification.objects.filter(user=customer.user).values_list("notification_type", flat=True)) == {
        Notification.Type.ORDER_CANCELLED,
        Notification.Type.REFUND_ISSUED,
    }


def test_cancel_unpaid_order_says_nothing_to_refund(customer_client, rental, assert_ledger):
    response = customer_client.post(
        reverse("rentals:cancel", args=[rental.pk]),
        {"reason": "Found a cheaper car"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "Nothing had been paid, so there is nothing to refund." in response.content.decode()
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert not Payment.objects.exists()
    assert assert_ledger(rental)["settlement_status"] == "SETTLED"


def test_cancel_closes_an_open_charge(customer_client, rental, assert_ledger):
    charge = PendingChargeFactory(rental=rental, amount=Decimal("2900.00"))
    page = customer_client.get(reverse("rentals:cancel", args=[rental.pk]))
    assert 'id="open-charge-note"' in page.content.decode()
    customer_client.post(reverse("rentals:cancel", args=[rental.pk]), {"reason": "No longer needed"})
    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert_ledger(rental)


@pytest.mark.parametrize("status", [Rental.Status.ONGOING, Rental.Status.COMPLETED, Rental.Status.CANCELLED])
def test_only_pending_orders_can_be_cancelled_here(customer_client, rental, status):
    Rental.objects.filter(pk=rental.pk).update(status=status)
    url = reverse("rentals:cancel", args=[rental.pk])
    assert customer_client.get(url)["Location"] == rental.get_absolute_url()
    response = customer_client.post(url, {"reason": "try"})
    assert response.status_code == 302
    rental.refresh_from_db()
    assert rental.status == status


def test_another_customers_order_is_404(client, paid_rental):
    stranger = CustomerFactory()
    client.force_login(stranger.user)
    url = reverse("rentals:cancel", args=[paid_rental.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"reason": "mine now"}).status_code == 404
    paid_rental.refresh_from_db()
    assert paid_rental.status == Rental.Status.PENDING


def test_anonymous_goes_to_login(client, rental):
    url = reverse("rentals:cancel", args=[rental.pk])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_cancel_is_csrf_protected(customer, rental):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(customer.user)
    assert strict.post(reverse("rentals:cancel", args=[rental.pk]), {"reason": "x"}).status_code == 403
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING
