"""Why a payment or refund failed, in the customer's words and language.

The provider's own text (``Payment.failure_reason``: "Declined by the bank",
"The sandbox refused the refund") stays on the row for staff; customers read
the reason by its code, and each sentence ends with one full stop."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from accounts import services
from accounts.models import Notification, Payment
from accounts.tests.factories import PaymentFactory
from accounts.tests.payment_support import deliver, success_payload
from rentals.services import cancel_rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rental(customer, vehicle):
    return RentalFactory(customer=customer, vehicle=vehicle)


def _declined(client, rental, reason: str) -> Payment:
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=rental.customer.user)
    deliver(client, success_payload(charge, event_id="evt_declined", status="failed", failure_reason=reason))
    charge.refresh_from_db()
    return charge


@pytest.mark.parametrize(
    ("kind", "status", "zh", "en"),
    [
        ("CHARGE", "FAILED", "支付机构拒绝了此次支付", "the payment provider declined the payment"),
        ("CHARGE", "CANCELLED", "支付已取消", "the payment was cancelled"),
        ("CHARGE", "EXPIRED", "支付已超时", "the time to pay ran out"),
        ("REFUND", "FAILED", "支付机构拒绝了退款", "the payment provider refused the refund"),
        ("CHARGE", "PAID", "", ""),
    ],
)
def test_each_failure_has_the_customers_words_in_each_language(kind, status, zh, en):
    payment = Payment(transaction_type=kind, status=status, failure_reason="The sandbox refused the refund")

    with translation.override("zh-hans"):
        assert payment.customer_failure_reason == zh
    with translation.override("en"):
        assert payment.customer_failure_reason == en


def test_a_declined_payment_notice_ends_its_reason_with_one_full_stop(client, customer, rental):
    _declined(client, rental, reason="")
    client.force_login(customer.user)

    zh = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "原因：支付机构拒绝了此次支付。您可以在订单页面重新支付。" in zh
    assert "。。" not in zh
    assert "Reason: the payment provider declined the payment. You can pay again from the order page." in en
    notice = Notification.objects.get(notification_type=Notification.Type.PAYMENT_FAILED)
    assert "。。" not in notice.message


def test_the_providers_english_reason_is_not_shown_to_a_chinese_customer(client, customer, rental):
    charge = _declined(client, rental, reason="Declined by the bank: insufficient balance")
    client.force_login(customer.user)
    url = reverse("accounts:order_detail", args=[rental.pk])

    zh = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    notices = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    back = client.get(reverse("payments:return", args=[charge.transaction_id]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert "您上一次支付未成功：支付机构拒绝了此次支付。您可以重新支付。" in zh
    assert "Your last payment did not go through: the payment provider declined the payment. You can try again." in en
    assert "原因：支付机构拒绝了此次支付。" in back.content.decode()
    for body in (zh, en, notices, back.content.decode()):
        assert "Declined by the bank" not in body
    # staff keep the provider's words
    assert charge.failure_reason == "Declined by the bank: insufficient balance"


def test_a_cancel_reason_typed_with_its_own_full_stop_is_not_doubled(client, customer, rental):
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    cancel_rental(rental=rental, reason="行程有变。", by_user=customer.user)
    client.force_login(customer.user)

    zh = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "原因：行程有变。" in zh
    assert "。。" not in zh
