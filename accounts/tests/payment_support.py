"""Helpers shared by the payment tests: signed sandbox callbacks and ledger snapshots."""

import json
import time

from django.urls import reverse

from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.providers import sandbox

CALLBACK_URL = "/api/payments/callback/sandbox/"


def callback_url(provider: str = "sandbox") -> str:
    return reverse("payments:callback", args=[provider])


def signed_body(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def success_payload(charge: Payment, *, event_id: str = "evt_1", amount=None, status="succeeded", **extra) -> dict:
    return {
        "event_id": event_id,
        "transaction_id": charge.transaction_id,
        "status": status,
        "amount": str(charge.amount if amount is None else amount),
        **extra,
    }


def post_signed(client, body: bytes, *, timestamp: int | None = None, provider: str = "sandbox", signature=None):
    """POST ``body`` to the callback endpoint with a real sandbox signature
    (``signature`` replaces the header value; ``None`` keeps the real one)."""
    t = int(time.time()) if timestamp is None else timestamp
    header = sandbox.signature_header(body, t) if signature is None else signature
    headers = {} if header == "" else {"X-Sandbox-Signature": header}
    return client.post(callback_url(provider), data=body, content_type="application/json", headers=headers)


def deliver(client, payload: dict, **kwargs):
    return post_signed(client, signed_body(payload), **kwargs)


def ledger_snapshot() -> dict:
    """Everything a callback may change: ledger rows, their audit trail, receipts, notifications."""
    return {
        "payments": sorted(
            Payment.objects.values_list("pk", "status", "amount", "transaction_type", "paid_at", "failure_reason")
        ),
        "payment_events": PaymentEvent.objects.filter(payment__isnull=False).count(),
        "receipts": CallbackReceipt.objects.count(),
        "notifications": Notification.objects.count(),
    }


def callback_events(**filters):
    return PaymentEvent.objects.filter(event="callback_received", **filters).order_by("id")
