"""Two deliveries of the same refund job at once (PostgreSQL row locks): the
provider is asked with one idempotency key and the money moves once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Notification, Payment
from accounts.providers import sandbox
from accounts.tests.assertions import assert_ledger_consistent
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.factories import book, pay
from rentals.tests.test_races import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_the_same_refund_job_twice_at_once_refunds_once(customer, vehicle, settings):
    start = timezone.now() + timedelta(days=1)
    rental = book(customer, vehicle, start, start + timedelta(days=3))
    pay(rental, "2900.00")
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)  # commits: asked once, held
    refund = Payment.objects.get(transaction_type="REFUND")
    Payment.objects.filter(pk=refund.pk).update(status=Payment.Status.PENDING)  # as if the answer was lost
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refunded"

    results = run_at_once([lambda: services.send_refund(refund_id=refund.pk)] * 2)

    assert [kind for kind, _value in results] == ["ok", "ok"]
    refund.refresh_from_db()
    assert refund.status == Payment.Status.PROCESSING  # the provider holds it: one key, no second refund
    assert sandbox.book_entry("refund", refund.transaction_id)["status"] == "pending"
    assert Payment.objects.filter(transaction_type="REFUND").count() == 1
    assert not Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).exists()
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert_ledger_consistent(rental)


def test_a_notification_and_a_query_at_once_confirm_the_refund_once(customer, vehicle, settings):
    start = timezone.now() + timedelta(days=1)
    rental = book(customer, vehicle, start, start + timedelta(days=3))
    pay(rental, "2900.00")
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    refund = Payment.objects.get(transaction_type="REFUND")
    headers, body = sandbox.build_callback(
        transaction_id=refund.transaction_id, status="refunded", amount=refund.amount, event_id="evt-a"
    )
    headers_b, body_b = sandbox.build_callback(
        transaction_id=refund.transaction_id, status="refunded", amount=refund.amount, event_id="evt-b"
    )

    results = run_at_once(
        [
            lambda: services.handle_callback(provider="sandbox", headers=headers, body=body),
            lambda: services.handle_callback(provider="sandbox", headers=headers_b, body=body_b),
        ]
    )

    assert sorted(value[1]["status"] for _kind, value in results) == ["accepted", "ignored"]
    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    assert_ledger_consistent(rental)
