"""Concurrency of the payment flows on PostgreSQL (row locks are a no-op on SQLite)."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts import services
from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.providers.sandbox import build_callback
from rentals.models import Rental
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_at_once(n: int, work) -> tuple[list, list]:
    """Run ``work(i)`` in ``n`` threads released together; return (results, errors)."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def target(i):
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_ten_concurrent_successes_with_different_event_ids_pay_once(customer, vehicle, assert_ledger):
    # given: one open charge and ten deliveries of its success, each its own event
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    deliveries = [
        build_callback(
            transaction_id=charge.transaction_id, status="succeeded", amount=charge.amount, event_id=f"evt_race_{i}"
        )
        for i in range(10)
    ]

    # when
    results, errors = _run_at_once(
        10, lambda i: services.handle_callback(provider="sandbox", headers=deliveries[i][0], body=deliveries[i][1])
    )

    # then
    assert errors == []
    assert all(status == 200 for status, _ in results), results
    assert sorted(answer["status"] for _, answer in results) == ["accepted"] + ["ignored"] * 9
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert Payment.objects.filter(rental=rental, status=Payment.Status.PAID).count() == 1
    assert Notification.objects.filter(rental=rental, notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert CallbackReceipt.objects.filter(payment=charge).count() == 1
    assert PaymentEvent.objects.filter(payment=charge, event="callback_received").count() == 10
    assert PaymentEvent.objects.filter(payment=charge, event="status_changed", to_status="PAID").count() == 1
    assert assert_ledger(rental)["paid"] == Decimal("2900.00")


def test_the_same_event_delivered_ten_times_at_once_is_acted_on_once(customer, vehicle, assert_ledger):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    headers, body = build_callback(
        transaction_id=charge.transaction_id, status="succeeded", amount=charge.amount, event_id="evt_same"
    )

    results, errors = _run_at_once(
        10, lambda i: services.handle_callback(provider="sandbox", headers=headers, body=body)
    )

    assert errors == []
    assert sorted(answer["status"] for _, answer in results) == ["accepted"] + ["duplicate"] * 9
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert_ledger(rental)


def test_eight_concurrent_start_payments_leave_one_open_charge(customer, vehicle, assert_ledger):
    rental = RentalFactory(customer=customer, vehicle=vehicle)

    def start(i):
        return services.start_payment(
            rental=Rental.objects.get(pk=rental.pk),
            method=Payment.Method.ALIPAY,
            user=customer.user,
            expected_amount=Decimal("2900.00"),
        ).transaction_id

    results, errors = _run_at_once(8, start)

    assert errors == []
    assert len(set(results)) == 1
    open_charges = Payment.objects.filter(rental=rental, status__in=Payment.OPEN_STATUSES)
    assert open_charges.count() == 1
    assert Payment.objects.filter(rental=rental).count() == 1
    assert PaymentEvent.objects.filter(event="created").count() == 1
    assert_ledger(rental)


def test_concurrent_start_payments_with_different_methods_still_leave_one_open_charge(customer, vehicle, assert_ledger):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    methods = [Payment.Method.ALIPAY, Payment.Method.WECHAT, Payment.Method.BANK] * 3

    results, errors = _run_at_once(
        len(methods),
        lambda i: (
            services.start_payment(
                rental=Rental.objects.get(pk=rental.pk), method=methods[i], user=customer.user
            ).transaction_id
        ),
    )

    assert errors == []
    assert Payment.objects.filter(rental=rental, status__in=Payment.OPEN_STATUSES).count() == 1
    assert_ledger(rental)


def test_a_success_racing_a_cancellation_ends_paid_and_refunded(customer, vehicle, assert_ledger):
    from rentals.services import cancel_rental

    # three days ahead: inside the policy's free cancellation (SPEC §19), all goes back
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=timezone.now() + timedelta(days=3))
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    headers, body = build_callback(transaction_id=charge.transaction_id, status="succeeded", amount=charge.amount)

    def work(i):
        if i == 0:
            return services.handle_callback(provider="sandbox", headers=headers, body=body)
        return cancel_rental(rental=Rental.objects.get(pk=rental.pk), reason="Plans changed", by_user=customer.user)

    _results, errors = _run_at_once(2, work)

    assert errors == []
    charge.refresh_from_db()
    rental.refresh_from_db()
    # Whichever came first, the money was taken once and given back once.
    assert charge.status == Payment.Status.PAID
    assert rental.status == Rental.Status.CANCELLED
    refunds = Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert [r.amount for r in refunds] == [Decimal("2900.00")]
    assert assert_ledger(rental)["settlement_status"] == "SETTLED"
