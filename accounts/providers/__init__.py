"""Payment provider adapters, selected by name (``PAYMENT_PROVIDER``).

``get_provider("sandbox")`` returns the adapter; an unknown name raises
:class:`UnknownProvider`. Adapters are stateless, so one instance is shared.
"""

from django.conf import settings

from accounts.providers.interface import (
    CallbackEvent,
    CallbackStatus,
    ChargeStart,
    InvalidSignature,
    MalformedCallback,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
    QueryAnswer,
    QueryStatus,
    RefundStart,
    UnknownProvider,
)
from accounts.providers.sandbox import SandboxProvider

PROVIDERS: dict[str, type[PaymentProvider]] = {
    SandboxProvider.name: SandboxProvider,
}

__all__ = [
    "CallbackEvent",
    "CallbackStatus",
    "ChargeStart",
    "InvalidSignature",
    "MalformedCallback",
    "PaymentProvider",
    "ProviderError",
    "ProviderUnavailable",
    "QueryAnswer",
    "QueryStatus",
    "RefundStart",
    "UnknownProvider",
    "PROVIDERS",
    "get_provider",
    "is_online",
    "default_provider",
]


def get_provider(name: str) -> PaymentProvider:
    try:
        return PROVIDERS[name]()
    except (KeyError, TypeError):
        raise UnknownProvider(detail=str(name)[:40]) from None


def is_online(name: str) -> bool:
    """Whether ``name`` is a provider we ask (its refunds wait for its word, SPEC §11)."""
    return name in PROVIDERS


def default_provider() -> PaymentProvider:
    """The provider new customer charges go to (``settings.PAYMENT_PROVIDER``)."""
    return get_provider(settings.PAYMENT_PROVIDER)
