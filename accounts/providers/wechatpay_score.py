"""WeChat Pay Score 免押租车: a deposit-free rental on 微信支付分 (SPEC §18, CREDIT).

The hold calls of the ``wechatpay`` adapter (its base class, as
:class:`~accounts.providers.alipay_holds.AlipayHolds` is Alipay's): the same
SDK client, keys and signed answers as its charges, through the SDK's own
Pay Score calls (``payscore_create``, ``payscore_query``, ``payscore_cancel``,
``payscore_complete``); the notifications arrive at the WeChat Pay callback
and are verified and decrypted there, then parsed here. ``out_order_no`` is
the HLD id, ``service_id`` is ``WECHATPAY_PAYSCORE_SERVICE_ID``.

- Create (创建支付分订单, ``POST /v3/payscore/serviceorder``: the API list
  pay.weixin.qq.com/docs/merchant/products/weixin-pay-score/apilists.html and
  pay.weixin.qq.com/wiki/doc/apiv3/apis/chapter6_1_14.shtml): ``risk_fund``
  DEPOSIT with the hold's amount in fen, ``need_user_confirm``; "该接口支持原参
  重入" (the same request again answers the same order); the answer's
  ``package`` is what the customer's WeChat confirms.
- Confirmed: PAYSCORE.USER_CONFIRM (确认订单回调通知,
  pay.weixin.qq.com/docs/merchant/apis/weixin-pay-score/confirm-notification.html) → held.
- Complete (完结支付分订单, ``POST …/serviceorder/{out_order_no}/complete``,
  wechatpay.im/openapi/v3/payscore/serviceorder/{out_order_no}/complete) with
  the car-rental items only; paid: PAYSCORE.USER_PAID (支付成功回调,
  pay.weixin.qq.com/docs/merchant/apis/weixin-pay-score/success-notification.html).
- Cancel (取消支付分订单, ``…/cancel``); query (查询支付分订单, ``GET /v3/payscore/serviceorder``,
  pay.weixin.qq.com/docs/merchant/apis/weixin-pay-score/service-order/get-service-order.html):
  ``state`` CREATED / DOING (``state_description`` USER_CONFIRM, MCH_COMPLETE)
  / DONE / REVOKED / EXPIRED (CREATED unchanged for 30 days), read with
  ``collection.state`` (pay.weixin.qq.com/doc/v3/partner/4013194035).
"""

import re
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.utils import timezone

from accounts.providers.interface import (
    PAYSCORE_NOTHING_TAKEN,
    PAYSCORE_RENTAL_ITEMS,
    CallbackEvent,
    CallbackStatus,
    HoldAnswer,
    HoldStart,
    HoldStatus,
    MalformedCallback,
    PaymentProvider,
    ProviderError,
    ProviderUnavailable,
    TakeItem,
)
from accounts.providers.wechatpay_keys import _setting, from_fen, to_fen

BEIJING = ZoneInfo("Asia/Shanghai")
PAYSCORE_EVENTS = ("PAYSCORE.USER_CONFIRM", "PAYSCORE.USER_PAID")
# 创建支付分订单: risk_fund.name, for a deposit the user is excused from: DEPOSIT (押金).
RISK_FUND = "DEPOSIT"
# post_payments(后付费项目)字段传参说明 — 汽车租赁
# (pay.weixin.qq.com/docs/merchant/products/weixin-pay-score/car-rental.html):
# at creation one item "免押租车规则" with the rule in its description and no
# amount nor count; at completion only the eight car-rental names
# (PAYSCORE_RENTAL_ITEMS), and an order with nothing due exactly one
# "租车相关费用" item described "本次无扣款".
RULE_ITEM = "免押租车规则"
RULE_TEXT = "还车后{days}天内按费用标准核查车损、违章等费用，按实际费用扣费"
# Field limits of the create and complete requests: service_introduction
# string(20), a post_payments description string(30), a cancel reason 30 characters.
INTRODUCTION_LENGTH = 20
DESCRIPTION_LENGTH = 30
REASON_LENGTH = 30
# A cancel repeated must carry the same reason ("重录时需保证参数完全一致，包括取消原因").
CANCEL_REASON = "订单取消，押金免押结束"
NOT_FOUND_CODES = {"ORDER_NOT_EXIST", "ORDERNOTEXIST", "RESOURCE_NOT_EXISTS"}
_HOLD_ID = re.compile(r"HLD[A-Za-z0-9]{1,29}")
_ORDER_ID = re.compile(r"[\x21-\x7e]{1,64}")


class HoldRefused(ProviderError):
    """WeChat Pay said no, signed, to creating the service order (no Pay Score permission, a bad parameter)."""

    reason = "hold_refused"


class BadTakeItems(ProviderError, ValueError):
    """A completion whose items WeChat Pay would refuse: refused before any call."""

    reason = "bad_take_items"


def service_id() -> str:
    return str(_setting("WECHATPAY_PAYSCORE_SERVICE_ID") or "").strip()


def _service_time(moment: datetime) -> str:
    """time_range times: yyyyMMddHHmmss, Beijing time."""
    return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def time_range(
    service_start: datetime | None, service_end: datetime | None, release_days: int, now: datetime | None = None
) -> dict:
    """The create's time_range: from the pick-up (or, before it is known or once
    it has passed, "OnAccept": the moment the customer confirms) to the return
    plus the days fees may still be taken."""
    now = now or timezone.now()
    start = service_start if service_start is not None and service_start > now else None
    end = (service_end or (start or now) + timedelta(days=1)) + timedelta(days=max(release_days, 0))
    return {"start_time": _service_time(start) if start else "OnAccept", "end_time": _service_time(max(end, now))}


def completion_items(items: "list[TakeItem]", total: Decimal) -> tuple[list[dict], int]:
    """The complete's ``post_payments`` and ``total_amount`` (fen): only the
    car-rental names, one line per name (WeChat Pay refuses a name twice), each
    a whole positive number of fen, summing to ``total``; nothing taken is the
    one "本次无扣款" item of 0. Raises :class:`BadTakeItems`."""
    if total < 0 or total != total.quantize(Decimal("0.01")):
        raise BadTakeItems(detail=f"total {total} is not a sum of money")
    if not items:
        if total != 0:
            raise BadTakeItems(detail="a total without items")
        name, description = PAYSCORE_NOTHING_TAKEN
        return [{"name": name, "amount": 0, "description": description}], 0
    lines: dict[str, dict] = {}
    for item in items:
        if item.name not in PAYSCORE_RENTAL_ITEMS:
            raise BadTakeItems(detail=f"{item.name[:20]!r} is not a car-rental item WeChat Pay allows")
        try:
            fen = to_fen(item.amount)
        except ProviderError:
            raise BadTakeItems(detail=f"{item.name}: {item.amount} is not a positive whole number of fen") from None
        line = lines.setdefault(item.name, {"name": item.name, "amount": 0, "description": ""})
        line["amount"] += fen
        words = (item.description or item.name).strip()
        line["description"] = "；".join(filter(None, (line["description"], words)))[:DESCRIPTION_LENGTH]
    total_fen = sum(line["amount"] for line in lines.values())
    if Decimal(total_fen) / 100 != total:
        raise BadTakeItems(detail=f"the items sum to {Decimal(total_fen) / 100}, not {total}")
    return list(lines.values()), total_fen


def _object(value) -> dict:
    return value if isinstance(value, dict) else {}


def _fen(value, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return from_fen(value)
    except MalformedCallback:
        raise ProviderUnavailable("bad_answer", f"payscore: bad {field}") from None


def hold_answer(data: dict, request_status: str = "") -> HoldAnswer:
    """A service order (an answer or a notification's resource) as a HoldAnswer.

    ``state`` (查询支付分订单): CREATED → pending; DOING → held (USER_CONFIRM,
    and MCH_COMPLETE until the customer's payment); DONE → paid when the
    collection is USER_PAID with money, closed when nothing was due; REVOKED
    (cancelled) → closed; EXPIRED (never confirmed in 30 days) → failed."""
    state = str(data.get("state", ""))
    collection = _object(data.get("collection"))
    paid = _fen(collection.get("paid_amount"), "collection.paid_amount")
    total = _fen(data.get("total_amount"), "total_amount")
    if state == "CREATED":
        status = HoldStatus.PENDING
    elif state == "DOING":
        status = HoldStatus.HELD
    elif state == "DONE":
        if collection.get("state") == "USER_PAID" and (paid or total):
            status = HoldStatus.PAID
        elif not total:
            status = HoldStatus.CLOSED
        else:
            status = HoldStatus.HELD  # completed, the customer's payment still being taken
    elif state == "REVOKED":
        status = HoldStatus.CLOSED
    elif state == "EXPIRED":
        status = HoldStatus.FAILED
    else:
        raise ProviderUnavailable("bad_answer", f"payscore: unknown state {state[:20]!r}")
    risk_fund = _object(data.get("risk_fund"))
    reference = data.get("order_id")
    return HoldAnswer(
        status=status,
        amount=_fen(risk_fund.get("amount"), "risk_fund.amount"),
        captured=(paid or total) if status == HoldStatus.PAID else Decimal("0.00"),
        provider_reference=reference if isinstance(reference, str) and _ORDER_ID.fullmatch(reference) else "",
        failure_reason="WeChat Pay Score order expired unconfirmed" if status == HoldStatus.FAILED else "",
        request_status=request_status,
    )


class WechatPayScore(PaymentProvider):
    """The Pay Score calls of the WeChat Pay adapter (its base class)."""

    takes_holds = True
    takes_at_completion = True

    def _call(self, action: str, fn, *args, **kwargs) -> tuple[int, dict]:  # the adapter's verified SDK call
        raise NotImplementedError

    def _sdk(self):
        raise NotImplementedError

    def _service_id(self) -> str:
        value = service_id()
        if not value:
            raise ProviderError("not_configured", "WECHATPAY_PAYSCORE_SERVICE_ID is not set")
        return value

    def _ours(self, data: dict, transaction_id: str, action: str) -> dict:
        """An answer about our order: same out_order_no, service_id, appid (and mchid when given)."""
        expected = {
            "out_order_no": transaction_id,
            "service_id": self._service_id(),
            "appid": str(_setting("WECHATPAY_APPID")),
            "mchid": str(_setting("WECHATPAY_MCHID")),
        }
        for field, value in expected.items():
            if field in data and str(data[field]) != value:
                raise ProviderUnavailable("bad_answer", f"{action}: another {field}")
        return data

    # --- create

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
        service_start: datetime | None = None,
        service_end: datetime | None = None,
    ) -> HoldStart:
        """Create the service order. ``service_start`` / ``service_end``: the
        rental's pick-up and return, for its time_range (Pay Score only)."""
        rule = RULE_TEXT.format(days=release_days)
        if release_days < 0 or len(rule) > DESCRIPTION_LENGTH:
            raise ProviderError("bad_request", f"release_days {release_days} does not fit the rule's 30 characters")
        client = self._sdk()
        if not client._notify_url:
            raise ProviderError("not_configured", "WECHATPAY_NOTIFY_URL is not set and there is no request")
        code, data = self._call(
            "payscore create",
            client.payscore_create,
            out_order_no=transaction_id,
            service_id=self._service_id(),
            service_introduction=(description or "免押租车")[:INTRODUCTION_LENGTH],
            time_range=time_range(service_start, service_end, release_days),
            risk_fund={"name": RISK_FUND, "amount": to_fen(amount)},
            post_payments=[{"name": RULE_ITEM, "description": rule}],
            need_user_confirm=True,
        )
        if code >= 300:
            raise HoldRefused(detail=f"{data.get('code', code)}: {str(data.get('message', ''))[:200]}")
        self._ours(data, transaction_id, "payscore create")
        package = data.get("package")
        if not isinstance(package, str) or not package or len(package) > 1024:
            raise ProviderUnavailable("bad_answer", "payscore create: no package to confirm")
        reference = data.get("order_id")
        reference = reference if isinstance(reference, str) and _ORDER_ID.fullmatch(reference) else ""
        return HoldStart(package=package, provider_reference=reference)

    # --- query

    def _order(self, transaction_id: str) -> dict | None:
        """The service order as WeChat Pay has it; None when it has none."""
        client = self._sdk()
        code, data = self._call(
            "payscore query", client.payscore_query, service_id=self._service_id(), out_order_no=transaction_id
        )
        if code == 404 or str(data.get("code", "")) in NOT_FOUND_CODES:
            return None
        if code >= 300:
            raise ProviderUnavailable("query_refused", f"payscore query: {data.get('code', code)}")
        return self._ours(data, transaction_id, "payscore query")

    def query_hold(self, *, transaction_id, provider_reference: str = "") -> HoldAnswer:
        data = self._order(transaction_id)
        return HoldAnswer(status=HoldStatus.NOT_FOUND) if data is None else hold_answer(data)

    # --- cancel

    def cancel_hold(self, *, transaction_id, provider_reference: str = "", reason: str = "") -> HoldAnswer:
        client = self._sdk()
        code, data = self._call(
            "payscore cancel",
            client.payscore_cancel,
            out_order_no=transaction_id,
            service_id=self._service_id(),
            reason=(reason or CANCEL_REASON)[:REASON_LENGTH],
        )
        if code < 300:
            self._ours(data, transaction_id, "payscore cancel")
            return HoldAnswer(
                status=HoldStatus.CLOSED,
                provider_reference=str(data.get("order_id", "") or provider_reference)[:64],
                request_status="succeeded",
            )
        # Refused: a cancel done before, an order never created or already over
        # count as cancelled; anything else is the order as it stands.
        queried = self.query_hold(transaction_id=transaction_id, provider_reference=provider_reference)
        if queried.status in (HoldStatus.CLOSED, HoldStatus.FAILED, HoldStatus.NOT_FOUND):
            return replace(queried, status=HoldStatus.CLOSED, request_status="succeeded")
        return replace(queried, failure_reason=_refusal(data, code), request_status="failed")

    # --- complete

    def complete_hold(self, *, transaction_id, items, total, request_id: str = "") -> HoldAnswer:
        post_payments, total_fen = completion_items(list(items), Decimal(total))
        client = self._sdk()
        code, data = self._call(
            "payscore complete",
            client.payscore_complete,
            out_order_no=transaction_id,
            service_id=self._service_id(),
            post_payments=post_payments,
            total_amount=total_fen,
            # The real end of the service, now: the create's end_time (the
            # return + the release days) is later than the call, which
            # WeChat Pay refuses ("实际结束时间不能晚于使用完结接口的时间",
            # developers.weixin.qq.com/community/pay/doc/0000c8c0040398d5c91bfb75e56400).
            time_range={"end_time": _service_time(timezone.now() - timedelta(seconds=5))},
        )
        if code < 300:
            answer = hold_answer(self._ours(data, transaction_id, "payscore complete"))
            if total_fen == 0:
                return replace(answer, status=HoldStatus.CLOSED, request_status="succeeded")
            done = answer.status == HoldStatus.PAID
            return replace(answer, request_status="succeeded" if done else "pending")
        # A completion repeated (a retried job) is refused: the order says whether it was this one.
        order = self._order(transaction_id)
        if order is None:
            return HoldAnswer(status=HoldStatus.NOT_FOUND, failure_reason=_refusal(data, code), request_status="failed")
        queried = hold_answer(order)
        completed = order.get("state") == "DONE" or order.get("state_description") == "MCH_COMPLETE"
        if completed and order.get("total_amount") == total_fen:
            if total_fen == 0:
                return replace(queried, status=HoldStatus.CLOSED, request_status="succeeded")
            return replace(queried, request_status="succeeded" if queried.status == HoldStatus.PAID else "pending")
        return replace(queried, failure_reason=_refusal(data, code), request_status="failed")

    # --- notifications

    def parse_payscore(self, event_id: str, event_type: str, resource: dict) -> CallbackEvent:
        """A verified, decrypted Pay Score notification (its merchant checked by
        ``parse_body``) as a CallbackEvent about the hold ``out_order_no``:
        USER_CONFIRM → held (``amount`` the risk fund), USER_PAID → hold_paid
        (``amount`` what the customer paid)."""
        transaction_id = resource.get("out_order_no")
        if not isinstance(transaction_id, str) or not _HOLD_ID.fullmatch(transaction_id):
            raise MalformedCallback("unknown_order", "out_order_no is not one of our holds")
        if str(resource.get("appid")) != str(_setting("WECHATPAY_APPID")):
            raise MalformedCallback("wrong_app", "the notification is for another appid")
        if not service_id() or str(resource.get("service_id")) != service_id():
            raise MalformedCallback("wrong_service", "the notification is for another service_id")
        try:
            answer = hold_answer(resource)
        except ProviderUnavailable as exc:
            raise MalformedCallback(detail=exc.detail) from None
        if event_type == "PAYSCORE.USER_CONFIRM":
            if resource.get("state") != "DOING" or resource.get("state_description") != "USER_CONFIRM":
                raise MalformedCallback(detail="USER_CONFIRM without state DOING / USER_CONFIRM")
            if answer.amount is None:
                raise MalformedCallback(detail="USER_CONFIRM without risk_fund.amount")
            status, amount = CallbackStatus.HELD, answer.amount
        else:
            if answer.status != HoldStatus.PAID or answer.captured is None:
                raise MalformedCallback(detail="USER_PAID without a paid collection")
            status, amount = CallbackStatus.HOLD_PAID, answer.captured
        return CallbackEvent(
            provider=self.name,
            event_id=event_id,
            transaction_id=transaction_id,
            status=status,
            amount=amount,
            provider_reference=answer.provider_reference,
            raw={"id": event_id, "event_type": event_type},
        )


def _refusal(data: dict, code: int) -> str:
    return f"{data.get('code', code)}: {str(data.get('message', ''))[:200]}"[:255]
