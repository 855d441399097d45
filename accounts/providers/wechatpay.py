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
not a whole number of fen, fen → ``Decimal`` is exact. Deposits on WeChat Pay
Score (SPEC §18): :class:`accounts.providers.wechatpay_score.WechatPayScore`.
"""

import gzip
import hashlib
import json
import logging
import re
import time
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from wechatpayv3 import WeChatPayType

from accounts.providers import wechatpay_abnormal
from accounts.providers.interface import (
    REFUND_BALANCE_SHORT,
    CallbackAnswer,
    CallbackEvent,
    CallbackStatus,
    ChargeStart,
    InvalidSignature,
    MalformedCallback,
    ProviderError,
    ProviderUnavailable,
    QueryAnswer,
    QueryStatus,
    RefundStart,
    header_value,
    json_object,
)
from accounts.providers.wechatpay_client import _client, _client_ip, _gateway, _last_response, _verified_json
from accounts.providers.wechatpay_keys import (
    APIV3_KEY_LENGTH,
    _setting,
    configuration_errors,
    decrypt_resource,
    fingerprint,
    from_fen,
    load_private_key,
    load_public_key,
    to_fen,
    verify_signature,
)
from accounts.providers.wechatpay_score import PAYSCORE_EVENTS, WechatPayScore

logger = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
MAX_BODY_BYTES = 64 * 1024
# WeChat Pay keeps a Native code_url valid for two hours; reuse it a little less.
CODE_URL_SECONDS = 110 * 60
# Business error codes of a 4xx/5xx answer that may pass: never a refusal.
# A refund refused for our merchant balance: sent again under the same out_refund_no (SPEC §17).
BALANCE_SHORT_CODES = {"NOT_ENOUGH"}
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
# Answers to a close that mean the order can't be paid: it never existed, or is closed.
CLOSED_CODES = {"ORDER_NOT_EXIST", "ORDERNOTEXIST", "ORDER_CLOSED", "ORDERCLOSED"}
BEIJING = ZoneInfo("Asia/Shanghai")
# Refund status → what it means for our REFUND row (SPEC §17). ABNORMAL is no
# failure: the money left us and waits in WeChat Pay's refund transit account
# (the customer's card refused it) until staff resolve it; CLOSED never left.
REFUND_STATES = {
    "SUCCESS": CallbackStatus.REFUNDED,
    "PROCESSING": QueryStatus.PENDING,
    "ABNORMAL": CallbackStatus.REFUND_ABNORMAL,
    "CLOSED": CallbackStatus.REFUND_FAILED,
}
REFUND_EVENTS = {
    "REFUND.SUCCESS": CallbackStatus.REFUNDED,
    "REFUND.ABNORMAL": CallbackStatus.REFUND_ABNORMAL,
    "REFUND.CLOSED": CallbackStatus.REFUND_FAILED,
}
# What our row records of a status that is not a success.
REFUND_REASONS = (CallbackStatus.REFUND_FAILED, CallbackStatus.REFUND_ABNORMAL)


class WechatPayProvider(WechatPayScore):
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
        self, *, transaction_id, amount, method, description, return_url, mobile: bool = False, expires_at=None
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
        if expires_at is not None:
            # The last moment the payer can pay (SPEC §17), RFC 3339 with the
            # zone: pay.weixin.qq.com/doc/v3/merchant/4012525171 (Native下单,
            # time_expire 支付结束时间). It is not a close: we close it ourselves.
            kwargs["time_expire"] = expires_at.astimezone(BEIJING).isoformat(timespec="seconds")
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
        if code == 404 or data.get("code") in CLOSED_CODES:
            # Never created (or closed already) counts as closed (SPEC §17).
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
        if state in REFUND_REASONS:
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
            short = str(data.get("code", "")) in BALANCE_SHORT_CODES
            return RefundStart(
                succeeded=False, failure_reason=message[:255], failure_code=REFUND_BALANCE_SHORT if short else ""
            )
        state, _amount, failure = self._refund_answer(data)
        reference = str(data.get("refund_id", ""))[:64]
        if state == CallbackStatus.REFUND_FAILED:
            return RefundStart(succeeded=False, provider_reference=reference, failure_reason=failure)
        return RefundStart(
            succeeded=True,
            provider_reference=reference,
            confirmed=state == CallbackStatus.REFUNDED,
            abnormal=state == CallbackStatus.REFUND_ABNORMAL,
            failure_reason=failure,
        )

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

    def encrypt_sensitive(self, text: str) -> str:
        return wechatpay_abnormal.encrypt_field(text)

    def apply_abnormal_refund(self, *, transaction_id, provider_reference, resolution, **card):
        return wechatpay_abnormal.apply_abnormal_refund(
            self, refund_id=provider_reference, out_refund_no=transaction_id, resolution=resolution, **card
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
        if event_type in PAYSCORE_EVENTS:
            return self.parse_payscore(event_id, event_type, resource)
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
        if status in REFUND_REASONS:
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
