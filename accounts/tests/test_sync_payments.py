"""``sync_payments`` (SPEC §11): lost callbacks are made good by asking the
provider; the answer goes through the callback's code path (verdict
``queried``)."""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts import services
from accounts.models import Notification, Payment, PaymentEvent
from accounts.providers import sandbox
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.payment_support import deliver, ledger_snapshot, success_payload
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture
def rental(booked_rental):
    return booked_rental


def _sync(*args) -> str:
    out = StringIO()
    call_command("sync_payments", *args, stdout=out)
    return out.getvalue()


def _queried(payment):
    return PaymentEvent.objects.filter(event="callback_received", payment=payment, payload__verdict="queried").count()


def test_a_paid_charge_whose_callback_never_came_is_paid_from_the_query(rental, customer, frozen_clock):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    # the customer paid at the provider; its callback was lost
    sandbox.record_charge_outcome(transaction_id=charge.transaction_id, status="succeeded", amount=charge.amount)
    assert _sync() and Payment.objects.get(pk=charge.pk).status == Payment.Status.PENDING  # not 5 minutes yet

    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)
    before = ledger_snapshot()
    dry = _sync("--dry-run")

    assert "DRY RUN" in dry and charge.transaction_id in dry
    assert ledger_snapshot() == before
    assert _sync()
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert _queried(charge) == 1
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert_ledger_consistent(rental)

    after = ledger_snapshot()
    _sync()
    assert ledger_snapshot() == after


def test_a_stale_unpaid_charge_is_closed_at_the_provider_then_expired(rental, customer, frozen_clock):
    charge = services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)
    frozen_clock.move_to(NOW + timedelta(minutes=31), tick=False)

    before = ledger_snapshot()
    _sync("--dry-run")
    assert ledger_snapshot() == before
    assert sandbox.book_entry("charge", charge.transaction_id) is None  # the dry run closed nothing
    _sync()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
    assert sandbox.book_entry("charge", charge.transaction_id)["status"] == "closed"
    assert PaymentEvent.objects.filter(payment=charge, event="charge_closed").exists()
    # a success the customer tries at the closed charge no longer counts at the provider
    sandbox.record_charge_outcome(transaction_id=charge.transaction_id, status="succeeded", amount=charge.amount)
    assert sandbox.book_entry("charge", charge.transaction_id)["status"] == "closed"
    after = ledger_snapshot()
    _sync()
    assert ledger_snapshot() == after


def test_an_open_refund_is_finished_from_the_query(rental, customer, client, frozen_clock, settings):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    assert deliver(client, success_payload(charge, event_id="evt-pay")).status_code == 200
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.status == Payment.Status.PROCESSING
    # later the provider finishes it, but its notification is lost
    entry = sandbox.book_entry("refund", refund.transaction_id)
    sandbox._write_book("refund", refund.transaction_id, {**entry, "status": "refunded"})
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)

    before = ledger_snapshot()
    _sync("--dry-run")
    assert ledger_snapshot() == before
    output = _sync()

    assert refund.transaction_id in output
    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED
    assert _queried(refund) == 1
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    assert_ledger_consistent(rental)
    after = ledger_snapshot()
    _sync()
    assert ledger_snapshot() == after


def test_a_refund_the_provider_never_heard_of_is_sent_again_with_the_same_key(
    rental, customer, client, frozen_clock, monkeypatch
):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    assert deliver(client, success_payload(charge, event_id="evt-pay")).status_code == 200
    real_start = sandbox.SandboxProvider.start_refund

    def unreachable(self, **kwargs):
        raise sandbox.ProviderError("provider_unavailable", "connection refused")

    monkeypatch.setattr(sandbox.SandboxProvider, "start_refund", unreachable)
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.status == Payment.Status.PENDING
    monkeypatch.setattr(sandbox.SandboxProvider, "start_refund", real_start)
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)

    _sync()

    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED
    assert sandbox.book_entry("refund", refund.transaction_id)["requests"] == 1
    assert Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).count() == 1
    assert_ledger_consistent(rental)
    assert refund.amount == Decimal("2900.00")
