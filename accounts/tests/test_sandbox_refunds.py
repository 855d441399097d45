"""The sandbox adapter's refunds and status queries (SPEC §11): the REF id is
the idempotency key, the outcome setting is read when a refund is asked for,
and the notification it hands back is signed like a charge callback."""

import json
from decimal import Decimal

import pytest

from accounts.providers import CallbackStatus, ProviderError, QueryStatus, sandbox

pytestmark = pytest.mark.django_db

ADAPTER = sandbox.SandboxProvider()


def _ask(tx="REF1", amount=Decimal("10.00")):
    return ADAPTER.start_refund(transaction_id=tx, charge_transaction_id="PAY1", amount=amount, reason="test")


@pytest.mark.parametrize(
    "outcome,status",
    [("refunded", "refunded"), ("refund_failed", "refund_failed"), ("hold", None), ("nonsense", "refunded")],
)
def test_the_outcome_setting_is_read_when_the_refund_is_asked(settings, outcome, status):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = outcome

    started = _ask()

    assert started.succeeded and not started.confirmed
    if status is None:
        assert started.callback is None
        assert ADAPTER.query_refund(transaction_id="REF1").status == QueryStatus.PENDING
        return
    headers, body = started.callback
    event = ADAPTER.parse_callback(headers=headers, body=body)  # verifies the signature
    assert (event.transaction_id, event.status, event.amount) == ("REF1", status, Decimal("10.00"))
    assert ADAPTER.query_refund(transaction_id="REF1").status == status


def test_asking_again_with_the_same_key_answers_the_same_and_moves_nothing(settings):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refunded"
    first = _ask()
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refund_failed"

    second = _ask()

    assert second.provider_reference == first.provider_reference
    assert second.callback[1] == first.callback[1]  # the same notification, same event id
    assert json.loads(second.callback[1])["status"] == CallbackStatus.REFUNDED
    assert sandbox.book_entry("refund", "REF1")["requests"] == 2
    assert ADAPTER.query_refund(transaction_id="REF2").status == QueryStatus.NOT_FOUND


def test_charges_are_queried_and_closed(settings):
    assert ADAPTER.query_charge(transaction_id="PAY1").status == QueryStatus.NOT_FOUND
    sandbox.record_charge_outcome(transaction_id="PAY1", status="succeeded", amount=Decimal("5.00"))
    answer = ADAPTER.query_charge(transaction_id="PAY1")
    assert (answer.status, answer.amount) == ("succeeded", Decimal("5.00"))
    assert ADAPTER.close_charge(transaction_id="PAY1").status == "succeeded"  # paid: can't be closed

    assert ADAPTER.close_charge(transaction_id="PAY2").status == QueryStatus.CLOSED
    sandbox.record_charge_outcome(transaction_id="PAY2", status="succeeded", amount=Decimal("5.00"))
    assert ADAPTER.query_charge(transaction_id="PAY2").status == QueryStatus.CLOSED


def test_a_switched_off_sandbox_refunds_nothing(settings):
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = False

    with pytest.raises(ProviderError):
        _ask()
    assert sandbox.book_entry("refund", "REF1") is None
