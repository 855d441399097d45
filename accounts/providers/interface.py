"""The one interface every payment provider adapter implements.

An adapter is pure protocol code: it builds the redirect that starts a charge,
verifies and parses a provider's callback into a :class:`CallbackEvent`, and
starts a refund. It never touches the database; ``accounts.services`` decides
what an event means for the ledger.
"""

from dataclasses import dataclass, field
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


class CallbackStatus:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ALL = (SUCCEEDED, FAILED, CANCELLED)


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
    """What starting a charge gives back: where to send the browser."""

    redirect_url: str
    provider_reference: str = ""


@dataclass(frozen=True)
class RefundStart:
    """What starting a refund gives back."""

    succeeded: bool
    provider_reference: str = ""
    failure_reason: str = ""


class PaymentProvider:
    """Interface of a payment provider adapter (one subclass per provider)."""

    name: str = ""
    signature_header: str = ""

    def start_charge(
        self, *, transaction_id: str, amount: Decimal, method: str, description: str, return_url: str
    ) -> ChargeStart:
        """Open a charge at the provider; returns where to send the customer's browser."""
        raise NotImplementedError

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
        """Ask the provider to pay ``amount`` of a charge back."""
        raise NotImplementedError
