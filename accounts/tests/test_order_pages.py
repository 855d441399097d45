"""My orders and order detail (SPEC §7, §10)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.factories import PaymentFactory, PendingChargeFactory, RefundFactory, ReviewFactory
from customers.tests.factories import CustomerFactory, WalkInCustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def make_rental(customer, vehicle=None, *, status=Rental.Status.PENDING, paid=None, refunded=None, **kwargs):
    extra = {"vehicle": vehicle} if vehicle is not None else {}
    rental = RentalFactory(customer=customer, **extra, **kwargs)
    if status != Rental.Status.PENDING:
        Rental.objects.filter(pk=rental.pk).update(status=status)
        rental.refresh_from_db()
    if paid:
        PaymentFactory(rental=rental, amount=Decimal(paid))
    if refunded:
        RefundFactory(rental=rental, amount=Decimal(refunded))
    rental.refresh_financials()
    return rental


def badges(response) -> dict[int, str]:
    return {row.rental.pk: row.badge for row in response.context["rows"]}


def test_my_orders_lists_own_orders_with_status_and_payment_badges(customer_client, customer):
    to_pay = make_rental(customer)
    paid = make_rental(customer, paid="2900.00")
    refund_pending = make_rental(customer, status=Rental.Status.COMPLETED, paid="2900.00")
    settled = make_rental(customer, status=Rental.Status.CANCELLED)
    someone_elses = make_rental(CustomerFactory())

    response = customer_client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert badges(response) == {
        to_pay.pk: "to_pay",
        paid.pk: "paid",
        refund_pending.pk: "refund_pending",
        settled.pk: "settled",
    }
    body = response.content.decode()
    assert someone_elses.get_absolute_url() not in body
    for label in ("To pay", "Paid in full", "Refund pending", "Settled"):
        assert label in body
    assert 'data-payment-badge="to_pay"' in body and 'data-status="CANCELLED"' in body
    # what to do next
    assert reverse("accounts:pay", args=[to_pay.pk]) in body
    assert reverse("rentals:cancel", args=[to_pay.pk]) in body
    assert reverse("rentals:cancel", args=[settled.pk]) not in body
    assert reverse("accounts:pay", args=[paid.pk]) not in body
    assert reverse("accounts:review", args=[refund_pending.pk]) in body


def test_order_detail_shows_breakdown_figures_and_every_transaction(customer_client, customer, vehicle, other_location):
    rental = make_rental(customer, vehicle, return_location=other_location)
    charge = PaymentFactory(rental=rental, amount=Decimal("1000.00"), payment_method=Payment.Method.ALIPAY)
    failed = PaymentFactory(
        rental=rental,
        amount=Decimal("2100.00"),
        status=Payment.Status.FAILED,
        paid_at=None,
        failure_reason="Card declined by the bank",
    )
    refund = RefundFactory(rental=rental, amount=Decimal("100.00"), payment_method=Payment.Method.ALIPAY)
    rental.refresh_financials()

    response = customer_client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert response.context["summary"] == {
        "paid_amount": Decimal("1000.00"),
        "refunded_amount": Decimal("100.00"),
        "net_paid": Decimal("900.00"),
        "order_total_amount": Decimal("3100.00"),
        "remaining_amount": Decimal("2200.00"),
        "refund_due": Decimal("0.00"),
        "refund_in_flight": Decimal("0.00"),
    }
    body = response.content.decode()
    for text in ("¥900.00", "¥2,000.00", "¥200.00", "¥3,100.00", "¥1,000.00", "¥2,200.00", "Rent: 3 days × ¥300.00"):
        assert text in body
    for payment in (charge, failed, refund):
        assert f'data-transaction-id="{payment.transaction_id}"' in body
    assert "Alipay" in body and "Failed" in body and "Refunded" in body
    assert timezone.localtime(charge.paid_at).strftime("%Y-%m-%d %H:%M") in body
    # pay and cancel allowed; the failure reason of the latest failed charge is shown
    assert 'id="pay-button"' in body and "Pay ¥2,200.00" in body
    assert 'id="cancel-button"' in body
    # in the customer's words; the provider's own text stays on the row for staff
    assert 'id="payment-failure"' in body and "the payment provider declined the payment" in body
    assert "Card declined by the bank" not in body


def test_no_pay_button_when_nothing_remains_and_no_cancel_unless_pending(customer_client, customer):
    paid = make_rental(customer, paid="2900.00")
    body = customer_client.get(paid.get_absolute_url()).content.decode()
    assert 'id="pay-button"' not in body and 'id="cancel-button"' in body

    ongoing = make_rental(customer, status=Rental.Status.ONGOING, paid="100.00")
    body = customer_client.get(ongoing.get_absolute_url()).content.decode()
    assert 'id="pay-button"' in body and 'id="cancel-button"' not in body

    cancelled_owing = make_rental(customer, status=Rental.Status.CANCELLED)
    Rental.objects.filter(pk=cancelled_owing.pk).update(cancellation_fee=Decimal("50.00"))
    body = customer_client.get(cancelled_owing.get_absolute_url()).content.decode()
    # a cancelled order can't be paid online even when it owes a fee (SPEC §5)
    assert 'id="pay-button"' not in body and 'id="cancel-button"' not in body


def test_completed_order_that_still_owes_can_be_paid(client, vip_customer):
    client.force_login(vip_customer.user)
    rental = make_rental(vip_customer, status=Rental.Status.COMPLETED, paid="765.00")
    Rental.objects.filter(pk=rental.pk).update(overdue_fee=Decimal("900.00"))
    body = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="pay-button"' in body and "Pay ¥900.00" in body and "Overdue fee" in body


def test_manual_refund_line(customer_client, customer):
    rental = make_rental(customer, status=Rental.Status.CANCELLED, paid="2900.00")
    Rental.objects.filter(pk=rental.pk).update(requires_manual_refund=True)
    body = customer_client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="manual-refund-note"' in body
    assert "¥2,900.00 is due back to you. Our staff will refund it by hand" in body


def test_open_charge_is_listed_as_pending(customer_client, customer):
    rental = make_rental(customer)
    charge = PendingChargeFactory(rental=rental, amount=Decimal("2900.00"))
    body = customer_client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'data-transaction-id="{charge.transaction_id}" data-type="CHARGE" data-status="PENDING"' in body


def test_review_shown_once_written(customer_client, customer):
    rental = make_rental(customer, status=Rental.Status.COMPLETED, paid="900.00")
    ReviewFactory(rental=rental, rating=4, comment="Smooth")
    body = customer_client.get(rental.get_absolute_url()).content.decode()
    assert 'id="review"' in body and "★★★★☆" in body and 'id="review-button"' not in body


def test_other_customers_order_and_pay_page_are_404(client, customer):
    rental = make_rental(customer)
    client.force_login(CustomerFactory().user)
    assert client.get(rental.get_absolute_url()).status_code == 404
    assert client.get(reverse("accounts:pay", args=[rental.pk])).status_code == 404
    assert client.post(reverse("accounts:pay", args=[rental.pk]), {"payment_method": "ALIPAY"}).status_code == 404
    assert client.get(reverse("accounts:review", args=[rental.pk])).status_code == 404
    walk_in_order = make_rental(WalkInCustomerFactory())
    assert client.get(walk_in_order.get_absolute_url()).status_code == 404


@pytest.mark.parametrize("url_name", ["accounts:orders", "accounts:consumption_report", "accounts:notifications"])
def test_anonymous_is_sent_to_login(client, url_name):
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302 and response["Location"] == f"{reverse('accounts:login')}?next={url}"


def test_anonymous_order_detail_goes_to_login(client, customer):
    rental = make_rental(customer)
    response = client.get(rental.get_absolute_url())
    assert response["Location"] == f"{reverse('accounts:login')}?next={rental.get_absolute_url()}"


def test_pages_refresh_statuses_by_time(customer_client, customer, time_machine):
    rental = make_rental(customer, paid="100.00")
    time_machine.move_to(rental.start_time + timedelta(hours=1))
    response = customer_client.get(reverse("accounts:orders"))
    assert badges(response)  # rendered
    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING
    assert response.context["rows"][0].rental.status == Rental.Status.ONGOING


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_every_customer_page_renders_in_both_languages(client, customer, vehicle, language):
    pending = make_rental(customer, vehicle, paid="100.00")
    completed = make_rental(
        customer,
        vehicle,
        status=Rental.Status.COMPLETED,
        paid="2900.00",
        start_time=pending.start_time + timedelta(days=10),
        end_time=pending.end_time + timedelta(days=10),
    )
    anonymous_pages = [reverse("accounts:login"), reverse("accounts:register")]
    customer_pages = [
        reverse("vehicles:home"),
        reverse("vehicles:detail", args=[vehicle.pk]),
        reverse("rentals:new", args=[vehicle.pk]),
        reverse("accounts:orders"),
        pending.get_absolute_url(),
        reverse("rentals:cancel", args=[pending.pk]),
        reverse("accounts:review", args=[completed.pk]),
        reverse("accounts:consumption_report"),
        reverse("accounts:notifications"),
    ]
    for url in anonymous_pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200 and f'<html lang="{language}">' in response.content.decode(), url
    client.force_login(customer.user)
    for url in customer_pages:
        response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        body = response.content.decode()
        assert response.status_code == 200, url
        assert f'<html lang="{language}">' in body, url
        assert "Traceback" not in body, url
