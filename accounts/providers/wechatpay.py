"""The ``wechatpay`` provider: WeChat Pay API v3 through its SDK, ``wechatpayv3`` (SPEC §13).

Settings, read when used (never at import): ``WECHATPAY_MCHID``,
``WECHATPAY_APPID``, ``WECHATPAY_PRIVATE_KEY`` (the merchant API key),
``WECHATPAY_CERT_SERIAL_NO`` (its certificate's serial),
``WECHATPAY_APIV3_KEY`` (32 characters), ``WECHATPAY_PUBLIC_KEY`` and
``WECHATPAY_PUBLIC_KEY_ID`` (the platform's public key, which signs WeChat
Pay's answers and notifications), ``WECHATPAY_GATEWAY`` (default
``https://api.mch.weixin.qq.com``), ``WECHATPAY_NOTIFY_URL`` (the absolute
URL of our callback; by default built from the request being served) and
``WECHATPAY_TIMEOUT_SECONDS``. Keys are PEM text or the path of a PEM file.

Requests go through the SDK, which signs them with the merchant key and
verifies every 2xx answer with the platform public key. The SDK would fetch
platform certificates over the network when an answer names another serial;
this adapter works in the public-key mode only, so that path is switched off
(an answer signed with anything else is unverifiable, i.e.
:class:`ProviderUnavailable`). Error answers (4xx) are verified here the same
way before they are believed.

Notifications (``POST /api/payments/callback/wechatpay/``) are checked before
anything of the SDK sees them, in this order: ``Wechatpay-Serial`` is our
public key id, ``Wechatpay-Signature-Type`` is WECHATPAY2-SHA256-RSA2048, the
timestamp is within ±``PAYMENT_CALLBACK_TOLERANCE_SECONDS``, and the
signature (SHA256withRSA over ``"{timestamp}\\n{nonce}\\n{body}\\n"``)
verifies with the platform key; only then is ``resource`` decrypted
(AEAD_AES_256_GCM with the APIv3 key).

Amounts travel in fen (integers): ``Decimal`` → fen refuses anything that is
not a whole number of fen, fen → ``Decimal`` is exact.
"""

import gzip
import hashlib
import json
import logging
import re
import time
from contextvars import ContextVar
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core

from accounts.providers.interface import (
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
    header_value,
    json_object,
)
from car_rental_system.money import quantize_money

logger = logging.getLogger(__name__)

# The raw answer (headers, text) of this thread's last SDK call.
_last_response: ContextVar[tuple | None] = ContextVar("wechatpay_last_response", default=None)

DEFAULT_GATEWAY = "https://api.mch.weixin.qq.com"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
APIV3_KEY_LENGTH = 32
MAX_BODY_BYTES = 64 * 1024
# WeChat Pay keeps a Native code_url valid for two hours; reuse it a little less.
CODE_URL_SECONDS = 110 * 60
# Business error codes of a 4xx/5xx answer that may pass: never a refusal.
TRANSIENT_CODES = {"SYSTEM_ERROR", "SYSTEMERROR", "FREQUENCY_LIMITED", "FREQUENCY_LIMIT_EXCEED", "BIZERR_NEED_RETRY"}

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE = re.compile(r"[\x21-\x7e]{1,64}")
_SIGNATURE = re.compile(r"[A-Za-z0-9+/=]{1,1024}")
_SERIAL = re.compile(r"[\x21-\x7e]{1,128}")
_EVENT_ID = re.compile(r"[\x21-\x7e]{1,100}")
_TRANSACTION_ID = re.compile(r"[A-Za-z0-9_*|@-]{1,40}")
_REFERENCE = re.compile(r"[\x21-\x7e]{1,64}")

# Charge trade_state → what a query answers.
TRADE_STATES = {
    "SUCCESS": CallbackStatus.SUCCEEDED,
    "REFUND": CallbackStatus.SUCCEEDED,  # paid, then (partly) refunded
    "NOTPAY": QueryStatus.PENDING,
    "USERPAYING": QueryStatus.PENDING,
    "CLOSED": QueryStatus.CLOSED,
    "REVOKED": QueryStatus.CLOSED,
    "PAYERROR": CallbackStatus.FAILED,
}
# Refund status → what it means for our REFUND row.
REFUND_STATES = {
    "SUCCESS": CallbackStatus.REFUNDED,
    "PROCESSING": QueryStatus.PENDING,
    "ABNORMAL": CallbackStatus.REFUND_FAILED,
    "CLOSED": CallbackStatus.REFUND_FAILED,
}
REFUND_EVENTS = {
    "REFUND.SUCCESS": CallbackStatus.REFUNDED,
    "REFUND.ABNORMAL": CallbackStatus.REFUND_FAILED,
    "REFUND.CLOSED": CallbackStatus.REFUND_FAILED,
}


# --- amounts ----------------------------------------------------------------------------


def to_fen(amount) -> int:
    """Yuan (Decimal or its string) → fen, exactly; a fraction of a fen is an error."""
    value = Decimal(str(amount)) * 100
    if value != value.to_integral_value() or value <= 0:
        raise ProviderError("bad_amount", f"{amount} is not a positive whole number of fen")
    return int(value)


def from_fen(fen) -> Decimal:
    """Fen (a JSON integer) → yuan as a Decimal with two places, exactly."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0 or fen > 10**12:
        raise MalformedCallback("bad_amount", "amount is not a whole number of fen")
    return quantize_money(Decimal(fen) / 100)


# --- configuration ----------------------------------------------------------------------


def _setting(name: str, default=""):
    value = getattr(settings, name, default)
    return default if value is None else value


def read_pem(value: str, *, setting: str) -> bytes:
    """PEM text, or the path of a PEM file (SPEC §13)."""
    text = str(value or "").strip()
    if not text:
        raise ProviderError("not_configured", f"{setting} is not set")
    if "-----BEGIN" in text:
        return text.encode()
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise ProviderError("not_configured", f"{setting}: cannot read {text!r} ({exc.strerror})") from None


# Parsing an RSA private key checks it (tens of milliseconds for 2048 bits), and
# the keys are read on every notification, pay page and provider call: each PEM
# is parsed once per process (a changed setting is a different PEM).
@lru_cache(maxsize=16)
def _private_key_from(data: bytes):
    return serialization.load_pem_private_key(data, password=None)


@lru_cache(maxsize=16)
def _public_key_from(data: bytes):
    try:
        return serialization.load_pem_public_key(data)
    except ValueError:  # a certificate is accepted too: its public key is what counts
        from cryptography.x509 import load_pem_x509_certificate

        return load_pem_x509_certificate(data).public_key()


def load_private_key(value: str, *, setting: str = "WECHATPAY_PRIVATE_KEY") -> rsa.RSAPrivateKey:
    try:
        key = _private_key_from(read_pem(value, setting=setting))
    except (ValueError, TypeError) as exc:
        raise ProviderError("not_configured", f"{setting} is not a readable PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProviderError("not_configured", f"{setting} is not an RSA key")
    return key


def load_public_key(value: str, *, setting: str = "WECHATPAY_PUBLIC_KEY") -> rsa.RSAPublicKey:
    try:
        key = _public_key_from(read_pem(value, setting=setting))
    except ValueError as exc:
        raise ProviderError("not_configured", f"{setting} is not a readable PEM public key ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProviderError("not_configured", f"{setting} is not an RSA key")
    return key


def _pkcs8_text(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _spki_text(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key) -> str:
    """SHA-256 of a public key's DER, first 16 hex digits (shown to ops, never the key)."""
    public = key.public_key() if hasattr(key, "public_key") else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


def configuration_errors() -> list[str]:
    """What is wrong with the WeChat Pay settings (empty: fine, or not configured at all)."""
    mchid = str(_setting("WECHATPAY_MCHID") or "")
    if not mchid:
        return []
    errors = []
    for name in ("WECHATPAY_APPID", "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_PUBLIC_KEY_ID"):
        if not str(_setting(name) or "").strip():
            errors.append(f"{name} is not set")
    apiv3 = str(_setting("WECHATPAY_APIV3_KEY") or "")
    if len(apiv3) != APIV3_KEY_LENGTH or len(apiv3.encode()) != APIV3_KEY_LENGTH:
        errors.append(f"WECHATPAY_APIV3_KEY must be {APIV3_KEY_LENGTH} ASCII characters (it has {len(apiv3)})")
    for name, loader in (("WECHATPAY_PRIVATE_KEY", load_private_key), ("WECHATPAY_PUBLIC_KEY", load_public_key)):
        try:
            loader(_setting(name), setting=name)
        except ProviderError as exc:
            errors.append(exc.detail)
    gateway = str(_setting("WECHATPAY_GATEWAY", DEFAULT_GATEWAY) or "")
    if not gateway.startswith(("https://", "http://")):
        errors.append("WECHATPAY_GATEWAY must be an http(s) URL")
    return errors


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

    path = reverse("payments:callback", args=[WechatPayProvider.name])
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


# --- notifications ----------------------------------------------------------------------


def verify_signature(*, public_key, timestamp: str, nonce: str, body: bytes, signature: str) -> bool:
    """SHA256withRSA over ``"{timestamp}\\n{nonce}\\n{body}\\n"`` with the platform key."""
    from wechatpayv3.utils import rsa_verify

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    try:
        return bool(rsa_verify(timestamp, nonce, text, signature, public_key))
    except Exception:  # a signature of the wrong size and the like: not ours
        return False


def decrypt_resource(resource: dict, apiv3_key: str) -> dict:
    """AEAD_AES_256_GCM of a notification's ``resource`` with the APIv3 key."""
    from wechatpayv3.utils import aes_decrypt

    if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise MalformedCallback(detail="resource is not AEAD_AES_256_GCM")
    nonce = resource.get("nonce")
    ciphertext = resource.get("ciphertext")
    associated_data = resource.get("associated_data") or ""
    if not all(isinstance(v, str) for v in (nonce, ciphertext, associated_data)) or not nonce or not ciphertext:
        raise MalformedCallback(detail="resource without nonce or ciphertext")
    try:
        plain = aes_decrypt(nonce=nonce, ciphertext=ciphertext, associated_data=associated_data, apiv3_key=apiv3_key)
    except Exception:  # bad base64, a nonce of the wrong size…
        plain = None
    if plain is None:
        raise InvalidSignature("decryption_failed", "resource does not decrypt with the APIv3 key")
    try:
        data = json.loads(plain)
    except ValueError:
        raise MalformedCallback("malformed_json", "resource is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedCallback(detail="resource is not a JSON object")
    return data


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


class WechatPayProvider(PaymentProvider):
    name = "wechatpay"
    signature_header = "Wechatpay-Signature"

    # -- calls -------------------------------------------------------------------------

    def _call(self, action: str, fn, *args, **kwargs) -> tuple[int, dict]:
        """Run an SDK call; a 2xx answer comes back verified by the SDK. A 4xx is
        verified here (a refusal must be WeChat Pay's own word); anything
        without a usable, verified answer is :class:`ProviderUnavailable`."""
        import requests

        _last_response.set(None)
        try:
            code, message = fn(*args, **kwargs)
        except requests.RequestException as exc:
            raise ProviderUnavailable(detail=f"{action}: {type(exc).__name__}") from None
        except ProviderError:
            raise
        except Exception as exc:  # the SDK raises a bare Exception on a bad signature
            raise ProviderUnavailable(detail=f"{action}: {str(exc)[:120]}") from None
        if 200 <= code < 300:
            return code, _verified_json(code, message)
        if code >= 500 or code in (401, 429):
            # 401: WeChat Pay did not accept our signature (a clock or key
            # problem on our side) — not its word on the payment itself.
            raise ProviderUnavailable(detail=f"{action}: HTTP {code}")
        return code, self._verified_error(action, code)

    def _verified_error(self, action: str, code: int) -> dict:
        response = _last_response.get()
        if response is None:
            raise ProviderUnavailable(detail=f"{action}: HTTP {code} without its answer")
        headers, text = response
        if not self._answer_verifies(headers, text.encode("utf-8")):
            raise ProviderUnavailable(detail=f"{action}: HTTP {code} answer does not verify")
        data = _verified_json(code, text)
        if str(data.get("code", "")) in TRANSIENT_CODES:
            raise ProviderUnavailable(detail=f"{action}: {data.get('code')}")
        return data

    def _answer_verifies(self, headers, body: bytes) -> bool:
        if header_value(headers, "Wechatpay-Serial") != str(_setting("WECHATPAY_PUBLIC_KEY_ID")):
            return False
        if header_value(headers, "Wechatpay-Signature-Type") not in (None, SIGNATURE_TYPE):
            return False
        return verify_signature(
            public_key=load_public_key(_setting("WECHATPAY_PUBLIC_KEY")),
            timestamp=header_value(headers, "Wechatpay-Timestamp") or "",
            nonce=header_value(headers, "Wechatpay-Nonce") or "",
            body=body,
            signature=header_value(headers, "Wechatpay-Signature") or "",
        )

    def _sdk(self):
        return _client()

    # -- charges -----------------------------------------------------------------------

    def start_charge(
        self, *, transaction_id, amount, method, description, return_url, mobile: bool = False
    ) -> ChargeStart:
        fen = to_fen(amount)
        kind = "h5" if mobile else "native"
        cache_key = f"wechatpay:{kind}:{transaction_id}:{fen}"
        cached = cache.get(cache_key)
        if cached:
            return self._charge_start(transaction_id, kind, cached)
        client = self._sdk()
        kwargs = {
            "description": (description or transaction_id)[:127],
            "out_trade_no": transaction_id,
            "amount": {"total": fen, "currency": "CNY"},
        }
        if mobile:
            kwargs["pay_type"] = WeChatPayType.H5
            kwargs["scene_info"] = {"payer_client_ip": _client_ip(), "h5_info": {"type": "Wap"}}
        else:
            kwargs["pay_type"] = WeChatPayType.NATIVE
        if not client._notify_url:
            raise ProviderError("not_configured", "WECHATPAY_NOTIFY_URL is not set and there is no request")
        code, data = self._call(f"{kind} order", client.pay, **kwargs)
        if code >= 300:
            raise ProviderError("charge_refused", f"{data.get('code', code)}: {str(data.get('message', ''))[:120]}")
        url = data.get("h5_url" if mobile else "code_url")
        if not isinstance(url, str) or not url.startswith(("weixin://", "https://", "http://")):
            raise ProviderUnavailable(detail=f"{kind} order: no usable {'h5_url' if mobile else 'code_url'}")
        cache.set(cache_key, url, CODE_URL_SECONDS)
        return self._charge_start(transaction_id, kind, url)

    @staticmethod
    def _charge_start(transaction_id: str, kind: str, url: str) -> ChargeStart:
        if kind == "h5":
            return ChargeStart(redirect_url=url)
        return ChargeStart(redirect_url=reverse("payments:wechat_qr", args=[transaction_id]), code_url=url)

    def query_charge(self, *, transaction_id) -> QueryAnswer:
        client = self._sdk()
        code, data = self._call("query", client.query, out_trade_no=transaction_id)
        if code == 404 or data.get("code") == "ORDER_NOT_EXIST":
            return QueryAnswer(status=QueryStatus.NOT_FOUND)
        if code >= 300:
            raise ProviderUnavailable(detail=f"query: {data.get('code', code)}")
        state = TRADE_STATES.get(str(data.get("trade_state", "")))
        if state is None:
            raise ProviderUnavailable(detail=f"query: unknown trade_state {str(data.get('trade_state'))[:20]!r}")
        amount = None
        if state == CallbackStatus.SUCCEEDED:
            try:
                amount = from_fen((data.get("amount") or {}).get("total"))
            except (MalformedCallback, AttributeError):
                raise ProviderUnavailable(detail="query: bad amount") from None
        return QueryAnswer(
            status=state,
            amount=amount,
            failure_reason=str(data.get("trade_state_desc", ""))[:255] if state == CallbackStatus.FAILED else "",
            provider_reference=str(data.get("transaction_id", ""))[:64],
        )

    def close_charge(self, *, transaction_id) -> QueryAnswer:
        client = self._sdk()
        code, data = self._call("close", client.close, out_trade_no=transaction_id)
        if code < 300:
            return QueryAnswer(status=QueryStatus.CLOSED)
        if data.get("code") == "ORDERPAID":
            return self.query_charge(transaction_id=transaction_id)
        if code == 404 or data.get("code") == "ORDER_NOT_EXIST":
            return QueryAnswer(status=QueryStatus.CLOSED)
        raise ProviderUnavailable(detail=f"close: {data.get('code', code)}")

    # -- refunds -----------------------------------------------------------------------

    def _refund_answer(self, data: dict) -> tuple[str, Decimal | None, str]:
        state = REFUND_STATES.get(str(data.get("status", "")))
        if state is None:
            raise ProviderUnavailable(detail=f"refund: unknown status {str(data.get('status'))[:20]!r}")
        try:
            amount = from_fen((data.get("amount") or {}).get("refund"))
        except (MalformedCallback, AttributeError):
            amount = None
        reason = ""
        if state == CallbackStatus.REFUND_FAILED:
            reason = f"WeChat Pay refund {data.get('status')}"
        return state, amount, reason

    def start_refund(self, *, transaction_id, charge_transaction_id, amount, reason) -> RefundStart:
        # WeChat Pay wants the order's total beside the refund: its own record of
        # the order says it (and that the order was paid at all).
        charge = self.query_charge(transaction_id=charge_transaction_id)
        if charge.status != CallbackStatus.SUCCEEDED or charge.amount is None:
            return RefundStart(
                succeeded=False,
                failure_reason=f"WeChat Pay has no paid order {charge_transaction_id} ({charge.status})",
            )
        client = self._sdk()
        kwargs = {
            "out_refund_no": transaction_id,
            "out_trade_no": charge_transaction_id,
            "amount": {"refund": to_fen(amount), "total": to_fen(charge.amount), "currency": "CNY"},
        }
        if reason:
            kwargs["reason"] = str(reason)[:80]
        code, data = self._call("refund", client.refund, **kwargs)
        if code >= 300:
            message = f"{data.get('code', code)}: {str(data.get('message', ''))[:200]}"
            return RefundStart(succeeded=False, failure_reason=message[:255])
        state, _amount, failure = self._refund_answer(data)
        reference = str(data.get("refund_id", ""))[:64]
        if state == CallbackStatus.REFUND_FAILED:
            return RefundStart(succeeded=False, provider_reference=reference, failure_reason=failure)
        return RefundStart(succeeded=True, provider_reference=reference, confirmed=state == CallbackStatus.REFUNDED)

    def query_refund(self, *, transaction_id, charge_transaction_id: str = "") -> QueryAnswer:
        client = self._sdk()
        code, data = self._call("refund query", client.query_refund, out_refund_no=transaction_id)
        if code == 404 or data.get("code") == "RESOURCE_NOT_EXISTS":
            return QueryAnswer(status=QueryStatus.NOT_FOUND)
        if code >= 300:
            raise ProviderUnavailable(detail=f"refund query: {data.get('code', code)}")
        state, amount, failure = self._refund_answer(data)
        return QueryAnswer(
            status=state, amount=amount, failure_reason=failure, provider_reference=str(data.get("refund_id", ""))[:64]
        )

    # -- statement ---------------------------------------------------------------------

    def fetch_statement(self, *, day: date) -> bytes:
        """The trade bill of ``day`` (bill_type ALL), as the CSV WeChat Pay gives."""
        client = self._sdk()
        code, data = self._call("tradebill", client.trade_bill, bill_date=day.isoformat(), bill_type="ALL")
        if code >= 300:
            if data.get("code") == "NO_STATEMENT_EXIST":
                return b""
            raise ProviderUnavailable(detail=f"tradebill: {data.get('code', code)}")
        url = data.get("download_url")
        gateway = client._core._gate_way
        if not isinstance(url, str) or not url.startswith(gateway + "/"):
            raise ProviderUnavailable(detail="tradebill: download_url is not on the gateway")
        import requests

        try:
            status, content = client.download_bill(url)
        except requests.RequestException as exc:
            raise ProviderUnavailable(detail=f"bill download: {type(exc).__name__}") from None
        except Exception as exc:
            raise ProviderUnavailable(detail=f"bill download: {str(exc)[:120]}") from None
        if status != 200 or not isinstance(content, (bytes, str)):
            raise ProviderUnavailable(detail=f"bill download: HTTP {status}")
        raw = content if isinstance(content, bytes) else content.encode("utf-8")
        try:
            csv = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        except (OSError, EOFError):
            raise ProviderUnavailable(detail="bill download: not a gzip file") from None
        # The file is not signed; its digest came in the signed tradebill answer.
        if (
            str(data.get("hash_type", "SHA1")).upper() == "SHA1"
            and data.get("hash_value")
            and hashlib.sha1(csv).hexdigest() != str(data["hash_value"]).lower()
        ):
            raise ProviderUnavailable(detail="bill download: digest does not match")
        return csv

    # -- notifications -----------------------------------------------------------------

    def parse_callback(self, *, headers, body: bytes, now: float | None = None) -> CallbackEvent:
        if not isinstance(body, (bytes, bytearray)):
            raise InvalidSignature(detail="body is not bytes")
        body = bytes(body)
        if len(body) > MAX_BODY_BYTES:
            raise MalformedCallback(detail="body too large")
        public_key_id = str(_setting("WECHATPAY_PUBLIC_KEY_ID") or "")
        serial = header_value(headers, "Wechatpay-Serial")
        if not public_key_id or serial is None or not _SERIAL.fullmatch(serial) or serial != public_key_id:
            raise InvalidSignature("unknown_serial", "Wechatpay-Serial is not our platform public key id")
        if header_value(headers, "Wechatpay-Signature-Type") != SIGNATURE_TYPE:
            raise InvalidSignature("bad_signature_type", "Wechatpay-Signature-Type is not " + SIGNATURE_TYPE)
        timestamp = header_value(headers, "Wechatpay-Timestamp")
        if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
            raise InvalidSignature(detail="missing or malformed Wechatpay-Timestamp")
        now = time.time() if now is None else now
        if abs(now - int(timestamp)) > settings.PAYMENT_CALLBACK_TOLERANCE_SECONDS:
            raise InvalidSignature("stale_timestamp", "timestamp outside the tolerance")
        nonce = header_value(headers, "Wechatpay-Nonce")
        signature = header_value(headers, "Wechatpay-Signature")
        if nonce is None or not _NONCE.fullmatch(nonce) or signature is None or not _SIGNATURE.fullmatch(signature):
            raise InvalidSignature(detail="missing or malformed Wechatpay-Nonce or Wechatpay-Signature")
        try:
            public_key = load_public_key(_setting("WECHATPAY_PUBLIC_KEY"))
        except ProviderError as exc:
            raise InvalidSignature("not_configured", exc.detail) from None
        if not verify_signature(
            public_key=public_key, timestamp=timestamp, nonce=nonce, body=body, signature=signature
        ):
            raise InvalidSignature(detail="signature does not verify with the platform public key")
        return self.parse_body(body)

    def parse_body(self, body: bytes) -> CallbackEvent:
        data = json_object(body)
        event_id = data.get("id")
        event_type = data.get("event_type")
        if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
            raise MalformedCallback(detail="bad id")
        if not isinstance(event_type, str):
            raise MalformedCallback(detail="event_type is not a string")
        if data.get("resource_type") != "encrypt-resource":
            raise MalformedCallback(detail="resource_type is not encrypt-resource")
        apiv3_key = str(_setting("WECHATPAY_APIV3_KEY") or "")
        if len(apiv3_key.encode()) != APIV3_KEY_LENGTH:
            raise InvalidSignature("not_configured", "WECHATPAY_APIV3_KEY is not 32 characters")
        resource = decrypt_resource(data.get("resource") or {}, apiv3_key)
        mchid = resource.get("mchid", resource.get("sp_mchid"))
        if str(mchid) != str(_setting("WECHATPAY_MCHID")):
            raise MalformedCallback("wrong_merchant", "the notification is for another merchant")
        amount = resource.get("amount")
        if not isinstance(amount, dict):
            raise MalformedCallback(detail="no amount")
        if event_type == "TRANSACTION.SUCCESS":
            if resource.get("trade_state") != "SUCCESS":
                raise MalformedCallback(detail="TRANSACTION.SUCCESS without trade_state SUCCESS")
            transaction_id = resource.get("out_trade_no")
            status = CallbackStatus.SUCCEEDED
            value = from_fen(amount.get("total"))
            reference = resource.get("transaction_id", "")
        elif event_type in REFUND_EVENTS:
            transaction_id = resource.get("out_refund_no")
            status = REFUND_EVENTS[event_type]
            value = from_fen(amount.get("refund"))
            reference = resource.get("refund_id", "")
        else:
            raise MalformedCallback("unknown_event", "event_type is not one we act on")
        if not isinstance(transaction_id, str) or not _TRANSACTION_ID.fullmatch(transaction_id):
            raise MalformedCallback(detail="bad out_trade_no / out_refund_no")
        if not isinstance(reference, str) or (reference and not _REFERENCE.fullmatch(reference)):
            reference = ""
        failure_reason = ""
        if status == CallbackStatus.REFUND_FAILED:
            failure_reason = f"WeChat Pay {event_type}"
        return CallbackEvent(
            provider=self.name,
            event_id=event_id,
            transaction_id=transaction_id,
            status=status,
            amount=value,
            failure_reason=failure_reason,
            provider_reference=reference,
            raw={"id": event_id, "event_type": event_type},
        )

    def callback_answer(self, *, http_status: int, payload: dict) -> CallbackAnswer:
        """204 without a body when accepted, a duplicate or nothing to change; a
        FAIL body with the status otherwise (WeChat Pay then sends it again)."""
        if 200 <= http_status < 300:
            return CallbackAnswer(status=204, content_type="application/json", body=b"")
        message = str(payload.get("reason") or payload.get("status") or "rejected")
        body = json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False).encode()
        return CallbackAnswer(status=http_status, content_type="application/json", body=body)

    def is_usable(self) -> bool:
        if not str(_setting("WECHATPAY_MCHID") or "").strip():
            return False
        return not configuration_errors()

    def describe(self) -> dict:
        info = {
            "provider": self.name,
            "mchid": str(_setting("WECHATPAY_MCHID") or ""),
            "appid": str(_setting("WECHATPAY_APPID") or ""),
            "gateway": _gateway(),
            "cert_serial_no": str(_setting("WECHATPAY_CERT_SERIAL_NO") or ""),
            "public_key_id": str(_setting("WECHATPAY_PUBLIC_KEY_ID") or ""),
            "apiv3_key_set": bool(_setting("WECHATPAY_APIV3_KEY")),
        }
        for label, name, loader in (
            ("private_key_fingerprint", "WECHATPAY_PRIVATE_KEY", load_private_key),
            ("public_key_fingerprint", "WECHATPAY_PUBLIC_KEY", load_public_key),
        ):
            try:
                info[label] = fingerprint(loader(_setting(name), setting=name))
            except ProviderError as exc:
                info[label] = f"unreadable: {exc.detail}"[:120]
        return info


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
