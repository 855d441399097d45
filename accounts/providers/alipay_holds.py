"""Alipay 资金预授权: a deposit frozen in the customer's Alipay (SPEC §18).

Pure protocol, like the rest of the Alipay adapter (SPEC §13): every server
call goes through python-alipay-sdk's generic signed call (``build_body`` +
``verified_sync_response``), so each answer's signature is checked with
``ALIPAY_PUBLIC_KEY``; the notifications are verified like trade ones and
``app_id`` must be ours. ``ALIPAY_PID`` (our merchant id, ``2088…``) is the
payee of the freeze and the seller of the takes, and a notification naming
another payee or seller is refused; unset, Alipay takes the app's account.

- Freeze: ``alipay.fund.auth.order.app.freeze`` on a phone (a signed order
  string for the Alipay app, sent as the gateway URL carrying it),
  ``alipay.fund.auth.order.voucher.create`` on a desktop or at the counter (a
  QR code, ``code_value``). ``out_order_no`` = ``out_request_no`` = the HLD id,
  ``product_code`` PRE_AUTH_ONLINE, ``notify_url`` our Alipay callback.
- Take: ``alipay.trade.pay`` with ``auth_no``, ``out_trade_no`` = the take's PAY
  id, ``auth_confirm_mode`` NOT_COMPLETE (the rest stays frozen) or COMPLETE
  (the last take: Alipay unfreezes the rest).
- Release: ``alipay.fund.auth.order.unfreeze`` with its own ``out_request_no``.
- Cancel: ``alipay.fund.auth.operation.cancel``. Query:
  ``alipay.fund.auth.operation.detail.query``.
- Notifications: ``notify_type`` fund_auth_freeze / fund_auth_unfreeze /
  fund_auth_operation_cancel (资金授权操作结果通知).
"""

import re
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import timezone

from accounts.providers.alipay_config import _amount, _client_for, _config, _setting, money, site_url
from accounts.providers.interface import (
    CallbackEvent,
    CallbackStatus,
    HoldAnswer,
    HoldStart,
    HoldStatus,
    MalformedCallback,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
    QueryAnswer,
    RefundStart,
)

SUCCESS_CODE = "10000"
# alipay.trade.pay: "10003 等待用户付款" — accepted, the money not moved yet.
WAITING_CODE = "10003"
PRODUCT_CODE = "PRE_AUTH_ONLINE"
APP_FREEZE = "alipay.fund.auth.order.app.freeze"
VOUCHER_CREATE = "alipay.fund.auth.order.voucher.create"
UNFREEZE = "alipay.fund.auth.order.unfreeze"
CANCEL = "alipay.fund.auth.operation.cancel"
DETAIL_QUERY = "alipay.fund.auth.operation.detail.query"
TRADE_PAY = "alipay.trade.pay"

# Alipay open platform, 资金授权操作结果通知 (opendocs.alipay.com/open/04ij9t):
# the interface each notice follows, "notify_type" of the form post.
FUND_AUTH_NOTIFY_TYPES = ("fund_auth_freeze", "fund_auth_unfreeze", "fund_auth_operation_cancel")
# alipay.fund.auth.operation.detail.query, response "status": INIT 初始, SUCCESS 成功, CLOSED 关闭.
OPERATION_STATUSES = ("INIT", "SUCCESS", "CLOSED")
# Its "order_status": INIT 初始, AUTHORIZED 已授权, FINISH 完成 (nothing left
# frozen), CLOSED 关闭 (never authorised, or cancelled).
NOT_FOUND_SUB_CODES = {"AUTH_ORDER_NOT_EXIST", "AUTH_OPERATION_NOT_EXIST", "ACQ.TRADE_NOT_EXIST"}
# A trade.pay repeated under an out_trade_no already paid: "ACQ.TRADE_HAS_SUCCESS 交易已被支付"
# (out_trade_no商户订单号参数详解, developer.aliyun.com/article/707511); the trade query says how much.
TRADE_HAS_SUCCESS = {"ACQ.TRADE_HAS_SUCCESS", "aop.ACQ.TRADE_HAS_SUCCESS"}
# alipay.fund.auth.operation.cancel business errors: "ORDER_ALREADY_FINISH 授权订单已经完结",
# "CANCEL_OPERATION_TIME_OUT 撤销操作超时" (a cancel is allowed within 24 h of the freeze).
CANCEL_TOO_LATE = {"CANCEL_OPERATION_TIME_OUT"}
# timeout_express / pay_timeout: "取值范围：1m～15d", whole minutes.
MAX_TIMEOUT_MINUTES = 15 * 24 * 60

_NOTIFY_ID = re.compile(r"[\x21-\x7e]{1,100}")
_TRANSACTION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ALIPAY_NO = re.compile(r"[\x21-\x7e]{1,64}")
_USER_ID = re.compile(r"2088[0-9]{12}")


class HoldRefused(ProviderError):
    """Alipay said no, signed, to starting a freeze (not signed up for 预授权, a bad parameter)."""

    reason = "hold_refused"


def merchant_pid() -> str:
    """``ALIPAY_PID``: the payee of our freezes and seller of our takes; '' when unset."""
    return str(_setting("ALIPAY_PID")).strip()


def relative_timeout(expires_at: datetime, now: datetime | None = None) -> str:
    """The time left until ``expires_at`` as Alipay's relative timeout, whole
    minutes within 1m…15d (``timeout_express`` / ``pay_timeout``)."""
    seconds = (expires_at - (now or timezone.now())).total_seconds()
    minutes = min(max(int(seconds // 60), 1), MAX_TIMEOUT_MINUTES)
    return f"{minutes}m"


def refusal(answer: dict) -> str:
    return str(answer.get("sub_msg") or answer.get("msg") or answer.get("sub_code") or "Alipay refused")[:255]


def _answer_amount(answer: dict, field: str, method: str) -> Decimal | None:
    """An amount of an answer (a string or a JSON number), None when absent."""
    value = answer.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = f"{value:.2f}"
    try:
        return _amount(value, field)
    except MalformedCallback:
        raise ProviderUnavailable("bad_answer", f"{method}: bad {field}") from None


class AlipayHolds(PaymentProvider):
    """The hold calls of the Alipay adapter (its base class)."""

    takes_holds = True
    takes_at_completion = False

    def _call(self, method: str, biz_content: dict, **public) -> dict:  # the adapter's signed call
        raise NotImplementedError

    def _notify_url(self) -> str:
        return site_url(reverse("payments:callback", args=[self.name]))

    # --- freeze

    def start_hold(
        self,
        *,
        transaction_id,
        amount,
        description,
        return_url,
        mobile: bool = False,
        qr_code: bool = False,
        expires_at=None,
        release_days: int = 30,
    ) -> HoldStart:
        # alipay.fund.auth.order.app.freeze / alipay.fund.auth.order.voucher.create
        # request parameters (opendocs.alipay.com/apis/api_28/…; 预授权支付接入指南,
        # opendocs.alipay.com/open/064jh8): out_order_no and out_request_no ours,
        # order_title ≤ 100 characters, amount in yuan, product_code, and the payee
        # as payee_user_id (payee_logon_id is the other choice; "值空不要传入").
        biz = {
            "out_order_no": transaction_id,
            "out_request_no": transaction_id,
            "order_title": (description or transaction_id)[:50],
            "amount": money(amount),
            "product_code": PRODUCT_CODE,
        }
        pid = merchant_pid()
        if pid:
            biz["payee_user_id"] = pid
        if mobile and not qr_code:
            if expires_at is not None:
                biz["timeout_express"] = relative_timeout(expires_at)
            client = _client_for(_config())
            # A client API (the SDK's sdkExecute): the signed order string the
            # Alipay app takes (my.tradePay orderStr), nothing sent from here.
            data = client.build_body(APP_FREEZE, biz, notify_url=self._notify_url())
            return HoldStart(redirect_url=f"{client._gateway}?{client.sign_data(data)}")
        if expires_at is not None:
            biz["pay_timeout"] = relative_timeout(expires_at)
        answer = self._call(VOUCHER_CREATE, biz, notify_url=self._notify_url())
        if str(answer.get("code")) != SUCCESS_CODE:
            raise HoldRefused(detail=refusal(answer))
        code_value = answer.get("code_value")
        if answer.get("out_order_no") not in (None, transaction_id):
            raise ProviderUnavailable("bad_answer", f"{VOUCHER_CREATE}: another out_order_no")
        if not isinstance(code_value, str) or not code_value.startswith(("https://", "http://")):
            raise ProviderUnavailable("bad_answer", f"{VOUCHER_CREATE}: no QR code (code_value)")
        return HoldStart(code_url=code_value[:512])

    # --- queries

    def _operation(self, *, transaction_id: str, request_no: str) -> dict | None:
        """One operation of a freeze (``out_request_no`` ``request_no``) and the
        order's totals; None when Alipay has no such order or operation."""
        answer = self._call(DETAIL_QUERY, {"out_order_no": transaction_id, "out_request_no": request_no})
        if str(answer.get("code")) != SUCCESS_CODE:
            if str(answer.get("sub_code", "")) in NOT_FOUND_SUB_CODES:
                return None
            raise ProviderUnavailable("query_refused", f"{DETAIL_QUERY}: {refusal(answer)}")
        if answer.get("out_order_no") not in (None, transaction_id):
            raise ProviderUnavailable("bad_answer", f"{DETAIL_QUERY}: another out_order_no")
        return answer

    @staticmethod
    def _hold_answer(answer: dict, request_status: str = "") -> HoldAnswer:
        """A detail.query answer as a HoldAnswer. Released = total_unfreeze_amount
        (or, when not given, frozen − rest − paid)."""
        frozen = _answer_amount(answer, "total_freeze_amount", DETAIL_QUERY)
        rest = _answer_amount(answer, "rest_amount", DETAIL_QUERY)
        paid = _answer_amount(answer, "total_pay_amount", DETAIL_QUERY)
        released = _answer_amount(answer, "total_unfreeze_amount", DETAIL_QUERY)
        if released is None and None not in (frozen, rest, paid):
            released = frozen - rest - paid  # type: ignore[operator]
        order_status = str(answer.get("order_status", ""))
        operation = str(answer.get("status", ""))
        if order_status == "AUTHORIZED":
            status = HoldStatus.HELD
        elif order_status == "FINISH":
            status = HoldStatus.CLOSED
        elif order_status == "INIT":
            status = HoldStatus.FAILED if operation == "CLOSED" else HoldStatus.PENDING
        elif order_status == "CLOSED":
            # closed before it was authorised (the freeze operation closed) is a
            # refused hold; closed after (cancelled, unfrozen in full) is closed.
            status = HoldStatus.FAILED if not frozen else HoldStatus.CLOSED
        else:
            raise ProviderUnavailable("bad_answer", f"{DETAIL_QUERY}: unknown order_status")
        return HoldAnswer(
            status=status,
            amount=frozen,
            captured=paid,
            released=released,
            provider_reference=str(answer.get("auth_no", ""))[:100],
            request_status=request_status,
        )

    def query_hold(self, *, transaction_id, provider_reference: str = "") -> HoldAnswer:
        # The freeze itself is the operation whose out_request_no is the HLD id.
        answer = self._operation(transaction_id=transaction_id, request_no=transaction_id)
        if answer is None:
            return HoldAnswer(status=HoldStatus.NOT_FOUND)
        return self._hold_answer(answer)

    def _request(self, *, transaction_id: str, request_no: str) -> tuple[str, HoldAnswer | None]:
        """A release's state by its request id: (succeeded | pending | failed | '', the hold)."""
        answer = self._operation(transaction_id=transaction_id, request_no=request_no)
        if answer is None:
            return "", None
        operation = str(answer.get("status", ""))
        state = {"SUCCESS": "succeeded", "INIT": "pending", "CLOSED": "failed"}.get(operation, "")
        return state, self._hold_answer(answer, request_status=state)

    # --- cancel

    def cancel_hold(self, *, transaction_id, provider_reference: str = "", reason: str = "") -> HoldAnswer:
        # alipay.fund.auth.operation.cancel (opendocs.alipay.com/apis/api_28/
        # alipay.fund.auth.operation.cancel): out_order_no pairs with
        # out_request_no; remark required, ≤ 100 letters or 50 characters.
        answer = self._call(
            CANCEL,
            {
                "out_order_no": transaction_id,
                "out_request_no": transaction_id,
                "remark": (reason or "取消押金冻结")[:50],
            },
            notify_url=self._notify_url(),
        )
        if str(answer.get("code")) == SUCCESS_CODE:
            return HoldAnswer(
                status=HoldStatus.CLOSED,
                provider_reference=str(answer.get("auth_no", "") or provider_reference)[:100],
                request_status="succeeded",
            )
        sub_code = str(answer.get("sub_code", ""))
        queried = self.query_hold(transaction_id=transaction_id, provider_reference=provider_reference)
        if queried.status in (HoldStatus.CLOSED, HoldStatus.FAILED, HoldStatus.NOT_FOUND):
            # never created, never authorised or finished already: nothing is held
            return HoldAnswer(
                status=HoldStatus.CLOSED,
                amount=queried.amount,
                captured=queried.captured,
                released=queried.released,
                provider_reference=queried.provider_reference or provider_reference,
                request_status="succeeded",
            )
        if sub_code in CANCEL_TOO_LATE and queried.status == HoldStatus.HELD and queried.provider_reference:
            # Past the 24 h a cancel may come in: the doc's way out is to unfreeze
            # what is left, under a request id of its own derived from the hold's.
            rest = (queried.amount or Decimal("0")) - (queried.captured or 0) - (queried.released or 0)
            if rest > 0:
                return self.release_hold(
                    transaction_id=transaction_id,
                    request_id=f"{transaction_id}X",
                    provider_reference=queried.provider_reference,
                    amount=rest,
                    reason=reason or "取消押金冻结",
                )
        return replace(queried, failure_reason=refusal(answer), request_status="failed")

    # --- take

    def take_from_hold(
        self,
        *,
        transaction_id,
        hold_transaction_id,
        provider_reference,
        amount,
        reason,
        last: bool = False,
    ) -> RefundStart:
        if not provider_reference:
            raise ProviderError("bad_request", "a take from an Alipay freeze needs its auth_no")
        # alipay.trade.pay for 预授权支付 (opendocs.alipay.com/open/064jhk):
        # product_code PRE_AUTH_ONLINE, auth_no, auth_confirm_mode COMPLETE (转交易
        # 完成后解冻剩余冻结金额) or NOT_COMPLETE (the default: the rest stays
        # frozen); seller_id and buyer_id "支付宝预授权场景下必填" — the buyer is the
        # freeze's payer_user_id, which the detail query gives.
        freeze = self._operation(transaction_id=hold_transaction_id, request_no=hold_transaction_id)
        biz = {
            "out_trade_no": transaction_id,
            "total_amount": money(amount),
            "subject": (reason or transaction_id)[:128],
            "product_code": PRODUCT_CODE,
            "auth_no": provider_reference,
            "auth_confirm_mode": "COMPLETE" if last else "NOT_COMPLETE",
        }
        pid = merchant_pid()
        if pid:
            biz["seller_id"] = pid
        buyer = str((freeze or {}).get("payer_user_id", ""))
        if _USER_ID.fullmatch(buyer):
            biz["buyer_id"] = buyer
        answer = self._call(TRADE_PAY, biz, notify_url=self._notify_url())
        code = str(answer.get("code"))
        reference = str(answer.get("trade_no", ""))[:100]
        if code == SUCCESS_CODE:
            if answer.get("out_trade_no") not in (None, transaction_id):
                raise ProviderUnavailable("bad_answer", f"{TRADE_PAY}: another out_trade_no")
            paid = _answer_amount(answer, "total_amount", TRADE_PAY)
            if paid is not None and paid != Decimal(money(amount)):
                raise ProviderUnavailable("bad_answer", f"{TRADE_PAY}: total_amount differs")
            return RefundStart(succeeded=True, confirmed=True, provider_reference=reference)
        if code == WAITING_CODE:
            return RefundStart(succeeded=True, confirmed=False, provider_reference=reference)
        if str(answer.get("sub_code", "")) in TRADE_HAS_SUCCESS:
            # The same PAY id again (a retried job): it was taken once; say so.
            queried: QueryAnswer = self.query_charge(transaction_id=transaction_id)
            if queried.status == CallbackStatus.SUCCEEDED and queried.amount == Decimal(money(amount)):
                return RefundStart(succeeded=True, confirmed=True, provider_reference=queried.provider_reference)
            raise ProviderUnavailable("take_unclear", f"{TRADE_PAY}: paid before, but not as asked")
        return RefundStart(succeeded=False, failure_reason=refusal(answer))

    # --- release

    def release_hold(self, *, transaction_id, request_id, provider_reference, amount, reason: str = "") -> HoldAnswer:
        if not provider_reference:
            raise ProviderError("bad_request", "an Alipay unfreeze needs the freeze's auth_no")
        # alipay.fund.auth.order.unfreeze (opendocs.alipay.com/apis/api_28/
        # alipay.fund.auth.order.unfreeze): auth_no, out_request_no (one per
        # release; the same one again releases once), amount, remark ≤ 100
        # letters or 50 characters.
        answer = self._call(
            UNFREEZE,
            {
                "auth_no": provider_reference,
                "out_request_no": request_id,
                "amount": money(amount),
                "remark": (reason or "押金解冻")[:50],
            },
            notify_url=self._notify_url(),
        )
        if str(answer.get("code")) == SUCCESS_CODE:
            if answer.get("auth_no") not in (None, provider_reference):
                raise ProviderUnavailable("bad_answer", f"{UNFREEZE}: another auth_no")
            released = _answer_amount(answer, "amount", UNFREEZE)
            if released is not None and released != Decimal(money(amount)):
                raise ProviderUnavailable("bad_answer", f"{UNFREEZE}: amount differs")
        # Success or not, the request's own state and the hold's totals come from
        # the detail query (a refusal may be a repeat of a release done before).
        state, hold = self._request(transaction_id=transaction_id, request_no=request_id)
        if hold is None or state == "":
            # Alipay has no record of this request (yet): the hold as it stands.
            queried = self.query_hold(transaction_id=transaction_id, provider_reference=provider_reference)
            accepted = str(answer.get("code")) == SUCCESS_CODE
            return replace(
                queried,
                provider_reference=queried.provider_reference or provider_reference,
                failure_reason="" if accepted else refusal(answer),
                request_status="pending" if accepted else "failed",
            )
        if state == "failed" and str(answer.get("code")) != SUCCESS_CODE:
            return replace(hold, failure_reason=refusal(answer), request_status="failed")
        return hold

    # --- notifications

    def parse_fund_auth(self, data: dict[str, str]) -> CallbackEvent:
        """A verified fund-authorisation notice (its signature and app_id checked
        by ``parse_callback``) as a CallbackEvent about the hold ``out_order_no``.

        Fields (资金授权操作结果通知, opendocs.alipay.com/open/04ij9t): auth_no,
        out_order_no, operation_id, out_request_no, operation_type FREEZE /
        UNFREEZE, amount (this operation), status INIT / SUCCESS / CLOSED, the
        order's total_freeze_amount, total_unfreeze_amount, total_pay_amount,
        rest_amount, payer_user_id, payee_user_id. The cancel notice carries
        ``action`` (close: nothing was frozen; unfreeze: the money went back).
        """
        notify_type = data.get("notify_type", "")
        notify_id = data.get("notify_id", "")
        transaction_id = data.get("out_order_no", "")
        auth_no = data.get("auth_no", "")
        operation_id = data.get("operation_id", "")
        if not _NOTIFY_ID.fullmatch(notify_id):
            raise MalformedCallback(detail="bad notify_id")
        if not _TRANSACTION_ID.fullmatch(transaction_id):
            raise MalformedCallback(detail="bad out_order_no")
        if not _ALIPAY_NO.fullmatch(auth_no):
            raise MalformedCallback(detail="bad auth_no")
        if not _ALIPAY_NO.fullmatch(operation_id):
            raise MalformedCallback(detail="bad operation_id")
        request_no = data.get("out_request_no", "")
        if not _TRANSACTION_ID.fullmatch(request_no):
            raise MalformedCallback(detail="bad out_request_no")
        pid = merchant_pid()
        payee = data.get("payee_user_id")
        if pid and payee is not None and payee != pid:
            raise MalformedCallback("wrong_seller", "payee_user_id is not our ALIPAY_PID")
        for total in ("total_freeze_amount", "total_unfreeze_amount", "total_pay_amount", "rest_amount"):
            if total in data:
                _amount(data[total], total)
        if notify_type == "fund_auth_operation_cancel":
            status, amount = self._cancel_notice(data)
        else:
            status, amount = self._operation_notice(notify_type, data)
        return CallbackEvent(
            provider=self.name,
            # one event per operation and outcome, whichever notify_id carries it
            event_id=f"{operation_id}:{status}"[:100],
            transaction_id=transaction_id,
            status=status,
            amount=amount,
            failure_reason="" if status != CallbackStatus.HOLD_FAILED else "Alipay closed the freeze",
            provider_reference=auth_no[:100],
            raw=data,
        )

    @staticmethod
    def _operation_notice(notify_type: str, data: dict[str, str]) -> tuple[str, Decimal]:
        operation_type = data.get("operation_type", "")
        status = data.get("status", "")
        expected = {"fund_auth_freeze": "FREEZE", "fund_auth_unfreeze": "UNFREEZE"}[notify_type]
        if operation_type != expected:
            raise MalformedCallback(detail="operation_type does not match notify_type")
        if status not in ("SUCCESS", "CLOSED"):
            raise MalformedCallback(detail="bad status")
        amount = _amount(data.get("amount"), "amount")
        if operation_type == "FREEZE":
            return (CallbackStatus.HELD if status == "SUCCESS" else CallbackStatus.HOLD_FAILED), amount
        if status != "SUCCESS":
            raise MalformedCallback(detail="an unfreeze that closed releases nothing")
        return CallbackStatus.HOLD_RELEASED, amount

    @staticmethod
    def _cancel_notice(data: dict[str, str]) -> tuple[str, Decimal]:
        action = data.get("action", "").lower()
        if action == "close":
            return CallbackStatus.HOLD_FAILED, Decimal("0.00")
        if action == "unfreeze":
            value = data.get("amount") or data.get("total_unfreeze_amount")
            return CallbackStatus.HOLD_RELEASED, _amount(value, "amount")
        raise MalformedCallback(detail="bad action")
