"""Every row of the SPEC §6 callback table, over HTTP with real signed requests."""

import logging
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.providers.sandbox import compute_signature
from accounts.tests.payment_support import (
    callback_events,
    callback_url,
    deliver,
    ledger_snapshot,
    post_signed,
    signed_body,
    success_payload,
)
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rental(customer, vehicle):
    return RentalFactory(customer=customer, vehicle=vehicle)


@pytest.fixture
def charge(rental):
    return services.start_payment(
        rental=rental, method=Payment.Method.ALIPAY, user=rental.customer.user, expected_amount=Decimal("2900.00")
    )


def _verdict(event) -> str:
    return event.payload["verdict"]


# --- valid, first time ----------------------------------------------------------------


def test_first_success_marks_paid_refreshes_figures_and_notifies(client, rental, charge, assert_ledger):
    # when
    response = deliver(client, success_payload(charge, event_id="evt_ok"))
    # then
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert charge.paid_at is not None
    rental.refresh_from_db()
    assert rental.amount_paid == Decimal("2900.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert rental.money_figures().remaining == Decimal("0.00")
    assert CallbackReceipt.objects.filter(provider="sandbox", event_id="evt_ok", payment=charge).exists()
    [event] = callback_events()
    assert event.payment == charge and _verdict(event) == "accepted"
    assert charge.events.filter(event="status_changed", from_status="PENDING", to_status="PAID").count() == 1
    notes = Notification.objects.filter(user=rental.customer.user, notification_type=Notification.Type.PAYMENT_SUCCESS)
    assert notes.count() == 1
    assert assert_ledger(rental)["remaining"] == Decimal("0.00")


def test_first_failure_marks_failed_with_the_reason_and_the_order_is_payable_again(
    client, rental, charge, assert_ledger
):
    response = deliver(
        client, success_payload(charge, event_id="evt_f", status="failed", failure_reason="Card declined")
    )

    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.FAILED
    assert charge.failure_reason == "Card declined"
    note = Notification.objects.get(notification_type=Notification.Type.PAYMENT_FAILED)
    # the customer reads the outcome in their words; the provider's stays in the params for staff
    assert note.message == "原因：支付机构拒绝了此次支付。您可以在订单页面重新支付。"
    assert note.params["reason"] == "Card declined"
    assert note.rental == rental
    # The customer can try again: a fresh charge, not the failed one.
    again = services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=rental.customer.user)
    assert again.pk != charge.pk and again.status == Payment.Status.PENDING
    assert again.amount == Decimal("2900.00")
    assert_ledger(rental)


def test_first_cancel_marks_cancelled_and_notifies(client, rental, charge, assert_ledger):
    response = deliver(client, success_payload(charge, event_id="evt_c", status="cancelled"))

    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert charge.failure_reason
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_FAILED).count() == 1
    assert_ledger(rental)


# --- same event again / payment already final ------------------------------------------


def test_the_same_event_again_changes_nothing(client, rental, charge, assert_ledger):
    payload = success_payload(charge, event_id="evt_dup")
    assert deliver(client, payload).status_code == 200
    before = ledger_snapshot()

    response = deliver(client, payload)

    assert response.status_code == 200
    assert response.json()["status"] == "duplicate"
    after = ledger_snapshot()
    # Only the audit row of the second delivery is new.
    assert after["payments"] == before["payments"]
    assert after["receipts"] == before["receipts"]
    assert after["notifications"] == before["notifications"]
    assert after["payment_events"] == before["payment_events"] + 1
    assert [_verdict(e) for e in callback_events()] == ["accepted", "duplicate"]
    assert callback_events().last().payment == charge
    assert_ledger(rental)


def test_a_new_event_on_a_final_payment_changes_nothing(client, rental, charge, assert_ledger):
    assert deliver(client, success_payload(charge, event_id="evt_1")).status_code == 200
    before = ledger_snapshot()

    response = deliver(client, success_payload(charge, event_id="evt_2", status="failed", failure_reason="late"))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert ledger_snapshot()["payments"] == before["payments"]
    assert ledger_snapshot()["notifications"] == before["notifications"]
    last = callback_events().last()
    assert last.payment == charge and last.payload["reason"] == "payment_already_final"
    assert_ledger(rental)


def test_a_second_success_with_a_new_event_id_does_not_pay_twice(client, rental, charge, assert_ledger):
    assert deliver(client, success_payload(charge, event_id="evt_1")).status_code == 200
    assert deliver(client, success_payload(charge, event_id="evt_2")).status_code == 200

    assert Payment.objects.filter(status=Payment.Status.PAID).count() == 1
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert assert_ledger(rental)["paid"] == Decimal("2900.00")


# --- 400: signature, timestamp, body ---------------------------------------------------


def _assert_rejected_unchanged(response, before, charge, status=400):
    assert response.status_code == status
    assert response.json()["status"] == "rejected"
    assert ledger_snapshot() == before
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    event = callback_events().last()
    assert event.payment is None and _verdict(event) == "rejected"
    return event


def test_bad_signature_is_refused_and_logged(client, rental, charge, caplog, assert_ledger):
    before = ledger_snapshot()
    with caplog.at_level(logging.WARNING, logger="accounts.services"):
        response = deliver(client, success_payload(charge), signature=f"t={int(time.time())},v1={'ab' * 32}")
    event = _assert_rejected_unchanged(response, before, charge)
    assert event.payload["reason"] == "bad_signature"
    assert any("rejected" in r.getMessage() for r in caplog.records)
    assert_ledger(rental)


def test_missing_signature_is_refused(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    response = deliver(client, success_payload(charge), signature="")
    event = _assert_rejected_unchanged(response, before, charge)
    assert event.payload["reason"] == "missing_signature"
    assert_ledger(rental)


def test_a_body_changed_after_signing_is_refused(client, rental, charge, assert_ledger):
    from accounts.providers.sandbox import signature_header

    honest = signed_body(success_payload(charge, amount="0.01"))
    tampered = signed_body(success_payload(charge))
    before = ledger_snapshot()
    response = post_signed(client, tampered, signature=signature_header(honest))
    _assert_rejected_unchanged(response, before, charge)
    assert_ledger(rental)


@pytest.mark.parametrize("offset", [-600, 600], ids=["10-min-old", "10-min-ahead"])
def test_timestamp_ten_minutes_off_is_refused(client, rental, charge, offset, assert_ledger):
    before = ledger_snapshot()
    response = deliver(client, success_payload(charge), timestamp=int(time.time()) + offset)
    event = _assert_rejected_unchanged(response, before, charge)
    assert event.payload["reason"] == "stale_timestamp"
    assert_ledger(rental)


def test_malformed_json_is_refused(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    response = post_signed(client, b'{"event_id": "evt_1", "transaction_id": ')
    event = _assert_rejected_unchanged(response, before, charge)
    assert event.payload["reason"] == "malformed_json"
    assert_ledger(rental)


def test_empty_body_is_refused(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    response = post_signed(client, b"")
    event = _assert_rejected_unchanged(response, before, charge)
    assert event.payload["reason"] == "empty_body"
    assert_ledger(rental)


def test_a_signed_body_with_a_float_amount_is_refused(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    payload = success_payload(charge)
    payload["amount"] = 2900.0
    response = deliver(client, payload)
    _assert_rejected_unchanged(response, before, charge)
    assert_ledger(rental)


# --- 404: unknown transaction / provider -----------------------------------------------


def test_unknown_transaction_is_404_and_changes_nothing(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    payload = success_payload(charge)
    payload["transaction_id"] = "PAY20990101000000DEADBEEF00"
    response = deliver(client, payload)
    event = _assert_rejected_unchanged(response, before, charge, status=404)
    assert event.payload["reason"] == "unknown_transaction"
    assert_ledger(rental)


def test_a_refund_transaction_id_is_not_a_chargeable_transaction(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    payload = success_payload(charge)
    payload["transaction_id"] = "REF20990101000000DEADBEEF00"
    response = deliver(client, payload)
    _assert_rejected_unchanged(response, before, charge, status=404)


def test_unknown_provider_is_404_and_writes_nothing(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    events_before = PaymentEvent.objects.count()
    response = deliver(client, success_payload(charge), provider="paypal")
    assert response.status_code == 404
    assert response.json() == {"status": "rejected", "reason": "unknown_provider"}
    assert ledger_snapshot() == before
    assert PaymentEvent.objects.count() == events_before
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert_ledger(rental)


def test_junk_posted_to_made_up_providers_leaves_no_trace_on_the_dashboard(client, rental, charge):
    """200 posts to /api/payments/callback/x<i>/ write no audit row and leave
    the finance dashboard's rejected-callback figure alone (SPEC §16 Callbacks)."""
    from accounts import finance

    events_before = PaymentEvent.objects.count()
    rejected_before = finance.monitoring().rejected_callbacks
    for i in range(200):
        response = client.post(callback_url(f"x{i}"), data=b"junk", content_type="application/json")
        assert response.status_code == 404
    assert PaymentEvent.objects.count() == events_before
    assert finance.monitoring().rejected_callbacks == rejected_before


def test_the_endpoint_is_post_only_and_csrf_exempt(rental, charge):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.get(callback_url()).status_code == 405
    assert deliver(strict, success_payload(charge)).status_code == 200


# --- 409: amount mismatch ---------------------------------------------------------------


def test_amount_mismatch_is_409_not_paid_and_recorded(client, rental, charge, caplog, assert_ledger):
    before = ledger_snapshot()
    with caplog.at_level(logging.WARNING, logger="accounts.services"):
        response = deliver(client, success_payload(charge, event_id="evt_short", amount="0.01"))

    assert response.status_code == 409
    assert response.json()["status"] == "amount_mismatch"
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert ledger_snapshot()["payments"] == before["payments"]
    assert ledger_snapshot()["notifications"] == before["notifications"]
    assert not CallbackReceipt.objects.exists()
    event = callback_events().last()
    assert event.payment == charge
    assert _verdict(event) == "amount_mismatch"
    assert event.payload["amount"] == "0.01" and event.payload["expected_amount"] == "2900.00"
    # The right amount later still goes through.
    assert deliver(client, success_payload(charge, event_id="evt_right")).status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert_ledger(rental)


# --- late success for charges we had closed ------------------------------------------------


def test_success_after_expiry_is_recorded_paid_and_kept_when_the_order_can_use_it(
    client, rental, charge, time_machine, assert_ledger
):
    time_machine.move_to(timezone.now() + timedelta(minutes=31))
    assert services.expire_stale_payments() == [charge.transaction_id]
    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED

    response = deliver(client, success_payload(charge, event_id="evt_late"))

    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert not Payment.objects.filter(transaction_type=Payment.TransactionType.REFUND).exists()
    assert charge.events.filter(event="late_payment_received", from_status="EXPIRED", to_status="PAID").exists()
    figures = assert_ledger(rental)
    assert figures["paid"] == Decimal("2900.00") and figures["remaining"] == Decimal("0.00")


def test_success_after_expiry_when_the_order_was_paid_meanwhile_is_refunded_at_once(
    client, rental, charge, time_machine, assert_ledger
):
    # given: the first charge expired and the customer paid again with a new one
    time_machine.move_to(timezone.now() + timedelta(minutes=31))
    services.expire_stale_payments()
    second = services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=rental.customer.user)
    assert deliver(client, success_payload(second, event_id="evt_second")).status_code == 200

    # when: the provider reports the first one paid after all
    response = deliver(client, success_payload(charge, event_id="evt_first_late"))

    # then: the money is recorded and given back at once, the way it came
    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    refund = Payment.objects.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("2900.00")
    assert refund.status == Payment.Status.REFUNDED
    assert refund.user == rental.customer.user
    figures = assert_ledger(rental)
    assert figures["net_paid"] == Decimal("2900.00") and figures["refund_due"] == Decimal("0.00")
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1


def test_success_after_the_rental_was_cancelled_is_paid_and_refunded(client, rental, charge, assert_ledger):
    # given: the customer cancels while the charge is still open
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED

    # when
    response = deliver(client, success_payload(charge, event_id="evt_after_cancel"))

    # then
    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    refund = Payment.objects.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == charge.amount == Decimal("2900.00")
    assert refund.payment_method == Payment.Method.ALIPAY
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    figures = assert_ledger(rental)
    assert figures["settlement_status"] == "SETTLED"
    assert figures["net_paid"] == Decimal("0.00")
    # A replay of the same success refunds nothing more.
    assert deliver(client, success_payload(charge, event_id="evt_after_cancel")).status_code == 200
    assert Payment.objects.filter(transaction_type=Payment.TransactionType.REFUND).count() == 1
    assert_ledger(rental)


def test_late_success_on_a_cancelled_order_with_a_fee_keeps_the_fee(
    client, rental, charge, staff_user, assert_ledger, time_machine
):
    # the customer never came: staff keep the no-show fee of one day's rent (SPEC §19)
    time_machine.move_to(rental.start_time + timedelta(hours=1), tick=False)
    cancel_rental(rental=rental, reason="No-show", by_user=staff_user, cancellation_fee=Decimal("300.00"))

    assert deliver(client, success_payload(charge, event_id="evt_fee")).status_code == 200

    refund = Payment.objects.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("2600.00")
    figures = assert_ledger(rental)
    assert figures["net_paid"] == Decimal("300.00") and figures["settlement_status"] == "SETTLED"


def test_a_failure_for_a_charge_we_had_closed_changes_nothing(client, rental, charge, time_machine, assert_ledger):
    time_machine.move_to(timezone.now() + timedelta(minutes=31))
    services.expire_stale_payments()

    response = deliver(client, success_payload(charge, event_id="evt_fail_late", status="failed"))

    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
    assert not Notification.objects.filter(notification_type=Notification.Type.PAYMENT_FAILED).exists()
    assert_ledger(rental)


def test_a_sandbox_callback_cannot_settle_another_providers_charge(client, rental, assert_ledger):
    from accounts.tests.factories import PendingChargeFactory

    foreign = PendingChargeFactory(rental=rental, provider="alipay", amount=Decimal("2900.00"))
    before = ledger_snapshot()
    response = deliver(client, success_payload(foreign))
    assert response.status_code == 404
    assert ledger_snapshot() == before
    assert_ledger(rental)


def test_a_callback_costs_a_bounded_number_of_queries(client, rental, charge, django_assert_max_num_queries):
    payload = success_payload(charge, event_id="evt_q")
    # look-up, lock rental, lock payment, receipt check, receipt insert (+savepoint),
    # verdict event, transition + event, ledger sums + rental update, user, notification
    with django_assert_max_num_queries(20):
        assert deliver(client, payload).status_code == 200


@pytest.mark.parametrize(
    "provider, headers, body",
    [
        (None, None, None),
        (123, {}, b"{}"),
        ("sandbox", None, b"{}"),
        ("sandbox", {"X-Sandbox-Signature": 5}, b"{}"),
        ("sandbox", {}, "not bytes"),
        ("sand\x00box", {}, b"\x00"),
    ],
)
def test_handle_callback_never_raises_for_bad_input(rental, charge, provider, headers, body, assert_ledger):
    before = ledger_snapshot()
    status, answer = services.handle_callback(provider=provider, headers=headers, body=body)
    assert status in (400, 404)
    assert answer["status"] == "rejected"
    assert ledger_snapshot() == before
    assert_ledger(rental)


# --- fields match in full (SPEC §16 Callbacks) ---------------------------------------------


@pytest.mark.parametrize("field", ["amount", "event_id", "transaction_id", "status"])
@pytest.mark.parametrize("garnish", ["{}\n", "{}\r\n", "\n{}", " {}", "{}\t", "{}\x00"])
def test_a_signed_field_with_a_newline_or_space_around_it_is_a_malformed_body(
    client, rental, charge, assert_ledger, field, garnish
):
    before = ledger_snapshot()
    payload = success_payload(charge)
    payload[field] = garnish.format(payload[field])
    response = deliver(client, payload)
    event = _assert_rejected_unchanged(response, before, charge)
    assert event.payload["reason"] == "malformed_body"
    assert_ledger(rental)


def test_an_amount_with_a_trailing_newline_is_400_and_pays_nothing(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    response = deliver(client, success_payload(charge, amount="2900.00\n"))
    assert response.status_code == 400
    assert ledger_snapshot() == before
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert assert_ledger(rental)["paid"] == Decimal("0.00")


@pytest.mark.parametrize("garnish", ["{}\n", " {}", "{} ", "{}\t", "\r{}"])
@pytest.mark.parametrize("part", ["t", "v1"])
def test_a_signature_header_part_with_whitespace_around_it_is_refused(
    client, rental, charge, assert_ledger, garnish, part
):
    before = ledger_snapshot()
    body = signed_body(success_payload(charge))
    t = int(time.time())
    parts = {"t": str(t), "v1": compute_signature(t, body)}
    parts[part] = garnish.format(parts[part])
    response = post_signed(client, body, signature=f"t={parts['t']},v1={parts['v1']}")
    _assert_rejected_unchanged(response, before, charge)
    assert_ledger(rental)


def test_a_signature_header_with_spaces_after_the_comma_is_refused(client, rental, charge, assert_ledger):
    before = ledger_snapshot()
    body = signed_body(success_payload(charge))
    t = int(time.time())
    response = post_signed(client, body, signature=f"t={t}, v1={compute_signature(t, body)}")
    _assert_rejected_unchanged(response, before, charge)
    assert_ledger(rental)
