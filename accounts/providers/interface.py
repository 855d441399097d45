"""The one interface every payment provider adapter implements.

An adapter is pure protocol code: it builds the redirect that starts a charge,
verifies and parses a provider's callback into a :class:`CallbackEvent`, and
starts a refund. It never touches the database; ``accounts.services`` decides
what an event means for the ledger.
"""

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


class ProviderError(Exception):
    """Base of the errors an adapter raises; ``reason`` is a short machine code."""

    reason = "provider_error"

    def __init__(self, reason: str | None = None, detail: str = ""):
        self.reason = reason or self.reason
        self.detail = detail
        super().__init__(f"{self.reason}: {detail}" if detail else self.reason)


class UnknownProvider(ProviderError):
    reason = "unknown_provider"


class InvalidSignature(ProviderError):
    """Missing, malformed or wrong signature, or a timestamp out of tolerance (HTTP 400)."""

    reason = "bad_signature"


class MalformedCallback(ProviderError):
    """The signature is good but the body is not a callback we understand (HTTP 400)."""

    reason = "malformed_body"


class ProviderUnavailable(ProviderError):
    """No usable answer: a network error, a 5xx, or an answer whose signature
    does not verify. The provider may have acted all the same, so nothing is
    concluded from it: the job retries and the payment is queried (SPEC §11)."""

    reason = "provider_unavailable"


def header_value(headers, name: str) -> str | None:
    """A header of a callback, case-insensitively, from ``request.headers`` or
    any mapping; None when it is missing, not text, or the mapping misbehaves."""
    try:
        value = headers.get(name)
        if value is None:
            lowered = name.lower()
            for key, item in headers.items():
                if isinstance(key, str) and key.lower() == lowered:
                    value = item
                    break
    except Exception:  # a mapping that misbehaves is a missing header
        return None
    return value if isinstance(value, str) else None


def json_object(body: bytes) -> dict:
    """A callback body that must be one UTF-8 JSON object, or MalformedCallback."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedCallback("malformed_json", type(exc).__name__) from None
    if not isinstance(data, dict):
        raise MalformedCallback(detail="body is not a JSON object")
    return data


class CallbackStatus:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    REFUND_FAILED = "refund_failed"
    # The money left us but the customer's card refused it: it waits at the
    # provider (WeChat Pay ABNORMAL) for staff to resolve it. Still in flight.
    REFUND_ABNORMAL = "refund_abnormal"
    CHARGE = (SUCCEEDED, FAILED, CANCELLED)
    REFUND = (REFUNDED, REFUND_FAILED, REFUND_ABNORMAL)
    # A deposit hold (SPEC §18), the event's ``transaction_id`` the HLD id:
    # frozen / confirmed (Alipay freeze SUCCESS, Pay Score USER_CONFIRM),
    # refused, released by the provider (Alipay unfreeze notice), and the
    # takes of a completed Pay Score order paid (USER_PAID, ``amount`` their total).
    HELD = "held"
    HOLD_FAILED = "hold_failed"
    HOLD_RELEASED = "hold_released"
    HOLD_PAID = "hold_paid"
    HOLD = (HELD, HOLD_FAILED, HOLD_RELEASED, HOLD_PAID)
    ALL = CHARGE + REFUND + HOLD
    # A charge notice that is recorded and changes nothing (Alipay WAIT_BUYER_PAY).
    WAITING = "waiting"


class QueryStatus:
    """What a status query can answer besides the callback statuses."""

    PENDING = "pending"  # a charge not paid (yet), a refund accepted and not finished
    NOT_FOUND = "not_found"  # the provider has no such transaction
    CLOSED = "closed"  # a charge closed at the provider: it can no longer be paid


@dataclass(frozen=True)
class CallbackEvent:
    """A verified provider callback, normalised across providers."""

    provider: str
    event_id: str
    transaction_id: str
    status: str
    amount: Decimal
    failure_reason: str = ""
    provider_reference: str = ""
    raw: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class ChargeStart:
    """What starting a charge gives back: where to send the browser, or, for a
    QR-code payment (WeChat Pay Native), ``code_url`` for the page to show."""

    redirect_url: str
    provider_reference: str = ""
    code_url: str = ""


@dataclass(frozen=True)
class CallbackAnswer:
    """The HTTP answer to a provider callback, in the form that provider expects."""

    status: int
    content_type: str
    body: bytes


# A refund refused because our merchant balance at the provider was short
# (Alipay ACQ.SELLER_BALANCE_NOT_ENOUGH, WeChat Pay NOT_ENOUGH): both providers
# ask for the same request again, under the same id, once topped up (SPEC §17).
REFUND_BALANCE_SHORT = "merchant_balance_short"


@dataclass(frozen=True)
class RefundStart:
    """What starting a refund gives back.

    ``succeeded``: the provider accepted the request (False: it refused for
    good, ``failure_reason`` says why, and ``failure_code`` is
    :data:`REFUND_BALANCE_SHORT` when our merchant balance was short).
    ``confirmed``: the money went back already (a synchronous answer).
    ``callback``: a signed notification the provider sends next, ``(headers,
    body)``, for providers that live in this site (the sandbox); None for
    remote ones, which post it themselves.
    ``abnormal``: accepted, but the money is held at the provider because the
    customer's card refused it (WeChat Pay ABNORMAL; ``failure_reason`` says
    so): still in flight, for staff to resolve.
    """

    succeeded: bool
    provider_reference: str = ""
    failure_reason: str = ""
    confirmed: bool = False
    callback: tuple | None = None
    failure_code: str = ""
    abnormal: bool = False


@dataclass(frozen=True)
class QueryAnswer:
    """A provider's answer to a status query: a ``CallbackStatus`` or ``QueryStatus`` value."""

    status: str
    amount: Decimal | None = None
    failure_reason: str = ""
    provider_reference: str = ""


class HoldStatus:
    """A provider's view of a deposit hold (SPEC §18), in ``HoldAnswer.status``."""

    PENDING = "hold_pending"  # asked; the customer has not confirmed it (yet)
    HELD = CallbackStatus.HELD  # frozen / confirmed; takes and releases may follow
    FAILED = CallbackStatus.HOLD_FAILED  # refused (no Pay Score, balance short) or not finished
    CLOSED = "hold_closed"  # nothing left at the provider: released in full, cancelled, completed
    PAID = CallbackStatus.HOLD_PAID  # a completed Pay Score order whose takes were paid
    NOT_FOUND = QueryStatus.NOT_FOUND


@dataclass(frozen=True)
class HoldStart:
    """What starting a hold gives back: where to send the browser
    (``redirect_url``), or a QR code for the page to show (``code_url``:
    Alipay ``voucher.create`` on a desktop or at the counter), or what the
    customer's WeChat opens to confirm (``package``: a Pay Score service
    order's, for the confirmation page of the WeChat app or mini program)."""

    redirect_url: str = ""
    code_url: str = ""
    provider_reference: str = ""
    package: str = ""


@dataclass(frozen=True)
class HoldAnswer:
    """A provider's answer about a hold: to a query, a release, a cancel or a
    completion. ``status`` a ``HoldStatus`` value; the amounts, when the
    provider gives them, are the hold's totals at the provider (frozen in
    all, taken, released so far); ``request_status`` is the answer about the
    one request asked (a release or take by its request id): ``succeeded``,
    ``pending`` or ``failed``, empty for queries of the hold itself."""

    status: str
    amount: Decimal | None = None
    captured: Decimal | None = None
    released: Decimal | None = None
    provider_reference: str = ""
    failure_reason: str = ""
    request_status: str = ""


@dataclass(frozen=True)
class TakeItem:
    """One line of what is taken from a hold: ``name`` is one of the
    Pay Score car-rental item names (``PAYSCORE_RENTAL_ITEMS``), ``description``
    the reason in words, ``amount`` in yuan."""

    name: str
    amount: Decimal
    description: str = ""


# The post_payments item names WeChat Pay Score allows for car rental
# (微信支付分 免押租车 行业规范), and the one sent when nothing is taken.
PAYSCORE_RENTAL_ITEMS = (
    "租车相关费用",
    "延迟还车费用",
    "加油费用",
    "ETC高速费用",
    "车损费用",
    "折旧费用",
    "停运费用",
    "闯红灯违章",
)
PAYSCORE_NOTHING_TAKEN = ("租车相关费用", "本次无扣款")


@dataclass(frozen=True)
class AbnormalAnswer:
    """A provider's answer to an abnormal-refund resolution (SPEC §17):
    ``accepted`` (False: refused, ``reason`` says why), and the refund's status
    after it (a ``CallbackStatus``/``QueryStatus`` value)."""

    accepted: bool
    status: str = ""
    reason: str = ""
    provider_reference: str = ""


class PaymentProvider:
    """Interface of a payment provider adapter (one subclass per provider)."""

    name: str = ""
    signature_header: str = ""

    def start_charge(
        self,
        *,
        transaction_id: str,
        amount: Decimal,
        method: str,
        description: str,
        return_url: str,
        mobile: bool = False,
        expires_at: datetime | None = None,
    ) -> ChargeStart:
        """Open a charge at the provider; returns where to send the customer's browser.
        ``mobile``: the customer is on a phone (Alipay WAP pay, WeChat Pay H5).
        ``expires_at``: the charge's window; the provider takes no money after
        it (Alipay and WeChat Pay ``time_expire``, SPEC §17)."""
        raise NotImplementedError

    def callback_answer(self, *, http_status: int, payload: dict) -> CallbackAnswer:
        """How to answer a callback that ``handle_callback`` judged ``http_status``
        (``payload`` is its JSON verdict). Default: that JSON with that status."""
        return CallbackAnswer(
            status=http_status,
            content_type="application/json",
            body=json.dumps(payload, ensure_ascii=False).encode(),
        )

    def is_usable(self) -> bool:
        """Whether this provider can take charges and callbacks now (configured,
        switched on). A callback to an unusable provider is answered 404 and
        writes nothing; the pay page offers only methods whose provider is usable."""
        return True

    def describe(self) -> dict:
        """The adapter's configuration for ops, without any secret (key fingerprints at most)."""
        return {"provider": self.name}

    def fetch_statement(self, *, day: date) -> bytes:
        """The provider's statement of ``day`` (reconciliation, SPEC §14), as the
        provider gives it. Raises :class:`ProviderUnavailable`."""
        raise ProviderError("no_statement", f"{self.name} has no statement API")

    def parse_callback(self, *, headers, body: bytes, now: float | None = None) -> CallbackEvent:
        """Verify the signature of a callback and parse it.

        ``headers`` is a case-insensitive mapping (``request.headers``) or any
        mapping; ``body`` the raw bytes as received. Raises
        :class:`InvalidSignature` or :class:`MalformedCallback`.
        """
        raise NotImplementedError

    def start_refund(
        self, *, transaction_id: str, charge_transaction_id: str, amount: Decimal, reason: str
    ) -> RefundStart:
        """Ask the provider to pay ``amount`` of a charge back; ``transaction_id``
        (the REF id) is the idempotency key, so asking twice pays once. Raises
        :class:`ProviderUnavailable` when there is no usable answer."""
        raise NotImplementedError

    def query_charge(self, *, transaction_id: str) -> QueryAnswer:
        """The provider's view of a charge. Raises :class:`ProviderUnavailable`."""
        raise NotImplementedError

    def query_refund(self, *, transaction_id: str, charge_transaction_id: str = "") -> QueryAnswer:
        """The provider's view of a refund (``charge_transaction_id``: the charge
        it gives back, which Alipay's query needs). Raises :class:`ProviderUnavailable`."""
        raise NotImplementedError

    def encrypt_sensitive(self, text: str) -> str:
        """A sensitive request field (a card number, a name) encrypted for the
        provider alone; providers without such requests refuse."""
        raise ProviderError("not_supported", f"{self.name} takes no encrypted fields")

    def apply_abnormal_refund(
        self, *, transaction_id: str, provider_reference: str, resolution: str, **card
    ) -> AbnormalAnswer:
        """Resolve a refund the provider holds as abnormal (WeChat Pay, SPEC
        §17); ``card`` fields come encrypted by :meth:`encrypt_sensitive`."""
        raise ProviderError("not_supported", f"{self.name} has no abnormal refunds")

    def close_charge(self, *, transaction_id: str) -> QueryAnswer:
        """Close a charge that was never paid, so it can't be paid any more
        (SPEC §17); answers ``closed`` (also when the provider never had the
        charge: never created counts as closed) or ``succeeded`` with the
        amount if it was paid meanwhile. Raises :class:`ProviderUnavailable`
        when there is no usable answer; asking again is harmless."""
        raise NotImplementedError

    # --- deposits as holds (SPEC §18) ------------------------------------------------------
    #
    # A provider that takes holds sets ``takes_holds``. ``takes_at_completion``:
    # takes are not sent one by one but once, when the hold is completed
    # (WeChat Pay Score); otherwise each take is a trade of its own, sent at
    # once (Alipay ``alipay.trade.pay`` with ``auth_no``; the sandbox).

    takes_holds: bool = False
    takes_at_completion: bool = False

    def start_hold(
        self,
        *,
        transaction_id: str,
        amount: Decimal,
        description: str,
        return_url: str,
        mobile: bool = False,
        qr_code: bool = False,
        expires_at: datetime | None = None,
        release_days: int = 30,
    ) -> HoldStart:
        """Ask the provider to hold ``amount`` for the order (``transaction_id``
        the HLD id: Alipay ``out_order_no``/``out_request_no``, Pay Score
        ``out_order_no``). ``qr_code``: a code for the page to show instead of
        a redirect. ``release_days``: the days after the return the hold may
        still be taken from (the Pay Score rule text). Raises
        :class:`ProviderUnavailable`."""
        raise ProviderError("not_supported", f"{self.name} takes no holds")

    def query_hold(self, *, transaction_id: str, provider_reference: str = "") -> HoldAnswer:
        """The provider's view of a hold. Raises :class:`ProviderUnavailable`."""
        raise ProviderError("not_supported", f"{self.name} takes no holds")

    def cancel_hold(self, *, transaction_id: str, provider_reference: str = "", reason: str = "") -> HoldAnswer:
        """Cancel a hold nothing was taken from (an unfinished freeze, a Pay
        Score order not used): answers ``hold_closed``; asking again is
        harmless. Raises :class:`ProviderUnavailable`."""
        raise ProviderError("not_supported", f"{self.name} takes no holds")

    def take_from_hold(
        self,
        *,
        transaction_id: str,
        hold_transaction_id: str,
        provider_reference: str,
        amount: Decimal,
        reason: str,
        last: bool = False,
    ) -> RefundStart:
        """Take ``amount`` of a held hold as money (``transaction_id`` the PAY
        id of the take: Alipay ``out_trade_no``; ``last``: nothing stays
        frozen after it, Alipay ``auth_confirm_mode`` COMPLETE). Answers like a
        refund: accepted (``confirmed`` when paid at once; ``callback`` a signed
        notice the sandbox sends next) or refused. Asking again with the same
        id takes once. Raises :class:`ProviderUnavailable`."""
        raise ProviderError("not_supported", f"{self.name} takes no holds")

    def query_take(self, *, transaction_id: str) -> QueryAnswer:
        """The provider's view of one take (a trade), like ``query_charge``."""
        return self.query_charge(transaction_id=transaction_id)

    def release_hold(
        self, *, transaction_id: str, request_id: str, provider_reference: str, amount: Decimal, reason: str = ""
    ) -> HoldAnswer:
        """Give ``amount`` of a hold back to the customer (Alipay
        ``unfreeze`` with ``out_request_no`` = ``request_id``); the same
        request id releases once. Raises :class:`ProviderUnavailable`."""
        raise ProviderError("not_supported", f"{self.name} takes no holds")

    def complete_hold(
        self, *, transaction_id: str, items: "list[TakeItem]", total: Decimal, request_id: str = ""
    ) -> HoldAnswer:
        """End a hold whose takes are sent at completion (Pay Score
        ``complete``): ``items`` sum to ``total``; an empty list sends the one
        "nothing taken" item. Answers ``hold_closed`` when nothing is taken,
        else ``held`` until the customer's payment is notified (``hold_paid``).
        Raises :class:`ProviderUnavailable`."""
        raise ProviderError("not_supported", f"{self.name} takes no holds")
