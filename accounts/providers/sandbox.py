"""The built-in ``sandbox`` provider (SPEC §6).

Its checkout page is part of this site (``payments:sandbox_checkout``); the
page lets a person choose the outcome and then posts a callback signed exactly
as a remote provider would sign it:

    X-Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

with a JSON body ``{"event_id", "transaction_id", "status", "amount",
"failure_reason"?}``. The secret is ``PAYMENT_SANDBOX_SECRET`` and a timestamp
more than ``PAYMENT_CALLBACK_TOLERANCE_SECONDS`` away from now is refused.

The checkout page approves whatever the person clicks, and the development
secret is public (README), so with ``DEBUG`` off the sandbox works only when
``PAYMENT_SANDBOX_ENABLED`` is on and the secret is not the development one
(SPEC §16 Production; ``accounts.checks`` fails ``manage.py check``
otherwise). Settings are read on every call.

Refunds (SPEC §11): the sandbox accepts a refund at once and keeps what it did
in its own book (the cache, keyed by the REF id, which is the idempotency key:
asking again answers the same and moves no money twice). What happens next is
``PAYMENT_SANDBOX_REFUND_OUTCOME``, read when the refund is asked for:
``refunded`` (default) or ``refund_failed`` — the answer carries the signed
callback the provider sends (``"status": "refunded" | "refund_failed"``) — or
``hold``: no confirmation, the refund stays in progress until it is queried.
Charges opened and paid through the checkout page are in the same book, so a
status query answers what a lost callback would have said.

Statement (SPEC §14): the book also lists, per local day (Asia/Shanghai), the
charges paid and the refunds asked that day; ``fetch_statement(day=…)`` writes
them in the sandbox statement format (``accounts.reconciliation.parsers``,
README), each with its status in the book now.
"""

import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from accounts.providers.interface import (
    CallbackEvent,
    CallbackStatus,
    ChargeStart,
    InvalidSignature,
    MalformedCallback,
    PaymentProvider,
    ProviderError,
    QueryAnswer,
    QueryStatus,
    RefundStart,
    header_value,
    json_object,
)
from car_rental_system.money import quantize_money

DEV_SECRET = "sandbox-dev-secret"
# PAYMENT_SANDBOX_REFUND_OUTCOME → what the sandbox records for a new refund.
REFUND_OUTCOMES = {
    "refunded": CallbackStatus.REFUNDED,
    "refund_failed": CallbackStatus.REFUND_FAILED,
    "hold": QueryStatus.PENDING,
}
REFUND_REFUSAL = "The sandbox refused the refund"
BOOK_TIMEOUT = 60 * 60 * 24 * 30
SIGNATURE_HEADER = "X-Sandbox-Signature"
MAX_HEADER_LENGTH = 512
MAX_BODY_BYTES = 16 * 1024

# Used with ``fullmatch`` only: "$" would also match before a trailing
# newline, so "2560.00\n" would pass as an amount.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,100}")
_TRANSACTION_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
_AMOUNT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")


def sandbox_enabled() -> bool:
    """Always in development; with DEBUG off only when switched on with a secret of its own."""
    if settings.DEBUG:
        return True
    return bool(settings.PAYMENT_SANDBOX_ENABLED) and str(settings.PAYMENT_SANDBOX_SECRET) != DEV_SECRET


def _secret() -> bytes:
    return str(settings.PAYMENT_SANDBOX_SECRET).encode()


def compute_signature(timestamp: int | str, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(_secret(), message, hashlib.sha256).hexdigest()


def signature_header(body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Sandbox-Signature`` value for ``body`` (now, unless ``timestamp``)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={compute_signature(t, body)}"


def build_callback(
    *,
    transaction_id: str,
    status: str,
    amount,
    failure_reason: str = "",
    event_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """A signed callback as the sandbox provider sends it: ``(headers, raw body)``."""
    payload = {
        "event_id": event_id or f"evt_{secrets.token_hex(12)}",
        "transaction_id": transaction_id,
        "status": status,
        "amount": str(amount),
    }
    if failure_reason:
        payload["failure_reason"] = failure_reason
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {SIGNATURE_HEADER: signature_header(body, timestamp), "Content-Type": "application/json"}
    return headers, body


def _parse_signature_header(value: str) -> tuple[str, list[str]]:
    timestamp = None
    digests: list[str] = []
    for part in value.split(","):
        # No stripping: whitespace or control characters around a part make
        # the header malformed rather than being silently repaired.
        key, sep, item = part.partition("=")
        if not sep:
            raise InvalidSignature(detail="malformed signature header")
        if key == "t":
            if timestamp is not None:
                raise InvalidSignature(detail="timestamp given twice")
            timestamp = item
        elif key == "v1":
            digests.append(item)
    if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
        raise InvalidSignature(detail="missing or malformed timestamp")
    if not digests:
        raise InvalidSignature(detail="missing v1 signature")
    return timestamp, digests


# --- the sandbox's own book of charges and refunds ---------------------------------


def _book_key(kind: str, transaction_id: str) -> str:
    return f"sandbox:{kind}:{transaction_id}"


def book_entry(kind: str, transaction_id: str) -> dict | None:
    """What the sandbox holds about a ``charge`` or ``refund`` (None: nothing)."""
    return cache.get(_book_key(kind, transaction_id))


def _write_book(kind: str, transaction_id: str, entry: dict) -> None:
    cache.set(_book_key(kind, transaction_id), entry, BOOK_TIMEOUT)


def _statement_day(when: datetime) -> date:
    return when.astimezone(ZoneInfo("Asia/Shanghai")).date()


def _list_on_day(kind: str, transaction_id: str, when: datetime) -> None:
    """Put a transaction on the sandbox's statement of ``when``'s local day (an atomic counter
    per day, so concurrent checkouts never overwrite each other)."""
    key = f"sandbox:statement:{_statement_day(when).isoformat()}"
    cache.add(f"{key}:n", 0, BOOK_TIMEOUT)
    try:
        n = cache.incr(f"{key}:n")
    except ValueError:  # the counter expired between add and incr
        cache.add(f"{key}:n", 0, BOOK_TIMEOUT)
        n = cache.incr(f"{key}:n")
    cache.set(f"{key}:{n}", {"kind": kind, "transaction_id": transaction_id, "at": when.isoformat()}, BOOK_TIMEOUT)


def statement_entries(day: date) -> list[dict]:
    """What the sandbox lists for ``day``: one dict per transaction, in order."""
    key = f"sandbox:statement:{day.isoformat()}"
    count = cache.get(f"{key}:n") or 0
    found = cache.get_many([f"{key}:{n}" for n in range(1, count + 1)])
    return [found[f"{key}:{n}"] for n in range(1, count + 1) if f"{key}:{n}" in found]


def record_charge_outcome(*, transaction_id: str, status: str, amount, now: datetime | None = None) -> None:
    """The checkout page's outcome, as the provider knows it (before its callback)."""
    entry = book_entry("charge", transaction_id) or {}
    if entry.get("status") == QueryStatus.CLOSED:
        return
    paid_now = status == CallbackStatus.SUCCEEDED and entry.get("status") != CallbackStatus.SUCCEEDED
    _write_book("charge", transaction_id, {**entry, "status": status, "amount": str(amount)})
    if paid_now:
        _list_on_day("charge", transaction_id, now or timezone.now())


def refund_outcome_setting() -> str:
    value = str(getattr(settings, "PAYMENT_SANDBOX_REFUND_OUTCOME", "refunded") or "refunded")
    return value if value in REFUND_OUTCOMES else "refunded"


class SandboxProvider(PaymentProvider):
    name = "sandbox"
    signature_header = SIGNATURE_HEADER

    def start_charge(
        self, *, transaction_id, amount, method, description, return_url, mobile: bool = False, expires_at=None
    ) -> ChargeStart:
        if not sandbox_enabled():
            raise ProviderError("provider_disabled", "the sandbox is switched off")
        # The sandbox "provider" lives in this site: nothing leaves the machine.
        return ChargeStart(redirect_url=reverse("payments:sandbox_checkout", args=[transaction_id]))

    def start_refund(self, *, transaction_id, charge_transaction_id, amount, reason) -> RefundStart:
        if not sandbox_enabled():
            raise ProviderError("provider_disabled", "the sandbox is switched off")
        entry = book_entry("refund", transaction_id)
        if entry is None:
            # The first request for this idempotency key: the money moves (or is refused) once.
            entry = {
                "charge": charge_transaction_id,
                "amount": str(amount),
                "status": REFUND_OUTCOMES[refund_outcome_setting()],
                "reference": f"sbx_ref_{secrets.token_hex(8)}",
                "requests": 0,
            }
            _list_on_day("refund", transaction_id, timezone.now())
        entry["requests"] += 1
        _write_book("refund", transaction_id, entry)
        callback = None
        if entry["status"] in CallbackStatus.REFUND:
            callback = build_callback(
                transaction_id=transaction_id,
                status=entry["status"],
                amount=entry["amount"],
                failure_reason=REFUND_REFUSAL if entry["status"] == CallbackStatus.REFUND_FAILED else "",
                # One notification per refund: a repeated request re-sends the same event.
                event_id=f"evt_{entry['reference']}_{entry['status']}",
            )
        return RefundStart(succeeded=True, provider_reference=entry["reference"], callback=callback)

    def is_usable(self) -> bool:
        return sandbox_enabled()

    def describe(self) -> dict:
        return {
            "provider": self.name,
            "enabled": sandbox_enabled(),
            "secret": "development (public)" if str(settings.PAYMENT_SANDBOX_SECRET) == DEV_SECRET else "own",
            "refund_outcome": refund_outcome_setting(),
        }

    def query_refund(self, *, transaction_id, charge_transaction_id: str = "") -> QueryAnswer:
        entry = book_entry("refund", transaction_id)
        if entry is None:
            return QueryAnswer(status=QueryStatus.NOT_FOUND)
        return QueryAnswer(
            status=entry["status"],
            amount=Decimal(entry["amount"]),
            failure_reason=REFUND_REFUSAL if entry["status"] == CallbackStatus.REFUND_FAILED else "",
            provider_reference=entry["reference"],
        )

    def query_charge(self, *, transaction_id) -> QueryAnswer:
        entry = book_entry("charge", transaction_id)
        if entry is None:
            return QueryAnswer(status=QueryStatus.NOT_FOUND)
        amount = Decimal(entry["amount"]) if entry.get("amount") else None
        return QueryAnswer(status=entry["status"], amount=amount)

    def close_charge(self, *, transaction_id) -> QueryAnswer:
        entry = book_entry("charge", transaction_id) or {}
        if entry.get("status") == CallbackStatus.SUCCEEDED:
            return self.query_charge(transaction_id=transaction_id)
        _write_book("charge", transaction_id, {**entry, "status": QueryStatus.CLOSED})
        return QueryAnswer(status=QueryStatus.CLOSED)

    def fetch_statement(self, *, day: date) -> bytes:
        """The sandbox statement of ``day`` from its book (format: README, "Reconciliation")."""
        from accounts.reconciliation.parsers import build_sandbox_statement

        if not sandbox_enabled():
            raise ProviderError("provider_disabled", "the sandbox is switched off")
        rows = []
        for item in statement_entries(day):
            entry = book_entry(item["kind"], item["transaction_id"]) or {}
            if item["kind"] == "charge":
                status = CallbackStatus.SUCCEEDED
            else:
                status = {
                    CallbackStatus.REFUNDED: "refunded",
                    CallbackStatus.REFUND_FAILED: "refund_failed",
                }.get(str(entry.get("status")), "pending")
            amount = entry.get("amount")
            if not amount:
                continue
            at = datetime.fromisoformat(item["at"])
            rows.append((item["transaction_id"], item["kind"], status, Decimal(amount), Decimal("0"), at))
        return build_sandbox_statement(day, rows)

    def verify_signature(self, *, headers, body: bytes, now: float | None = None) -> None:
        value = header_value(headers, SIGNATURE_HEADER)
        if not value:
            raise InvalidSignature("missing_signature", "no X-Sandbox-Signature header")
        if len(value) > MAX_HEADER_LENGTH:
            raise InvalidSignature(detail="signature header too long")
        timestamp, digests = _parse_signature_header(value)
        expected = compute_signature(timestamp, body)
        # Compare every candidate in constant time; no early exit on the first match.
        matched = False
        for digest in digests:
            candidate = digest if _HEX_DIGEST.fullmatch(digest) else "0" * 64
            matched |= hmac.compare_digest(candidate, expected)
        if not matched:
            raise InvalidSignature(detail="signature does not match")
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > settings.PAYMENT_CALLBACK_TOLERANCE_SECONDS:
            raise InvalidSignature("stale_timestamp", "timestamp outside the tolerance")

    def parse_callback(self, *, headers, body: bytes, now: float | None = None) -> CallbackEvent:
        if not isinstance(body, (bytes, bytearray)):
            raise InvalidSignature(detail="body is not bytes")
        body = bytes(body)
        self.verify_signature(headers=headers, body=body, now=now)
        return self.parse_body(body)

    def parse_body(self, body: bytes) -> CallbackEvent:
        if not body:
            raise MalformedCallback("empty_body", "empty body")
        if len(body) > MAX_BODY_BYTES:
            raise MalformedCallback(detail="body too large")
        data = json_object(body)
        event_id = data.get("event_id")
        transaction_id = data.get("transaction_id")
        status = data.get("status")
        amount = data.get("amount")
        failure_reason = data.get("failure_reason", "")
        if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise MalformedCallback(detail="bad event_id")
        if not isinstance(transaction_id, str) or not _TRANSACTION_ID.fullmatch(transaction_id):
            raise MalformedCallback(detail="bad transaction_id")
        if status not in CallbackStatus.ALL:
            raise MalformedCallback(detail="bad status")
        # Money is a string on the wire; a JSON number would have been a float.
        if not isinstance(amount, str) or not _AMOUNT.fullmatch(amount):
            raise MalformedCallback(detail="bad amount")
        try:
            amount_value = quantize_money(amount)
        except InvalidOperation:  # pragma: no cover - the pattern already rules it out
            raise MalformedCallback(detail="bad amount") from None
        if failure_reason is None:
            failure_reason = ""
        if not isinstance(failure_reason, str):
            raise MalformedCallback(detail="bad failure_reason")
        # Free text: control characters are dropped, not refused (it is only shown).
        failure_reason = "".join(ch for ch in failure_reason if ch.isprintable()).strip()[:255]
        return CallbackEvent(
            provider=self.name,
            event_id=event_id,
            transaction_id=transaction_id,
            status=status,
            amount=amount_value,
            failure_reason=failure_reason,
            provider_reference=event_id,
            raw=data,
        )
