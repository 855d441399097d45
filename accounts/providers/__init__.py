"""Payment provider adapters.

``get_provider("sandbox")`` returns the adapter by name; an unknown name raises
:class:`UnknownProvider`. A new charge's provider follows its method
(:func:`provider_for_method`, SPEC §13) and stays with the charge for life; a
new deposit hold's too (:func:`hold_provider_for_method`, SPEC §18).
"""

from django.conf import settings

from accounts.providers.alipay import AlipayProvider
from accounts.providers.interface import (
    REFUND_BALANCE_SHORT,
    AbnormalAnswer,
    CallbackAnswer,
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
from accounts.providers.wechatpay import WechatPayProvider

PROVIDERS: dict[str, type[PaymentProvider]] = {
    SandboxProvider.name: SandboxProvider,
    WechatPayProvider.name: WechatPayProvider,
    AlipayProvider.name: AlipayProvider,
}

__all__ = [
    "REFUND_BALANCE_SHORT",
    "AbnormalAnswer",
    "CallbackAnswer",
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
    "provider_for_method",
    "hold_provider_for_method",
]


def get_provider(name: str) -> PaymentProvider:
    try:
        return PROVIDERS[name]()
    except (KeyError, TypeError):
        raise UnknownProvider(detail=str(name)[:40]) from None


def is_online(name: str) -> bool:
    """Whether ``name`` is a provider we ask (its refunds wait for its word, SPEC §11)."""
    return name in PROVIDERS


def provider_for_method(method: str) -> PaymentProvider:
    """The provider a new charge paid with ``method`` goes to (SPEC §13).

    ``PAYMENT_PROVIDER=sandbox`` sends every method to the sandbox. Otherwise
    ALIPAY goes to ``alipay`` when ``ALIPAY_APP_ID`` is set, WECHAT to
    ``wechatpay`` when ``WECHATPAY_MCHID`` is set, anything else to the sandbox.
    Settings are read on each call, not at import.
    """
    forced: str = getattr(settings, "PAYMENT_PROVIDER", "") or ""
    if forced:
        return get_provider(forced)
    name = SandboxProvider.name
    if method == "ALIPAY" and bool(getattr(settings, "ALIPAY_APP_ID", "")):
        name = "alipay"
    elif method == "WECHAT" and bool(getattr(settings, "WECHATPAY_MCHID", "")):
        name = "wechatpay"
    return get_provider(name)


def hold_provider_for_method(method: str) -> PaymentProvider:
    """The provider a new deposit hold with ``method`` goes to (SPEC §18): the
    one its charges go to (:func:`provider_for_method`), ALIPAY → ``alipay``
    (资金预授权), WECHAT → ``wechatpay`` (its Pay Score calls, 免押租车), the
    sandbox otherwise. Raises :class:`ProviderError` ``not_supported`` when that
    provider takes no holds."""
    provider = provider_for_method(method)
    if not provider.takes_holds:
        raise ProviderError("not_supported", f"{provider.name} takes no deposit holds")
    return provider
