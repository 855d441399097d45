"""The pay page, the sandbox checkout page and the return page (SPEC §5, §6, §7)."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts import services
from accounts.models import Notification, Payment
from accounts.providers.sandbox import build_callback
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


@pytest.fixture
def rental(customer, vehicle):
    return RentalFactory(customer=customer, vehicle=vehicle)


@pytest.fixture
def owner(client, rental):
    client.force_login(rental.customer.user)
    return client


@pytest.fixture
def stranger(rental):
    other = Client()
    other.force_login(CustomerFactory().user)
    return other


def _pay_url(rental):
    return reverse("accounts:pay", args=[rental.pk])


def _charge(rental):
    return services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=rental.customer.user)


# --- pay page -------------------------------------------------------------------------


def test_pay_page_shows_the_server_amount_and_the_three_methods(owner, rental):
    response = owner.get(_pay_url(rental), **EN)

    assert response.status_code == 200
    html = response.content.decode()
    assert "¥2,900.00" in html
    for method in ("ALIPAY", "WECHAT", "BANK"):
        assert f'value="{method}"' in html
    assert 'value="CASH"' not in html
    assert 'name="expected_amount"' in html and 'value="2900.00"' in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_posting_the_pay_form_creates_a_charge_and_sends_the_browser_to_the_provider(owner, rental, assert_ledger):
    response = owner.post(_pay_url(rental), {"payment_method": "WECHAT", "expected_amount": "2900.00"})

    charge = Payment.objects.get(rental=rental)
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:sandbox_checkout", args=[charge.transaction_id])
    assert (charge.status, charge.amount, charge.payment_method) == ("PENDING", Decimal("2900.00"), "WECHAT")
    assert_ledger(rental)


def test_a_double_submit_goes_to_the_same_charge(owner, rental):
    data = {"payment_method": "ALIPAY", "expected_amount": "2900.00"}
    first = owner.post(_pay_url(rental), data)
    second = owner.post(_pay_url(rental), data)
    assert first["Location"] == second["Location"]
    assert Payment.objects.filter(rental=rental).count() == 1


def test_a_forged_amount_in_the_form_is_never_charged(owner, rental, assert_ledger):
    response = owner.post(_pay_url(rental), {"payment_method": "ALIPAY", "expected_amount": "1.00"}, follow=True, **EN)

    assert not Payment.objects.exists()
    assert response.status_code == 200
    assert "The amount due has changed to ¥2,900.00" in response.content.decode()
    assert_ledger(rental)


def test_an_invalid_form_charges_nothing(owner, rental):
    response = owner.post(_pay_url(rental), {"payment_method": "CASH", "expected_amount": "2900.00"}, **EN)
    assert response.status_code == 200
    assert not Payment.objects.exists()
    response = owner.post(_pay_url(rental), {"payment_method": "ALIPAY"}, **EN)
    assert response.status_code == 200
    assert not Payment.objects.exists()


def test_a_cancelled_order_has_nothing_to_pay(owner, rental):
    from rentals.services import cancel_rental

    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    response = owner.get(_pay_url(rental), **EN)
    assert response.status_code == 200
    assert 'id="not-payable"' in response.content.decode()
    assert 'id="payment-form"' not in response.content.decode()
    response = owner.post(_pay_url(rental), {"payment_method": "ALIPAY", "expected_amount": "0.00"})
    assert response.status_code == 302
    assert not Payment.objects.exists()


def test_the_pay_form_is_csrf_protected(rental):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(rental.customer.user)

    response = strict.post(_pay_url(rental), {"payment_method": "ALIPAY", "expected_amount": "2900.00"})

    assert response.status_code == 403
    assert not Payment.objects.exists()
    # With the token from the page it goes through.
    page = strict.get(_pay_url(rental))
    token = page.context["csrf_token"]
    response = strict.post(
        _pay_url(rental), {"payment_method": "ALIPAY", "expected_amount": "2900.00", "csrfmiddlewaretoken": str(token)}
    )
    assert response.status_code == 302
    assert Payment.objects.count() == 1


def test_a_pay_page_in_progress_offers_to_continue(owner, rental):
    charge = _charge(rental)
    response = owner.get(_pay_url(rental), **EN)
    html = response.content.decode()
    assert 'id="open-charge"' in html
    assert reverse("payments:sandbox_checkout", args=[charge.transaction_id]) in html


def test_pay_page_query_budget(owner, rental, django_assert_max_num_queries):
    # session, user, throttled status refresh (unpaid bookings to release, then
    # 2 selects in 2 savepoints), rental (+car, customer, stores), ledger sums,
    # open charge, navbar unread count
    with django_assert_max_num_queries(13):
        assert owner.get(_pay_url(rental)).status_code == 200


# --- access ---------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_log_in(client, rental):
    charge = _charge(rental)
    for url in (
        _pay_url(rental),
        reverse("payments:sandbox_checkout", args=[charge.transaction_id]),
        reverse("payments:return", args=[charge.transaction_id]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
        assert "next=" in response["Location"]


def test_another_customers_pages_are_404(stranger, rental, assert_ledger):
    charge = _charge(rental)
    assert stranger.get(_pay_url(rental)).status_code == 404
    assert (
        stranger.post(_pay_url(rental), {"payment_method": "ALIPAY", "expected_amount": "2900.00"}).status_code == 404
    )
    sandbox_url = reverse("payments:sandbox_checkout", args=[charge.transaction_id])
    assert stranger.get(sandbox_url).status_code == 404
    assert stranger.post(sandbox_url, {"outcome": "succeeded"}).status_code == 404
    assert stranger.get(reverse("payments:return", args=[charge.transaction_id])).status_code == 404
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert Payment.objects.count() == 1
    assert_ledger(rental)


def test_unknown_order_and_transaction_are_404(owner):
    assert owner.get(reverse("accounts:pay", args=[999999])).status_code == 404
    assert owner.get(reverse("payments:sandbox_checkout", args=["PAYNOPE"])).status_code == 404
    assert owner.get(reverse("payments:return", args=["PAYNOPE"])).status_code == 404


# --- sandbox checkout page ----------------------------------------------------------------


def test_sandbox_page_shows_order_amount_method_and_three_outcomes(owner, rental):
    charge = _charge(rental)
    response = owner.get(reverse("payments:sandbox_checkout", args=[charge.transaction_id]), **EN)
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Order #{rental.pk}" in html
    assert "¥2,900.00" in html and "Alipay" in html
    for outcome in ("succeeded", "failed", "cancelled"):
        assert f'name="outcome" value="{outcome}"' in html
    assert 'name="failure_reason"' in html


def test_sandbox_success_signs_a_callback_marks_paid_and_returns_to_the_order(owner, rental, assert_ledger):
    charge = _charge(rental)

    response = owner.post(reverse("payments:sandbox_checkout", args=[charge.transaction_id]), {"outcome": "succeeded"})

    assert response.status_code == 302
    assert response["Location"] == rental.get_absolute_url()
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    # It went through the real callback path: a signed, accepted event with a receipt.
    event = charge.events.get(event="callback_received")
    assert event.payload["verdict"] == "accepted"
    assert charge.callback_receipts.count() == 1
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert assert_ledger(rental)["remaining"] == Decimal("0.00")


def test_sandbox_failure_records_the_reason_and_the_order_is_payable_again(owner, rental, assert_ledger):
    charge = _charge(rental)

    response = owner.post(
        reverse("payments:sandbox_checkout", args=[charge.transaction_id]),
        {"outcome": "failed", "failure_reason": "Insufficient funds"},
        follow=True,
        **EN,
    )

    charge.refresh_from_db()
    assert charge.status == Payment.Status.FAILED
    assert charge.failure_reason == "Insufficient funds"
    notice = Notification.objects.get(notification_type="PAYMENT_FAILED")
    assert "支付机构拒绝了此次支付" in notice.message and notice.params["reason"] == "Insufficient funds"
    assert response.redirect_chain[-1][0] == rental.get_absolute_url()
    assert "the payment provider declined the payment" in response.content.decode()
    assert "Insufficient funds" not in response.content.decode()  # the provider's words are for staff
    again = owner.post(_pay_url(rental), {"payment_method": "ALIPAY", "expected_amount": "2900.00"})
    assert again.status_code == 302
    assert Payment.objects.filter(rental=rental, status=Payment.Status.PENDING).count() == 1
    assert_ledger(rental)


def test_a_failed_payment_is_announced_once_on_the_order_page(owner, rental):
    charge = _charge(rental)

    response = owner.post(
        reverse("payments:sandbox_checkout", args=[charge.transaction_id]),
        {"outcome": "failed", "failure_reason": "Card declined"},
        follow=True,
        **EN,
    )

    body = response.content.decode()
    # one announcement (the banner next to the pay button), no flash message;
    # the transaction list still names the reason on the failed charge's row
    assert body.count("did not go through") == 1
    assert 'id="payment-failure"' in body and "The payment provider declined the payment" in body
    assert "Card declined" not in body  # the provider's words are for staff
    assert Payment.objects.get(pk=charge.pk).failure_reason == "Card declined"
    assert "data-message-level" not in body


def test_a_failure_on_an_order_with_nothing_left_to_pay_is_told_by_a_message(owner, rental):
    # given: an open charge on an order that no longer takes payments
    charge = _charge(rental)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.CANCELLED)
    # when
    response = owner.post(
        reverse("payments:sandbox_checkout", args=[charge.transaction_id]),
        {"outcome": "failed", "failure_reason": "Card declined"},
        follow=True,
        **EN,
    )
    # then: no banner (nothing to pay), so a message says it, without "pay again"
    body = response.content.decode()
    assert 'id="payment-failure"' not in body
    assert [str(m) for m in response.context["messages"]] == [
        "The payment did not go through: the payment provider declined the payment."
    ]


def test_sandbox_cancel_closes_the_charge(owner, rental, assert_ledger):
    charge = _charge(rental)
    owner.post(reverse("payments:sandbox_checkout", args=[charge.transaction_id]), {"outcome": "cancelled"})
    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert_ledger(rental)


def test_sandbox_rejects_an_unknown_outcome_and_a_closed_charge(owner, rental, assert_ledger):
    charge = _charge(rental)
    url = reverse("payments:sandbox_checkout", args=[charge.transaction_id])
    assert owner.post(url, {"outcome": "paid"}).status_code == 400
    assert owner.post(url).status_code == 400
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING

    owner.post(url, {"outcome": "succeeded"})
    response = owner.post(url, {"outcome": "failed"})
    assert response.status_code == 302
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert 'id="sandbox-form"' not in owner.get(url).content.decode()
    assert_ledger(rental)


def test_the_sandbox_form_is_csrf_protected(rental):
    charge = _charge(rental)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(rental.customer.user)
    response = strict.post(reverse("payments:sandbox_checkout", args=[charge.transaction_id]), {"outcome": "succeeded"})
    assert response.status_code == 403
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING


# --- return page ------------------------------------------------------------------------


def test_return_page_shows_processing_and_refreshes_until_the_callback_arrives(owner, rental):
    charge = _charge(rental)
    url = reverse("payments:return", args=[charge.transaction_id])

    response = owner.get(url, **EN)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'http-equiv="refresh"' in html
    assert "Processing" in html
    assert 'data-processing="true"' in html

    headers, body = build_callback(transaction_id=charge.transaction_id, status="succeeded", amount=charge.amount)
    services.handle_callback(provider="sandbox", headers=headers, body=body)
    html = owner.get(url, **EN).content.decode()
    assert 'http-equiv="refresh"' not in html
    assert "Payment received" in html
    assert 'data-status="PAID"' in html


def test_return_page_after_a_failure_offers_to_pay_again(owner, rental):
    charge = _charge(rental)
    headers, body = build_callback(
        transaction_id=charge.transaction_id, status="failed", amount=charge.amount, failure_reason="Card expired"
    )
    services.handle_callback(provider="sandbox", headers=headers, body=body)

    html = owner.get(reverse("payments:return", args=[charge.transaction_id]), **EN).content.decode()
    assert 'http-equiv="refresh"' not in html
    assert "Reason: the payment provider declined the payment." in html
    assert "Card expired" not in html
    assert f'href="{_pay_url(rental)}"' in html


def test_staff_without_a_customer_profile_see_no_customer_payment_pages(client, rental, staff_user):
    charge = _charge(rental)
    client.force_login(staff_user)
    assert client.get(_pay_url(rental)).status_code == 404
    assert client.get(reverse("payments:return", args=[charge.transaction_id])).status_code == 404
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING
