"""The sandbox provider adapter: signing, verification and parsing.

No test here has database access (no django_db mark): pytest-django makes any
query fail, which shows the adapter is pure protocol code."""

import json
import time
from decimal import Decimal

import pytest
from django.test import override_settings

from accounts.providers import (
    CallbackEvent,
    InvalidSignature,
    MalformedCallback,
    UnknownProvider,
    get_provider,
    provider_for_method,
    sandbox,
)
from accounts.providers.sandbox import SandboxProvider, build_callback, compute_signature, signature_header

NOW = 1_760_000_000


def _body(**overrides) -> bytes:
    payload = {"event_id": "evt_1", "transaction_id": "PAY20260101ABC", "status": "succeeded", "amount": "2900.00"}
    payload.update(overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    return json.dumps(payload).encode()


def _parse(body: bytes, header: str | None = None, now: float = NOW):
    headers = {} if header is None else {"X-Sandbox-Signature": header}
    return SandboxProvider().parse_callback(headers=headers, body=body, now=now)


def test_registry_returns_the_sandbox_and_refuses_unknown_names():
    assert isinstance(get_provider("sandbox"), SandboxProvider)
    for method in ["ALIPAY", "WECHAT", "CARD"]:
        assert isinstance(provider_for_method(method), SandboxProvider)
    for name in ["alipay-fake", "", "SANDBOX", None]:
        with pytest.raises(UnknownProvider):
            get_provider(name)


def test_provider_for_method_follows_the_configured_providers(settings):
    settings.PAYMENT_PROVIDER = ""
    settings.ALIPAY_APP_ID = ""
    settings.WECHATPAY_MCHID = ""
    assert provider_for_method("ALIPAY").name == "sandbox"
    settings.PAYMENT_PROVIDER = "no-such-provider"
    with pytest.raises(UnknownProvider):
        provider_for_method("CARD")


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    body = _body()
    expected = hmac.new(b"sandbox-dev-secret", f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    with override_settings(PAYMENT_SANDBOX_SECRET="sandbox-dev-secret"):
        assert compute_signature(NOW, body) == expected
        assert signature_header(body, NOW) == f"t={NOW},v1={expected}"


def test_a_correctly_signed_callback_parses_into_a_normalised_event():
    body = _body(failure_reason=None)
    event = _parse(body, signature_header(body, NOW))
    assert isinstance(event, CallbackEvent)
    assert event.provider == "sandbox"
    assert event.event_id == "evt_1"
    assert event.transaction_id == "PAY20260101ABC"
    assert event.status == "succeeded"
    assert event.amount == Decimal("2900.00")
    assert isinstance(event.amount, Decimal)


def test_header_lookup_is_case_insensitive_for_plain_dicts():
    body = _body()
    event = SandboxProvider().parse_callback(
        headers={"x-sandbox-signature": signature_header(body, NOW)}, body=body, now=NOW
    )
    assert event.event_id == "evt_1"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"t={NOW}",
        "v1=" + "0" * 64,
        f"t=abc,v1={'0' * 64}",
        f"t={NOW},v1={'0' * 64}",
        f"t={NOW},t={NOW},v1={'0' * 64}",
        f"t={NOW},v1=NOTHEX",
        "t=" + "9" * 5000 + ",v1=00",
    ],
)
def test_missing_or_wrong_signatures_are_refused(header):
    with pytest.raises(InvalidSignature):
        _parse(_body(), header)


def test_a_signature_made_with_another_secret_is_refused():
    body = _body()
    with override_settings(PAYMENT_SANDBOX_SECRET="someone-else"):
        forged = signature_header(body, NOW)
    with pytest.raises(InvalidSignature):
        _parse(body, forged)


def test_a_signature_over_another_body_is_refused():
    header = signature_header(_body(amount="1.00"), NOW)
    with pytest.raises(InvalidSignature):
        _parse(_body(amount="2900.00"), header)


@pytest.mark.parametrize("offset", [-600, 600, -301, 301])
def test_timestamps_outside_the_tolerance_are_refused(offset):
    body = _body()
    with pytest.raises(InvalidSignature) as exc:
        _parse(body, signature_header(body, NOW + offset))
    assert exc.value.reason == "stale_timestamp"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_the_tolerance_are_accepted(offset):
    body = _body()
    assert _parse(body, signature_header(body, NOW + offset)).event_id == "evt_1"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[]",
        b'"x"',
        b"\xff\xfe",
        b"[" * 100_000,
        _body(event_id=None),
        _body(transaction_id=None),
        _body(status="paid"),
        _body(amount=None),
        _body(amount=2900),
        _body(amount=2900.0),
        _body(amount="-1.00"),
        _body(amount="1.001"),
        _body(amount="NaN"),
        _body(amount="1e3"),
        _body(event_id=""),
        _body(event_id="has space"),
        _body(transaction_id="PAY\u0000X"),
        _body(failure_reason=12),
    ],
)
def test_signed_but_malformed_bodies_are_refused(body):
    with pytest.raises(MalformedCallback):
        _parse(body, signature_header(body, NOW))


def test_failure_reason_is_cleaned_of_control_characters():
    body = _body(status="failed", failure_reason="Card\u0000 declined\n")
    event = _parse(body, signature_header(body, NOW))
    assert event.failure_reason == "Card declined"


def test_build_callback_round_trips_through_the_parser():
    headers, body = build_callback(
        transaction_id="PAYX1", status="failed", amount=Decimal("12.30"), failure_reason="余额不足"
    )
    event = SandboxProvider().parse_callback(headers=headers, body=body, now=time.time())
    assert (event.transaction_id, event.status, event.amount, event.failure_reason) == (
        "PAYX1",
        "failed",
        Decimal("12.30"),
        "余额不足",
    )
    assert event.event_id.startswith("evt_")
    # Every build gets its own event id, as separate provider deliveries do.
    assert build_callback(transaction_id="PAYX1", status="failed", amount="1.00")[1] != body


def test_start_charge_points_at_the_sandbox_checkout_page():
    started = SandboxProvider().start_charge(
        transaction_id="PAYX1", amount=Decimal("1.00"), method="ALIPAY", description="", return_url="/r/"
    )
    assert started.redirect_url == "/payments/sandbox/PAYX1/"
    refund = SandboxProvider().start_refund(
        transaction_id="REFX1", charge_transaction_id="PAYX1", amount=Decimal("1.00"), reason="test"
    )
    assert refund.succeeded


def test_the_signature_header_name():
    assert sandbox.SIGNATURE_HEADER == "X-Sandbox-Signature"
