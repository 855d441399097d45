"""Concurrent deliveries of one Alipay notification on PostgreSQL (row locks
are a no-op on SQLite): Alipay retries, and its retries may overlap."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from accounts import services
from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.tests.payment_support import callback_url
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_ten_concurrent_copies_of_one_notification_pay_once(customer, vehicle, fake_alipay, assert_ledger):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    body = fake_alipay.notify(charge.transaction_id, "2900.00", notify_id="n-race")
    barrier = threading.Barrier(10)
    answers, errors = [None] * 10, []

    def deliver(i):
        try:
            client = Client()  # its own request, on this thread's own database connection
            barrier.wait(timeout=10)
            response = client.post(callback_url("alipay"), data=body, content_type="application/x-www-form-urlencoded")
            answers[i] = (response.status_code, response.content)
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert answers == [(200, b"success")] * 10
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert Payment.objects.filter(rental=rental, status=Payment.Status.PAID).count() == 1
    assert Notification.objects.filter(rental=rental, notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert CallbackReceipt.objects.filter(provider="alipay", event_id="n-race").count() == 1
    verdicts = sorted(
        PaymentEvent.objects.filter(payment=charge, event="callback_received").values_list(
            "payload__verdict", flat=True
        )
    )
    assert verdicts == ["accepted"] + ["duplicate"] * 9
    assert assert_ledger(rental)["paid"] == Decimal("2900.00")
