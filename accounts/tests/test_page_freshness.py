"""What the cheaper signed-in pages reuse between requests never includes a
money figure or a count that a write can change: a confirmed payment, a new
notice or a language switch shows on the very next page view."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts import services
from accounts.models import Notification
from accounts.providers.sandbox import build_callback
from accounts.tests.factories import PendingChargeFactory
from rentals.services import STATUS_REFRESH_CACHE_KEY, refresh_statuses_if_due
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def signed_in(client, customer):
    client.force_login(customer.user)
    return client


def _confirm(charge) -> None:
    headers, body = build_callback(transaction_id=charge.transaction_id, status="succeeded", amount=charge.amount)
    assert services.handle_callback(provider="sandbox", headers=headers, body=body)[0] == 200


def test_a_confirmed_payment_shows_on_the_next_view_of_the_order_and_pay_pages(signed_in, customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = PendingChargeFactory(rental=rental, amount=rental.order_total, provider="sandbox")
    detail = reverse("accounts:order_detail", args=[rental.pk])
    pay = reverse("accounts:pay", args=[rental.pk])
    status = reverse("payments:status", args=[charge.transaction_id])
    for _ in range(2):  # rendered twice: whatever is reused between renders is in place
        before = signed_in.get(detail, **EN).content.decode()
        signed_in.get(pay, **EN)
    assert 'data-summary="paid_amount">¥0.00<' in before
    assert signed_in.get(status).json()["status"] == "PENDING"

    _confirm(charge)

    after = signed_in.get(detail, **EN).content.decode()
    paid = f"¥{rental.order_total:,.2f}"
    assert f'data-summary="paid_amount">{paid}<' in after
    assert 'data-summary="remaining_amount">¥0.00<' in after
    assert 'id="pay-button"' not in after
    assert 'id="not-payable"' in signed_in.get(pay, **EN).content.decode()
    assert signed_in.get(status).json()["status"] == "PAID"


def test_the_navbar_unread_count_follows_new_and_read_notices(signed_in, customer):
    orders = reverse("accounts:orders")
    assert "data-unread-count" not in signed_in.get(orders).content.decode()
    notice = Notification.objects.create(
        user=customer.user, notification_type=Notification.Type.PAYMENT_SUCCESS, title="t"
    )
    assert 'data-unread-count="1"' in signed_in.get(orders).content.decode()
    signed_in.post(reverse("accounts:notification_read", args=[notice.pk]))
    assert "data-unread-count" not in signed_in.get(orders).content.decode()


def test_constant_translations_and_urls_follow_the_language_of_each_request(signed_in):
    orders = reverse("accounts:orders")
    for _ in range(2):
        chinese = signed_in.get(orders, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
        english = signed_in.get(orders, **EN).content.decode()
        assert "我的订单" in chinese and "My orders" not in chinese
        assert "My orders" in english and "我的订单" not in english
        assert f'href="{reverse("accounts:consumption_report")}"' in chinese


def test_with_a_beat_pages_leave_the_status_refresh_to_it(settings, django_assert_num_queries):
    settings.RENTAL_STATUS_REFRESH_BY_BEAT = True
    cache.delete(STATUS_REFRESH_CACHE_KEY)
    with django_assert_num_queries(0):
        assert refresh_statuses_if_due() is None
    assert cache.get(STATUS_REFRESH_CACHE_KEY) is None


def test_the_charge_status_answers_for_the_customers_own_charges_only(signed_in, customer, vehicle):
    from customers.tests.factories import CustomerFactory

    mine = PendingChargeFactory(rental=RentalFactory(customer=customer, vehicle=vehicle), provider="sandbox")
    theirs = PendingChargeFactory(rental=RentalFactory(customer=CustomerFactory()), provider="sandbox")
    answer = signed_in.get(reverse("payments:status", args=[mine.transaction_id]))
    assert answer.status_code == 200
    assert answer.json() == {
        "transaction_id": mine.transaction_id,
        "status": "PENDING",
        "open": True,
        "next_url": reverse("payments:return", args=[mine.transaction_id]),
    }
    assert answer["Cache-Control"] == "no-store"
    assert signed_in.get(reverse("payments:status", args=[theirs.transaction_id])).status_code == 404
    assert signed_in.get(reverse("payments:status", args=["-730000001"])).status_code == 404
