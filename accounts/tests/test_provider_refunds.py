"""Refunds the provider confirms (SPEC §11): online refund rows wait for the
provider's word, are asked after commit with the REF id as idempotency key,
and are finished by its signed notification, a status query or staff."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import translation

from accounts import selectors, services
from accounts.finance import failed_refunds
from accounts.models import Notification, Payment, PaymentEvent
from accounts.providers import ProviderUnavailable, sandbox
from accounts.services import start_payment
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.payment_support import deliver, success_payload
from rentals.models import CancellationPolicy, Rental, RentalEvent
from rentals.services import cancel_rental
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _free_cancellation_until_half_a_day_before():
    """These refunds come from cancels made a little after the booking, inside
    the free window of this policy version: the whole payment comes back."""
    CancellationPolicy.objects.create(
        version=2, effective_from=datetime(2020, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")), free_until_hours=12
    )


@pytest.fixture
def rental(booked_rental):
    return booked_rental


def _pay(client, rental, customer, amount: str, method, event_id: str, minutes: int):
    """Pay ``amount`` of the order online through the sandbox (a real signed callback)."""
    charge = start_payment(rental=rental, method=method, user=customer.user)
    if charge.amount != Decimal(amount):
        Payment.objects.filter(pk=charge.pk).update(amount=Decimal(amount))
        charge.refresh_from_db()
    assert deliver(client, success_payload(charge, event_id=event_id)).status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    return charge


@pytest.fixture
def paid_twice(rental, customer, client, frozen_clock):
    """¥1,000 by Alipay, then ¥1,900 by WeChat an hour later."""
    first = _pay(client, rental, customer, "1000.00", Payment.Method.ALIPAY, "evt-ali", 0)
    frozen_clock.move_to(NOW + timedelta(hours=1), tick=False)
    second = _pay(client, rental, customer, "1900.00", Payment.Method.WECHAT, "evt-wx", 60)
    return first, second


def _refunds(rental):
    return list(
        Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).order_by(
            "created_at", "pk"
        )
    )


def _refund_notices(customer):
    return Notification.objects.filter(user=customer.user, notification_type=Notification.Type.REFUND_ISSUED)


def _refund_callback(refund, status, *, event_id, failure_reason=""):
    return sandbox.build_callback(
        transaction_id=refund.transaction_id,
        status=status,
        amount=refund.amount,
        failure_reason=failure_reason,
        event_id=event_id,
    )


def test_a_cancel_on_hold_leaves_the_refunds_in_progress_until_the_provider_confirms(
    rental, customer, paid_twice, settings, client
):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    alipay, wechat = paid_twice

    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    # one row per reversed charge, newest charge first, each within its charge
    newest, older = _refunds(rental)
    assert (newest.refund_of_id, newest.amount, newest.provider) == (wechat.pk, Decimal("1900.00"), "sandbox")
    assert (older.refund_of_id, older.amount, older.provider) == (alipay.pk, Decimal("1000.00"), "sandbox")
    assert {newest.status, older.status} == {Payment.Status.PROCESSING}  # accepted, not confirmed
    rental.refresh_from_db()
    figures = rental.money_figures()
    assert figures.refund_due == Decimal("0.00")
    assert figures.refund_in_flight == Decimal("2900.00")
    assert figures.refunded == Decimal("0.00")
    assert rental.settlement_status != Rental.SettlementStatus.SETTLED
    assert rental.amount_refund_in_flight == Decimal("2900.00")
    assert selectors.payment_badge(rental=rental, figures=figures)[0] == selectors.BADGE_REFUND_IN_PROGRESS
    assert not _refund_notices(customer).exists()
    assert_ledger_consistent(rental)
    # the customer reads 退款中 on the order page
    client.force_login(customer.user)
    with translation.override("zh-hans"):
        page = client.get(reverse("accounts:order_detail", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert 'data-payment-badge="refund_in_progress"' in page.content.decode()
    assert "退款中" in page.content.decode()
    assert 'data-summary="refund_in_flight">¥2,900.00' in page.content.decode()
    with translation.override("zh-hans"):
        listing = client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert 'data-figure="refund_in_flight">¥2,900.00' in listing.content.decode()

    # the provider's signed notifications finish them, once
    for refund in (newest, older):
        headers, body = _refund_callback(refund, "refunded", event_id=f"evt-{refund.pk}")
        assert services.handle_callback(provider="sandbox", headers=headers, body=body)[0] == 200
        assert services.handle_callback(provider="sandbox", headers=headers, body=body)[0] == 200  # replay

    rental.refresh_from_db()
    assert [r.status for r in _refunds(rental)] == [Payment.Status.REFUNDED] * 2
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.amount_refunded == Decimal("2900.00")
    assert _refund_notices(customer).count() == 2
    assert selectors.payment_badge(rental=rental, figures=rental.money_figures())[0] == selectors.BADGE_SETTLED
    assert_ledger_consistent(rental)


def test_a_refused_refund_is_due_again_and_a_staff_retry_refunds_it_once(
    rental, customer, paid_twice, settings, client, staff_user
):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    newest, older = _refunds(rental)
    headers, body = _refund_callback(newest, "refunded", event_id="evt-ok")
    services.handle_callback(provider="sandbox", headers=headers, body=body)

    headers, body = _refund_callback(older, "refund_failed", event_id="evt-no", failure_reason="Account closed")
    status, answer = services.handle_callback(provider="sandbox", headers=headers, body=body)

    assert status == 200 and answer["payment_status"] == Payment.Status.FAILED
    older.refresh_from_db()
    assert (older.status, older.failure_reason) == (Payment.Status.FAILED, "Account closed")
    rental.refresh_from_db()
    assert rental.money_figures().refund_due == Decimal("1000.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert _refund_notices(customer).count() == 1  # no REFUND_ISSUED for the failure (REFUND_DELAYED instead)
    assert RentalEvent.objects.filter(rental=rental, event="refund_failed").exists()
    assert [r.pk for r in failed_refunds()] == [rental.pk]
    assert_ledger_consistent(rental)
    # staff see it under the "refund failed" filter and on the finance dashboard
    client.force_login(staff_user)
    changelist = client.get(reverse("admin:rentals_rental_changelist"), {"refund_failed": "yes"})
    assert changelist.status_code == 200
    assert list(changelist.context["cl"].result_list) == [rental]
    dashboard = client.get(reverse("admin:accounts_payment_dashboard"))
    assert f'<tr data-rental="{rental.pk}">' in dashboard.content.decode().split('id="failed-refunds-list"')[1]

    # the retry: a new row with a new REF id, refunded once (the sandbox now confirms)
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refunded"
    page = client.get(reverse("admin:rentals_rental_change", args=[rental.pk]))
    assert f'id="retry-refund-{older.pk}"' in page.content.decode()
    url = reverse("admin:rentals_rental_retry_refund", args=[rental.pk, older.pk])
    assert client.post(url).status_code == 302
    assert client.post(url).status_code == 302  # a second click finds nothing due

    retry = _refunds(rental)[-1]
    assert len(_refunds(rental)) == 3
    assert retry.transaction_id not in (newest.transaction_id, older.transaction_id)
    assert (retry.status, retry.amount, retry.refund_of_id) == (
        Payment.Status.REFUNDED,
        Decimal("1000.00"),
        older.refund_of_id,
    )
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert _refund_notices(customer).count() == 2
    assert failed_refunds().count() == 0
    assert_ledger_consistent(rental)


def test_the_retry_needs_the_refund_permission(rental, customer, paid_twice, settings, client, db):
    from customers.tests.factories import StaffUserFactory

    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refund_failed"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    failed = _refunds(rental)[0]
    assert failed.status == Payment.Status.FAILED
    clerk = StaffUserFactory(username="viewer")
    clerk.user_permissions.add(Permission.objects.get(codename="view_rental"))
    client.force_login(clerk)

    response = client.post(reverse("admin:rentals_rental_retry_refund", args=[rental.pk, failed.pk]))

    assert response.status_code == 403
    assert len(_refunds(rental)) == 2


def test_the_refund_job_run_twice_asks_with_the_same_key_and_moves_money_once(rental, customer, paid_twice, settings):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    refund = _refunds(rental)[0]
    # a crash after the provider answered: the row is back to PENDING as if never recorded
    Payment.objects.filter(pk=refund.pk).update(status=Payment.Status.PENDING)
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refunded"

    assert services.send_refund(refund_id=refund.pk) == Payment.Status.PROCESSING
    assert services.send_refund(refund_id=refund.pk) == Payment.Status.PROCESSING  # duplicate delivery

    book = sandbox.book_entry("refund", refund.transaction_id)
    assert book["requests"] == 3  # the first job, then the two reruns: one key
    assert book["status"] == "pending"  # the money moved once, on the first request (held)
    assert Payment.objects.filter(rental=rental, transaction_type="REFUND").count() == 2
    assert_ledger_consistent(rental)


def test_a_confirmed_refund_job_run_again_changes_nothing(rental, customer, paid_twice):
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    refunds = _refunds(rental)
    assert [r.status for r in refunds] == [Payment.Status.REFUNDED] * 2
    events = PaymentEvent.objects.count()

    for refund in refunds:
        assert services.send_refund(refund_id=refund.pk) == Payment.Status.REFUNDED

    assert PaymentEvent.objects.count() == events
    assert [sandbox.book_entry("refund", r.transaction_id)["requests"] for r in refunds] == [1, 1]
    assert _refund_notices(customer).count() == 2


def test_a_provider_timeout_leaves_the_refund_pending_and_a_later_run_finishes_it(
    rental, customer, paid_twice, monkeypatch
):
    real_start = sandbox.SandboxProvider.start_refund
    calls = []

    def time_out(self, **kwargs):
        calls.append(kwargs["transaction_id"])
        raise ProviderUnavailable(detail="read timed out")

    monkeypatch.setattr(sandbox.SandboxProvider, "start_refund", time_out)

    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    refunds = _refunds(rental)
    assert [r.status for r in refunds] == [Payment.Status.PENDING] * 2  # never FAILED on a timeout
    assert calls == [r.transaction_id for r in refunds]
    rental.refresh_from_db()
    assert rental.money_figures().refund_due == Decimal("0.00")
    assert_ledger_consistent(rental)
    with pytest.raises(ProviderUnavailable):
        services.send_refund(refund_id=refunds[0].pk)

    monkeypatch.setattr(sandbox.SandboxProvider, "start_refund", real_start)
    for refund in refunds:
        assert services.send_refund(refund_id=refund.pk) == Payment.Status.REFUNDED

    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert _refund_notices(customer).count() == 2
    assert_ledger_consistent(rental)


def test_a_refund_notification_checks_amount_and_signature_like_a_charge(
    rental, customer, paid_twice, settings, client
):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    refund = _refunds(rental)[0]

    wrong_amount = {**success_payload(refund, event_id="evt-amt", amount="1.00"), "status": "refunded"}
    assert deliver(client, wrong_amount).status_code == 409
    bad_signature = {**success_payload(refund, event_id="evt-sig"), "status": "refunded"}
    assert deliver(client, bad_signature, signature="t=1,v1=" + "0" * 64).status_code == 400
    # a refund status for a charge, or a charge status for a refund, names no such transaction
    charge_as_refund = {**success_payload(refund, event_id="evt-kind"), "status": "succeeded"}
    assert deliver(client, charge_as_refund).status_code == 404

    refund.refresh_from_db()
    assert refund.status == Payment.Status.PROCESSING
    verdicts = list(
        PaymentEvent.objects.filter(event="callback_received", payment=refund).values_list(
            "payload__verdict", flat=True
        )
    )
    assert verdicts == ["amount_mismatch"]

    assert deliver(client, {**success_payload(refund, event_id="evt-ok"), "status": "refunded"}).status_code == 200
    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED


def test_cash_and_staff_handed_refunds_are_refunded_at_once(rental, customer, staff_user, paid_twice):
    refund = services.record_manual_refund(
        rental=rental, amount=Decimal("100.00"), reason="Goodwill", by_user=staff_user
    )

    assert (refund.status, refund.provider) == (Payment.Status.REFUNDED, "internal")
    assert _refund_notices(customer).count() == 1
    assert_ledger_consistent(rental)


def test_charges_left_counts_refunds_in_flight_and_frees_failed_ones(rental, customer, paid_twice, settings):
    alipay, wechat = paid_twice
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    assert selectors.refundable_charges(rental=rental) == []

    newest = _refunds(rental)[0]
    headers, body = _refund_callback(newest, "refund_failed", event_id="evt-no")
    services.handle_callback(provider="sandbox", headers=headers, body=body)

    [left] = selectors.refundable_charges(rental=rental)
    assert (left.charge_id, left.left) == (wechat.pk, Decimal("1900.00"))
