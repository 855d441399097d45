"""Alipay (支付宝) open platform, RSA2, through ``python-alipay-sdk`` (SPEC §13).

Settings, read on every call (never at import): ``ALIPAY_APP_ID``,
``ALIPAY_APP_PRIVATE_KEY`` (the application's private key, which signs our
requests), ``ALIPAY_PUBLIC_KEY`` (Alipay's public key, which verifies its
answers and notifications), ``ALIPAY_GATEWAY`` and ``ALIPAY_TIMEOUT_SECONDS``.
A key is PEM text or the path of a PEM file (the bare base64 body that
Alipay's key tool prints is accepted too). ``SITE_URL`` makes ``notify_url``
and ``return_url`` absolute.

- Pay: ``alipay.trade.page.pay`` on a desktop, ``alipay.trade.wap.pay`` on a
  phone. The SDK builds the signed gateway URL; the browser goes there.
- Notify: a form-encoded POST. ``sign`` (SHA256withRSA, base64) covers every
  other parameter but ``sign_type``, sorted by name, ``k=v`` joined with
  ``&``, values as received (the SDK's ``verify``); ``sign_type`` must be
  RSA2 and ``app_id`` ours. Alipay's own SDKs leave empty values out of the
  signed text, so a notification with empty parameters is also checked that
  way. ``notify_id`` is the event id; TRADE_SUCCESS/TRADE_FINISHED →
  succeeded, TRADE_CLOSED → cancelled, WAIT_BUYER_PAY → recorded only. The
  notification Alipay sends after a refund (``refund_fee``, ``out_biz_no``)
  is about a charge that is PAID already and changes nothing; refunds are
  confirmed by the refund's own answer or the refund query.
- Server calls (``alipay.trade.refund``, ``alipay.trade.query``,
  ``alipay.trade.fastpay.refund.query``, ``alipay.trade.close``, the bill
  download URL): the SDK signs the request and verifies the signature of the
  answer. No answer, a 5xx, garbage or an answer whose signature does not
  verify raise :class:`ProviderUnavailable` — nothing is concluded from them
  (SPEC §11). A signed business error is Alipay's word: a refund refused for
  good keeps ``sub_msg`` as its reason.

Deposit holds (资金预授权, SPEC §18) are the calls of the base class
:class:`accounts.providers.alipay_holds.AlipayHolds`; their notifications
(``notify_type`` fund_auth_*) pass the same checks and are parsed there.

The adapter is pure protocol: no database.
"""

import binascii
import logging
import re
import urllib.error
from datetime import date, datetime
from urllib.parse import parse_qsl
from urllib.request import urlopen
from zoneinfo import ZoneInfo

from alipay.exceptions import AliPayException, AliPayValidationError
from django.urls import reverse

from accounts.providers.alipay_config import (
    DEFAULT_GATEWAY,
    SIGN_TYPE,
    AlipayNotConfigured,
    _amount,
    _Client,
    _client_for,
    _config,
    _setting,
    configuration_problems,
    fingerprint,
    load_key,
    money,
    site_url,
)
from accounts.providers.alipay_holds import FUND_AUTH_NOTIFY_TYPES, AlipayHolds, merchant_pid
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
)

logger = logging.getLogger(__name__)

NAME = "alipay"
SUCCESS_CODE = "10000"
MAX_BODY_BYTES = 64 * 1024
MAX_STATEMENT_BYTES = 50 * 1024 * 1024

# trade_status of a notification or a query → what it means for the charge.
TRADE_STATUSES = {
    "TRADE_SUCCESS": CallbackStatus.SUCCEEDED,
    "TRADE_FINISHED": CallbackStatus.SUCCEEDED,
    "TRADE_CLOSED": CallbackStatus.CANCELLED,
    "WAIT_BUYER_PAY": CallbackStatus.WAITING,
}
# Signed business errors that say "ask again later", not "no".
TRANSIENT_SUB_CODES = {"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR", "isp.unknow-error", "isp.unknown-error"}
TRANSIENT_CODES = {"20000"}
# A refund refused for our merchant balance: sent again under the same out_request_no (SPEC §17).
BALANCE_SHORT_SUB_CODES = {"ACQ.SELLER_BALANCE_NOT_ENOUGH", "aop.ACQ.SELLER_BALANCE_NOT_ENOUGH"}
TRADE_NOT_EXIST = {"ACQ.TRADE_NOT_EXIST", "aop.ACQ.TRADE_NOT_EXIST"}

# ``fullmatch`` only (``$`` would accept a trailing newline).
_NOTIFY_ID = re.compile(r"[\x21-\x7e]{1,100}")
_TRANSACTION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TRADE_NO = re.compile(r"[\x21-\x7e]{0,64}")
_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gb18030", "gb2312": "gb18030", "gb18030": "gb18030"}


BEIJING = ZoneInfo("Asia/Shanghai")


def alipay_time(moment: datetime) -> str:
    """A moment as Alipay's time parameters want it: yyyy-MM-dd HH:mm:ss, Beijing time."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# --- the adapter ------------------------------------------------------------------


class AlipayProvider(AlipayHolds):
    name = NAME
    signature_header = ""

    # --- configuration, for ops and the pay page

    def is_usable(self) -> bool:
        if not str(_setting("ALIPAY_APP_ID")).strip():
            return False
        return not configuration_problems()

    def describe(self) -> dict:
        app_id = str(_setting("ALIPAY_APP_ID")).strip()
        info = {
            "provider": self.name,
            "configured": bool(app_id),
            "app_id": app_id or "-",
            "gateway": str(_setting("ALIPAY_GATEWAY", DEFAULT_GATEWAY) or DEFAULT_GATEWAY),
            "sign_type": SIGN_TYPE,
        }
        for label, name, private in (
            ("app_key", "ALIPAY_APP_PRIVATE_KEY", True),
            ("alipay_public_key", "ALIPAY_PUBLIC_KEY", False),
        ):
            try:
                info[label] = fingerprint(load_key(name, private=private))
            except AlipayNotConfigured as exc:
                info[label] = "-" if not _setting(name) else f"unusable ({exc.detail})"
        try:
            info["notify_url"] = site_url(reverse("payments:callback", args=[self.name]))
        except AlipayNotConfigured:
            info["notify_url"] = "- (SITE_URL is not set)"
        if app_id:
            info["problems"] = "; ".join(configuration_problems()) or "none"
        return info

    def _client(self) -> _Client:
        return _client_for(_config())

    # --- charges

    def start_charge(
        self, *, transaction_id, amount, method, description, return_url, mobile: bool = False, expires_at=None
    ) -> ChargeStart:
        client = self._client()
        kwargs = {
            "subject": (description or transaction_id)[:256],
            "out_trade_no": transaction_id,
            "total_amount": money(amount),
            "return_url": site_url(return_url) if return_url else None,
            "notify_url": site_url(reverse("payments:callback", args=[self.name])),
        }
        if expires_at is not None:
            # Alipay stops taking money for this order when our window closes:
            # time_expire is absolute, where timeout_express would count from
            # when the buyer opens the cashier (SPEC §17). Alipay open platform,
            # alipay.trade.page.pay / alipay.trade.wap.pay request parameters,
            # "time_expire: 订单绝对超时时间", yyyy-MM-dd HH:mm:ss in Beijing time
            # (also explained in "如何使用time_expire绝对超时时间-参数解读系列",
            # developer.aliyun.com/article/710964).
            kwargs["time_expire"] = alipay_time(expires_at)
        if mobile:
            query = client.api_alipay_trade_wap_pay(**kwargs)
        else:
            query = client.api_alipay_trade_page_pay(**kwargs)
        return ChargeStart(redirect_url=f"{client._gateway}?{query}")

    # --- notifications

    def callback_answer(self, *, http_status: int, payload: dict) -> CallbackAnswer:
        # Alipay retries until it reads "success"; anything else is a failure.
        if http_status == 200:
            return CallbackAnswer(status=200, content_type="text/plain; charset=utf-8", body=b"success")
        return CallbackAnswer(status=http_status, content_type="text/plain; charset=utf-8", body=b"failure")

    @staticmethod
    def parse_form(body: bytes) -> dict[str, str]:
        """The parameters of a form-encoded notification, decoded in its ``charset``
        (UTF-8 unless it says GBK); a name given twice is malformed."""
        if not isinstance(body, (bytes, bytearray)):
            raise MalformedCallback(detail="body is not bytes")
        if not body:
            raise MalformedCallback("empty_body", "empty body")
        if len(body) > MAX_BODY_BYTES:
            raise MalformedCallback(detail="body too large")
        try:
            text = bytes(body).decode("ascii")
        except UnicodeDecodeError:
            raise MalformedCallback("malformed_form", "a form body is ASCII (percent-encoded)") from None
        try:
            raw = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="latin-1")
        except ValueError:
            raise MalformedCallback("malformed_form", "not a form-encoded body") from None
        names = [name for name, _value in raw]
        if len(set(names)) != len(names):
            raise MalformedCallback("malformed_form", "a parameter is given twice")
        declared = dict(raw).get("charset", "utf-8").strip().lower()
        encoding = _CHARSETS.get(declared)
        if encoding is None:
            raise MalformedCallback("malformed_form", "unknown charset")
        try:
            return {
                name.encode("latin-1").decode(encoding): value.encode("latin-1").decode(encoding) for name, value in raw
            }
        except UnicodeDecodeError:
            raise MalformedCallback("malformed_form", f"not valid {declared}") from None

    def verify_notification(self, data: dict[str, str], client: _Client | None = None) -> None:
        """Check ``sign`` over the parameters (SPEC §13); raises :class:`InvalidSignature`."""
        sign = data.get("sign")
        if not sign:
            raise InvalidSignature("missing_signature", "no sign")
        if data.get("sign_type") != SIGN_TYPE:
            raise InvalidSignature(detail="sign_type must be RSA2")
        client = client or self._client()
        signed = {name: value for name, value in data.items() if name != "sign"}
        candidates = [signed]
        if any(value == "" for value in signed.values()):
            candidates.append({name: value for name, value in signed.items() if value != ""})
        for candidate in candidates:
            try:
                # The SDK pops sign_type and refuses any other than ours.
                if client.verify(dict(candidate), sign):
                    return
            except (AliPayException, ValueError, TypeError, binascii.Error):
                pass
        raise InvalidSignature(detail="signature does not verify")

    def parse_callback(self, *, headers, body: bytes, now: float | None = None) -> CallbackEvent:
        data = self.parse_form(body)
        client = self._client()
        self.verify_notification(data, client)
        if data.get("app_id") != client.appid:
            raise MalformedCallback("wrong_app_id", "app_id is not ours")
        if data.get("notify_type") in FUND_AUTH_NOTIFY_TYPES:
            return self.parse_fund_auth(data)
        # 异步通知 "验证 seller_id 为 out_trade_no 这笔单据的对应的操作方" (opendocs.alipay.com/open/270/105902):
        # with ALIPAY_PID set, a notice naming another seller is not ours.
        pid = merchant_pid()
        if pid and data.get("seller_id", pid) != pid:
            raise MalformedCallback("wrong_seller", "seller_id is not our ALIPAY_PID")
        notify_id = data.get("notify_id", "")
        transaction_id = data.get("out_trade_no", "")
        trade_status = data.get("trade_status", "")
        trade_no = data.get("trade_no", "")
        if not _NOTIFY_ID.fullmatch(notify_id):
            raise MalformedCallback(detail="bad notify_id")
        if not _TRANSACTION_ID.fullmatch(transaction_id):
            raise MalformedCallback(detail="bad out_trade_no")
        if trade_status not in TRADE_STATUSES:
            raise MalformedCallback(detail="bad trade_status")
        if not _TRADE_NO.fullmatch(trade_no):
            raise MalformedCallback(detail="bad trade_no")
        return CallbackEvent(
            provider=self.name,
            event_id=notify_id,
            transaction_id=transaction_id,
            status=TRADE_STATUSES[trade_status],
            amount=_amount(data.get("total_amount"), "total_amount"),
            provider_reference=trade_no,
            raw=data,
        )

    # --- server calls

    def _call(self, method: str, biz_content: dict, **public) -> dict:
        """One signed gateway call through the SDK; the verified answer object.
        ``public``: common request parameters besides biz_content (``notify_url``).
        Raises :class:`ProviderUnavailable` when there is no answer to trust."""
        client = self._client()
        response_type = method.replace(".", "_") + "_response"
        data = client.build_body(method, biz_content, **public)
        try:
            answer = client.verified_sync_response(data, response_type)
        except AliPayValidationError:
            raise ProviderUnavailable(
                "bad_answer_signature", f"{method}: the answer's signature does not verify"
            ) from None
        except AliPayException as exc:  # an unsigned answer (or error_response): nothing to trust
            raise ProviderUnavailable("unsigned_answer", f"{method}: {str(exc)[:200]}") from None
        except urllib.error.HTTPError as exc:
            raise ProviderUnavailable("http_error", f"{method}: HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise ProviderUnavailable("network_error", f"{method}: {type(exc).__name__}") from None
        except (ValueError, AttributeError, TypeError, UnicodeDecodeError) as exc:
            raise ProviderUnavailable("bad_answer", f"{method}: unreadable answer ({type(exc).__name__})") from None
        if not isinstance(answer, dict):
            raise ProviderUnavailable("bad_answer", f"{method}: the answer is not an object")
        code = str(answer.get("code", ""))
        if code in TRANSIENT_CODES or str(answer.get("sub_code", "")) in TRANSIENT_SUB_CODES:
            raise ProviderUnavailable("provider_busy", f"{method}: {code} {answer.get('sub_code', '')}")
        return answer

    @staticmethod
    def _business_error(answer: dict) -> str:
        return str(answer.get("sub_msg") or answer.get("msg") or answer.get("sub_code") or "Alipay refused")[:255]

    def start_refund(self, *, transaction_id, charge_transaction_id, amount, reason) -> RefundStart:
        answer = self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": charge_transaction_id,
                "refund_amount": money(amount),
                "out_request_no": transaction_id,
                "refund_reason": (reason or "")[:256],
            },
        )
        if str(answer.get("code")) != SUCCESS_CODE:
            short = str(answer.get("sub_code", "")) in BALANCE_SHORT_SUB_CODES
            return RefundStart(
                succeeded=False,
                failure_reason=self._business_error(answer),
                failure_code=REFUND_BALANCE_SHORT if short else "",
            )
        reference = str(answer.get("trade_no", ""))[:100]
        if answer.get("fund_change") == "Y":
            return RefundStart(succeeded=True, confirmed=True, provider_reference=reference)
        # "N": this out_request_no was refunded before (a repeated request), or
        # the money has not moved yet. The refund query says which.
        queried = self.query_refund(transaction_id=transaction_id, charge_transaction_id=charge_transaction_id)
        confirmed = queried.status == CallbackStatus.REFUNDED
        return RefundStart(succeeded=True, confirmed=confirmed, provider_reference=reference)

    def query_charge(self, *, transaction_id) -> QueryAnswer:
        answer = self._call("alipay.trade.query", {"out_trade_no": transaction_id})
        if str(answer.get("code")) != SUCCESS_CODE:
            if str(answer.get("sub_code", "")) in TRADE_NOT_EXIST:
                return QueryAnswer(status=QueryStatus.NOT_FOUND)
            raise ProviderUnavailable("query_refused", f"alipay.trade.query: {self._business_error(answer)}")
        status = TRADE_STATUSES.get(str(answer.get("trade_status", "")))
        if status is None:
            raise ProviderUnavailable("bad_answer", "alipay.trade.query: unknown trade_status")
        if status == CallbackStatus.WAITING:
            return QueryAnswer(status=QueryStatus.PENDING, provider_reference=str(answer.get("trade_no", ""))[:100])
        try:
            amount = _amount(answer.get("total_amount"), "total_amount")
        except MalformedCallback:
            raise ProviderUnavailable("bad_answer", "alipay.trade.query: bad total_amount") from None
        return QueryAnswer(status=status, amount=amount, provider_reference=str(answer.get("trade_no", ""))[:100])

    def query_refund(self, *, transaction_id, charge_transaction_id: str = "") -> QueryAnswer:
        if not charge_transaction_id:
            raise ProviderError("bad_request", "an Alipay refund query needs the charge's out_trade_no")
        answer = self._call(
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": charge_transaction_id, "out_request_no": transaction_id},
        )
        if str(answer.get("code")) != SUCCESS_CODE:
            if str(answer.get("sub_code", "")) in TRADE_NOT_EXIST:
                return QueryAnswer(status=QueryStatus.NOT_FOUND)
            raise ProviderUnavailable("query_refused", f"refund query: {self._business_error(answer)}")
        refund_status = str(answer.get("refund_status", ""))
        has_refund = bool(answer.get("refund_amount"))
        # Alipay: data back and refund_status REFUND_SUCCESS (or none) means refunded;
        # no data means it never saw this refund request.
        if not has_refund:
            return QueryAnswer(status=QueryStatus.NOT_FOUND)
        if refund_status in ("", "REFUND_SUCCESS"):
            try:
                amount = _amount(answer.get("refund_amount"), "refund_amount")
            except MalformedCallback:
                raise ProviderUnavailable("bad_answer", "refund query: bad refund_amount") from None
            return QueryAnswer(
                status=CallbackStatus.REFUNDED, amount=amount, provider_reference=str(answer.get("trade_no", ""))[:100]
            )
        return QueryAnswer(status=QueryStatus.PENDING)

    def close_charge(self, *, transaction_id) -> QueryAnswer:
        answer = self._call("alipay.trade.close", {"out_trade_no": transaction_id})
        if str(answer.get("code")) == SUCCESS_CODE:
            return QueryAnswer(status=QueryStatus.CLOSED)
        if str(answer.get("sub_code", "")) in TRADE_NOT_EXIST:
            # The buyer never opened the cashier: never created counts as closed
            # (its link lapses at time_expire).
            return QueryAnswer(status=QueryStatus.CLOSED)
        # ACQ.TRADE_STATUS_ERROR and the like: paid or closed already — ask what it is.
        queried = self.query_charge(transaction_id=transaction_id)
        if queried.status == CallbackStatus.SUCCEEDED:
            return queried
        if queried.status == CallbackStatus.CANCELLED:  # closed already
            return QueryAnswer(status=QueryStatus.CLOSED)
        raise ProviderUnavailable("close_refused", f"alipay.trade.close: {self._business_error(answer)}")

    # --- reconciliation

    def fetch_statement(self, *, day: date) -> bytes:
        answer = self._call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": day.strftime("%Y-%m-%d")},
        )
        url = answer.get("bill_download_url")
        if (
            str(answer.get("code")) != SUCCESS_CODE
            or not isinstance(url, str)
            or not url.startswith(("https://", "http://"))
        ):
            raise ProviderUnavailable("no_statement", f"bill download URL: {self._business_error(answer)}")
        try:
            with urlopen(url, timeout=_config().timeout) as response:  # noqa: S310 - an http(s) URL Alipay signed
                content = response.read(MAX_STATEMENT_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ProviderUnavailable("http_error", f"bill download: HTTP {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise ProviderUnavailable("network_error", f"bill download: {type(exc).__name__}") from None
        if len(content) > MAX_STATEMENT_BYTES or not content.startswith(b"PK"):
            raise ProviderUnavailable("bad_statement", "the bill download is not a zip file")
        return content
