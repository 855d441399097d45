"""Closing a charge at WeChat Pay while its lost payment turns up (PostgreSQL:
row locks are a no-op on SQLite): the expiry job, two sync runs and the
notification at once book the money once and never expire it (SPEC §17)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client

from accounts import services
from accounts.models import Notification, Payment, PaymentEvent
from accounts.tests.payment_support import callback_url
from accounts.tests.test_payment_races import _run_at_once
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_expiry_sync_and_the_notification_at_once_book_a_paid_charge_once(
    customer, vehicle, wechat_gateway, time_machine, assert_ledger
):
    # given: a WeChat Pay charge paid at the last moment, its notification late
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)
    wechat_gateway.pay(charge.transaction_id)
    time_machine.move_to(charge.expires_at + timedelta(minutes=6), tick=False)
    order = wechat_gateway.orders[charge.transaction_id]
    headers, body = wechat_gateway.transaction_notification(
        charge.transaction_id, order.total, transaction_id=order.transaction_id
    )  # WeChat Pay's retry, signed now

    # when: the expiry job, two sync runs and the notification all at once
    def work(i):
        if i == 0:
            return services.expire_stale_payments()
        if i in (1, 2):
            return services.sync_payments()
        response = Client().generic(
            "POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers
        )
        return response.status_code

    results, errors = _run_at_once(4, work)

    # then: paid once, told once, nothing refunded, never EXPIRED
    assert errors == []
    assert results[3] == 204
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert not PaymentEvent.objects.filter(payment=charge, event="charge_expired").exists()
    assert not charge.closing_as
    assert Payment.objects.filter(rental=rental, status=Payment.Status.PAID).count() == 1
    assert not Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).exists()
    assert Notification.objects.filter(rental=rental, notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert assert_ledger(rental)["paid"] == Decimal("2900.00")
