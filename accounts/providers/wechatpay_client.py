"""The WeChat Pay SDK client on the current settings: public-key mode only,
direct merchant, each thread's last raw answer kept so that error answers can
be verified before they are believed (SPEC §13)."""

import json
from contextvars import ContextVar
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.urls import reverse
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core

from accounts.providers.interface import ProviderError, ProviderUnavailable
from accounts.providers.wechatpay_keys import (
    DEFAULT_GATEWAY,
    _pkcs8_text,
    _setting,
    _spki_text,
    configuration_errors,
    load_private_key,
    load_public_key,
)

NAME = "wechatpay"

# The raw answer (headers, text) of this thread's last SDK call.
_last_response: ContextVar[tuple | None] = ContextVar("wechatpay_last_response", default=None)


def _gateway() -> str:
    return str(_setting("WECHATPAY_GATEWAY", DEFAULT_GATEWAY) or DEFAULT_GATEWAY).rstrip("/")


def _notify_url() -> str:
    """Where WeChat Pay posts its notifications: ``WECHATPAY_NOTIFY_URL``, else
    ``SITE_URL`` + the callback path (as for Alipay), else the address the
    current request came to."""
    configured = str(_setting("WECHATPAY_NOTIFY_URL") or "")
    if configured:
        return configured
    from car_rental_system.request_context import request_var

    path = reverse("payments:callback", args=[NAME])
    site = str(_setting("SITE_URL") or "").strip()
    if site:
        return urljoin(site.rstrip("/") + "/", path.lstrip("/"))
    request: Any = request_var.get()
    if request is None:
        return ""
    return request.build_absolute_uri(path)


def _client_ip() -> str:
    """The payer's address for H5 (WeChat Pay compares it with the phone's):
    the request's, from the header the site trusts behind a proxy."""
    from car_rental_system.request_context import request_var

    meta = getattr(request_var.get(), "META", None) or {}
    key = getattr(settings, "RATELIMIT_IP_META_KEY", None)
    value = meta.get(key) if isinstance(key, str) and key.isupper() else None
    value = (value or meta.get("REMOTE_ADDR") or "127.0.0.1").split(",")[0].strip()
    return value[:45]


class _OfflineCore(Core):
    """The SDK's core in public-key mode only: an answer signed under another
    serial is unverifiable, never a reason to download certificates."""

    def _update_certificates(self):
        self._certificates.clear()


class _Client(WeChatPay):
    """The SDK's client on :class:`_OfflineCore`, direct merchant mode."""

    def __init__(
        self, *, mchid, appid, cert_serial_no, private_key, apiv3_key, public_key, public_key_id, notify_url, timeout
    ):
        self._type = WeChatPayType.NATIVE
        self._mchid = mchid
        self._appid = appid
        self._notify_url = notify_url or None
        self._partner_mode = False
        self._core = _OfflineCore(
            mchid=mchid,
            cert_serial_no=cert_serial_no,
            private_key=private_key,
            apiv3_key=apiv3_key,
            timeout=timeout,
            public_key=public_key,
            public_key_id=public_key_id,
        )


def _client() -> _Client:
    """An SDK client on the current settings, its gateway ``WECHATPAY_GATEWAY``."""
    _install_recorder()
    errors = configuration_errors()
    if not _setting("WECHATPAY_MCHID"):
        errors = ["WECHATPAY_MCHID is not set"]
    if errors:
        raise ProviderError("not_configured", "; ".join(errors))
    timeout = float(_setting("WECHATPAY_TIMEOUT_SECONDS", 10) or 10)
    return _client_for(
        mchid=str(_setting("WECHATPAY_MCHID")),
        appid=str(_setting("WECHATPAY_APPID")),
        cert_serial_no=str(_setting("WECHATPAY_CERT_SERIAL_NO")),
        private_key=_pkcs8_text(load_private_key(_setting("WECHATPAY_PRIVATE_KEY"))),
        apiv3_key=str(_setting("WECHATPAY_APIV3_KEY")),
        public_key=_spki_text(load_public_key(_setting("WECHATPAY_PUBLIC_KEY"))),
        public_key_id=str(_setting("WECHATPAY_PUBLIC_KEY_ID")),
        notify_url=_notify_url(),
        timeout=(min(timeout, 5.0), timeout),
        gateway=_gateway(),
    )


@lru_cache(maxsize=4)
def _client_for(*, gateway: str, **config) -> _Client:
    """One SDK client per configuration (its core parses the key again; it
    keeps no state between calls)."""
    client = _Client(**config)
    client._core._gate_way = gateway
    return client


def _verified_json(code: int, message) -> dict:
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise ProviderUnavailable(detail=f"HTTP {code}: answer is not text") from None
    if not message:
        return {}
    try:
        data = json.loads(message)
    except ValueError:
        raise ProviderUnavailable(detail=f"HTTP {code}: answer is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderUnavailable(detail=f"HTTP {code}: answer is not a JSON object")
    return data


class _RecordingRequests:
    """``requests`` as the SDK's core module sees it: the same module, with
    ``get``/``post`` keeping the raw answer (headers and text) of this thread's
    last call, so the adapter can verify the error answers the SDK hands back
    unverified."""

    def __init__(self, module):
        self._module = module

    def _keep(self, response):
        _last_response.set((response.headers, response.text))
        return response

    def get(self, url, **kwargs):
        return self._keep(self._module.get(url, **kwargs))

    def post(self, url, **kwargs):
        return self._keep(self._module.post(url, **kwargs))

    def __getattr__(self, name):
        return getattr(self._module, name)


def _install_recorder() -> None:
    import wechatpayv3.core as core_module

    if not isinstance(core_module.requests, _RecordingRequests):
        core_module.requests = _RecordingRequests(core_module.requests)
