"""One WeChat Pay notification delivered ten times at once (PostgreSQL: row
locks are a no-op on SQLite): one PAID, one notification to the customer."""

from decimal import Decimal

import pytest
from django.test import Client

from accounts import services
from accounts.exceptions import RefundError
from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.tests.payment_support import callback_url
from accounts.tests.test_payment_races import _run_at_once
from customers.tests.factories import StaffUserFactory
from rentals.services import cancel_rental
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_ten_concurrent_copies_of_one_notification_pay_once(customer, vehicle, wechat_gateway, assert_ledger):
    # given: an open WeChat Pay charge, paid at WeChat Pay, and its notification
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)
    headers, body = wechat_gateway.pay(charge.transaction_id)

    # when: WeChat Pay's retries all arrive at once
    def deliver(_):
        response = Client().generic(
            "POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers
        )
        return response.status_code, response.content

    results, errors = _run_at_once(10, deliver)

    # then
    assert errors == []
    assert results == [(204, b"")] * 10
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert Payment.objects.filter(rental=rental, status=Payment.Status.PAID).count() == 1
    assert Notification.objects.filter(rental=rental, notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert CallbackReceipt.objects.filter(payment=charge).count() == 1
    verdicts = sorted(
        PaymentEvent.objects.filter(payment=charge, event="callback_received").values_list(
            "payload__verdict", flat=True
        )
    )
    assert verdicts == ["accepted"] + ["duplicate"] * 9
    assert assert_ledger(rental)["paid"] == Decimal("2900.00")


def test_five_staff_resolving_one_abnormal_refund_at_once_send_one_request(customer, vehicle, wechat_gateway):
    # given: a paid WeChat Pay charge whose refund WeChat Pay holds as ABNORMAL
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)
    headers, body = wechat_gateway.pay(charge.transaction_id)
    Client().generic("POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers)
    wechat_gateway.refund_status = "ABNORMAL"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.abnormal == Payment.Abnormal.WAITING
    clerks = [StaffUserFactory(username=f"fin-{i}") for i in range(5)]

    # when: five clerks send it to the customer's card at the same moment
    def resolve(i):
        try:
            services.request_abnormal_refund_resolution(
                refund=refund,
                by_user=clerks[i],
                resolution="USER_BANK_CARD",
                bank_type="CCB_DEBIT",
                bank_account="6217000010001234567",
                real_name="张三",
            )
        except RefundError as exc:
            return exc.code
        return "sent"

    results, errors = _run_at_once(5, resolve)

    # then: one request reached WeChat Pay, the others were refused
    assert errors == []
    assert sorted(results) == ["not_abnormal"] * 4 + ["sent"]
    assert len(wechat_gateway.abnormal_requests) == 1
    assert PaymentEvent.objects.filter(payment=refund, event="abnormal_refund_requested").count() == 1
    assert Payment.objects.get(pk=refund.pk).abnormal == Payment.Abnormal.USER_BANK_CARD
