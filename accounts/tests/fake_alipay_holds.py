"""The fake Alipay gateway's book of freezes (资金预授权, SPEC §18).

Mixed into :class:`accounts.tests.fake_alipay.FakeAlipay`. It answers
``alipay.fund.auth.order.voucher.create``, ``alipay.fund.auth.order.unfreeze``,
``alipay.fund.auth.operation.cancel``, ``alipay.fund.auth.operation.detail.query``
and ``alipay.trade.pay`` with ``auth_no``, signed like every other answer, and
keeps per freeze what is frozen, paid and unfrozen (per ``out_request_no``).
Repeats are idempotent as Alipay's are: the same ``out_request_no`` unfreezes
once, the same ``out_trade_no`` pays once (a repeat answers
``ACQ.TRADE_HAS_SUCCESS``); a take above the rest is refused
(``ACQ.AUTH_AMOUNT_NOT_ENOUGH``), an unfreeze above it ``REQUEST_AMOUNT_EXCEED``.

Each operation Alipay would notify puts a signed notification (form body) in
``outbox``: the customer's freeze approved or refused, an unfreeze done, a take
paid. ``deliver(client)`` posts them to our callback; ``lose_notifications()``
drops them (a lost notice, for the query to recover).

Test helpers: ``submit_app_freeze(url)`` (the Alipay app opening the signed
order string of ``app.freeze``), ``approve_freeze(out_order_no)``,
``refuse_freeze(out_order_no)``, ``fund_auth_params(...)`` /
``fund_auth_notice(...)`` (a notice of one operation, for hostile variants),
``freeze_of(out_order_no)``.
"""

import secrets
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

from django.urls import reverse

PRE_AUTH = "PRE_AUTH_ONLINE"
PAYER_ID = "2088102177846880"
ZERO = Decimal("0.00")

HOLD_METHODS = (
    "alipay.fund.auth.order.voucher.create",
    "alipay.fund.auth.order.unfreeze",
    "alipay.fund.auth.operation.cancel",
    "alipay.fund.auth.operation.detail.query",
)


def _money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _failed(sub_code: str, sub_msg: str) -> dict:
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}


class FakeFreezes:
    # provided by FakeAlipay
    app_id: str
    trades: dict
    app_public_key: object

    def _init_freezes(self, seller_id: str) -> None:
        self.seller_id = seller_id
        self.freezes: dict[str, dict] = {}
        self.outbox: list[bytes] = []

    # --- what tests tell it

    def freeze_of(self, out_order_no: str) -> dict:
        return self.freezes[out_order_no]

    def rest_of(self, freeze: dict) -> Decimal:
        return freeze["frozen"] - freeze["paid"] - freeze["unfrozen"]

    def submit_app_freeze(self, url: str) -> dict:
        """The Alipay app given the signed order string of ``app.freeze``: it checks
        the signature like the gateway does and opens the freeze (not yet approved)."""
        from accounts.tests.fake_alipay import rsa_verify, sign_content

        params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        if (
            params.get("method") != "alipay.fund.auth.order.app.freeze"
            or params.get("app_id") != self.app_id
            or not rsa_verify(self.app_public_key, sign_content(params, exclude=("sign",)), params.get("sign", ""))
        ):
            raise ValueError("not an order string signed by our app")
        import json

        biz = json.loads(params["biz_content"])
        answer = self._open_freeze(biz, params.get("notify_url", ""))
        if answer.get("code") != "10000":
            raise ValueError(answer.get("sub_code"))
        return self.freezes[biz["out_order_no"]]

    def approve_freeze(self, out_order_no: str, *, payer_user_id: str = PAYER_ID) -> bytes:
        """The customer confirms the freeze: AUTHORIZED, and its notice in the outbox."""
        freeze = self.freezes[out_order_no]
        operation = freeze["operations"][freeze["request_no"]]
        if operation["status"] == "INIT":
            operation["status"] = "SUCCESS"
            freeze.update(order_status="AUTHORIZED", frozen=freeze["amount"], payer_user_id=payer_user_id)
            operation["gmt_trans"] = self._now()
        return self._queue(self.fund_auth_notice(out_order_no, freeze["request_no"]))

    def refuse_freeze(self, out_order_no: str) -> bytes:
        """The freeze fails (balance short, the customer gave up): CLOSED, and its notice."""
        freeze = self.freezes[out_order_no]
        operation = freeze["operations"][freeze["request_no"]]
        if operation["status"] == "INIT":
            operation["status"] = "CLOSED"
            freeze["order_status"] = "CLOSED"
        return self._queue(self.fund_auth_notice(out_order_no, freeze["request_no"]))

    def lose_notifications(self) -> list[bytes]:
        lost, self.outbox = self.outbox, []
        return lost

    def deliver(self, client) -> list:
        """Post every queued notice to our Alipay callback; the responses."""
        bodies, self.outbox = self.outbox, []
        url = reverse("payments:callback", args=["alipay"])
        return [client.post(url, data=body, content_type="application/x-www-form-urlencoded") for body in bodies]

    def _queue(self, body: bytes) -> bytes:
        self.outbox.append(body)
        return body

    # --- notifications

    def fund_auth_params(self, out_order_no: str, out_request_no: str | None = None, /, **extra) -> dict:
        """The parameters of the notice of one operation of a freeze
        (资金授权操作结果通知), before signing; ``extra`` overrides any."""
        freeze = self.freezes[out_order_no]
        request_no = out_request_no or freeze["request_no"]
        operation = freeze["operations"][request_no]
        now = self._now()
        params = {
            "notify_id": f"2026{secrets.token_hex(14)}",
            "notify_time": now,
            "notify_type": "fund_auth_freeze" if operation["type"] == "FREEZE" else "fund_auth_unfreeze",
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": self.app_id,
            "auth_app_id": self.app_id,
            "auth_no": freeze["auth_no"],
            "out_order_no": out_order_no,
            "operation_id": operation["operation_id"],
            "out_request_no": request_no,
            "operation_type": operation["type"],
            "amount": str(operation["amount"]),
            "status": operation["status"],
            "gmt_create": operation["gmt_create"],
            "gmt_trans": operation.get("gmt_trans") or now,
            "payer_user_id": freeze.get("payer_user_id") or PAYER_ID,
            "payer_logon_id": "159****5620",
            "payee_user_id": freeze["payee_user_id"],
            "total_freeze_amount": str(freeze["frozen"]),
            "total_unfreeze_amount": str(freeze["unfrozen"]),
            "total_pay_amount": str(freeze["paid"]),
            "rest_amount": str(self.rest_of(freeze)),
        }
        params.update(extra)
        return {name: value for name, value in params.items() if value is not None}

    def fund_auth_notice(self, out_order_no: str, out_request_no: str | None = None, /, *, key=None, **extra) -> bytes:
        params = self.fund_auth_params(out_order_no, out_request_no, **extra)
        return urlencode(self.sign_params(params, key=key)).encode("ascii")  # type: ignore[attr-defined]

    # --- the gateway's answers

    @staticmethod
    def _now() -> str:
        return datetime.now().strftime("%Y-%m-%d %H:%M:%S")

    def _hold_answer(self, method: str, biz: dict) -> dict:
        if method == "alipay.fund.auth.order.voucher.create":
            answer = self._open_freeze(biz, "")
            if answer["code"] != "10000":
                return answer
            freeze = self.freezes[biz["out_order_no"]]
            return {
                **answer,
                "code_type": "qrCode",
                "code_value": freeze["code_value"],
                "code_url": f"https://mobilecodec.alipay.com/show.htm?code={freeze['code_value'][-16:]}",
            }
        if method == "alipay.fund.auth.operation.detail.query":
            return self._detail(biz)
        if method == "alipay.fund.auth.order.unfreeze":
            return self._unfreeze(biz)
        return self._cancel(biz)

    def _open_freeze(self, biz: dict, notify_url: str) -> dict:
        out_order_no, request_no = biz.get("out_order_no", ""), biz.get("out_request_no", "")
        try:
            amount = _money(biz.get("amount"))
        except ArithmeticError:
            return _failed("ILLEGAL_ARGUMENT", "金额格式错误")
        if biz.get("product_code") != PRE_AUTH or not out_order_no or not request_no or amount <= 0:
            return _failed("ILLEGAL_ARGUMENT", "参数异常或参数缺失")
        payee = biz.get("payee_user_id", self.seller_id)
        if payee != self.seller_id:
            return _failed("PAYEE_NOT_EXIST", "收款方账号不存在")
        existing = self.freezes.get(out_order_no)
        if existing is not None:
            if existing["request_no"] != request_no or existing["amount"] != amount:
                return _failed("ILLEGAL_ARGUMENT", "商户订单号重复")
        else:
            now = self._now()
            self.freezes[out_order_no] = {
                "auth_no": f"2026{secrets.token_hex(12)}",
                "request_no": request_no,
                "amount": amount,
                "title": biz.get("order_title", ""),
                "timeout": biz.get("pay_timeout") or biz.get("timeout_express") or "",
                "order_status": "INIT",
                "frozen": ZERO,
                "paid": ZERO,
                "unfrozen": ZERO,
                "payee_user_id": payee,
                "payer_user_id": "",
                "code_value": f"https://qr.alipay.com/fa{secrets.token_hex(10)}",
                "notify_url": notify_url,
                "operations": {
                    request_no: {
                        "type": "FREEZE",
                        "amount": amount,
                        "status": "INIT",
                        "operation_id": f"2026{secrets.token_hex(8)}",
                        "gmt_create": now,
                    }
                },
            }
        return {"code": "10000", "msg": "Success", "out_order_no": out_order_no, "out_request_no": request_no}

    def _find(self, biz: dict) -> tuple[str, dict] | tuple[None, None]:
        auth_no = biz.get("auth_no")
        for out_order_no, freeze in self.freezes.items():
            if (auth_no and freeze["auth_no"] == auth_no) or (not auth_no and out_order_no == biz.get("out_order_no")):
                return out_order_no, freeze
        return None, None

    def _totals(self, out_order_no: str, freeze: dict) -> dict:
        return {
            "auth_no": freeze["auth_no"],
            "out_order_no": out_order_no,
            "order_status": freeze["order_status"],
            "total_freeze_amount": str(freeze["frozen"]),
            "rest_amount": str(self.rest_of(freeze)),
            "total_pay_amount": str(freeze["paid"]),
            "total_unfreeze_amount": str(freeze["unfrozen"]),
            "order_title": freeze["title"],
            "payer_logon_id": "159****5620",
            "payer_user_id": freeze["payer_user_id"],
        }

    def _detail(self, biz: dict) -> dict:
        out_order_no, freeze = self._find(biz)
        if freeze is None:
            return _failed("AUTH_ORDER_NOT_EXIST", "支付宝资金授权订单不存在")
        operation = freeze["operations"].get(biz.get("out_request_no", ""))
        if operation is None:
            return _failed("AUTH_OPERATION_NOT_EXIST", "支付宝资金操作流水不存在")
        return {
            "code": "10000",
            "msg": "Success",
            **self._totals(out_order_no, freeze),
            "operation_id": operation["operation_id"],
            "out_request_no": biz["out_request_no"],
            "amount": str(operation["amount"]),
            "operation_type": operation["type"],
            "status": operation["status"],
            "gmt_create": operation["gmt_create"],
            "gmt_trans": operation.get("gmt_trans", ""),
        }

    def _add_unfreeze(self, freeze: dict, request_no: str, amount: Decimal) -> dict:
        now = self._now()
        operation = {
            "type": "UNFREEZE",
            "amount": amount,
            "status": "SUCCESS",
            "operation_id": f"2026{secrets.token_hex(8)}",
            "gmt_create": now,
            "gmt_trans": now,
        }
        freeze["operations"][request_no] = operation
        freeze["unfrozen"] += amount
        if self.rest_of(freeze) == 0:
            freeze["order_status"] = "FINISH"
        return operation

    def _unfreeze(self, biz: dict) -> dict:
        out_order_no, freeze = self._find({"auth_no": biz.get("auth_no") or "-"})
        if freeze is None:
            return _failed("AUTH_ORDER_NOT_EXIST", "支付宝资金授权订单不存在")
        request_no = biz.get("out_request_no", "")
        try:
            amount = _money(biz.get("amount"))
        except ArithmeticError:
            return _failed("ILLEGAL_ARGUMENT", "金额格式错误")
        operation = freeze["operations"].get(request_no)
        if operation is not None:
            if operation["type"] != "UNFREEZE" or operation["amount"] != amount:
                return _failed("ILLEGAL_ARGUMENT", "请求流水号重复")
        else:
            if freeze["order_status"] in ("FINISH", "CLOSED"):
                return _failed("ORDER_ALREADY_FINISH", "授权订单已经完结，无法再进行资金操作")
            if freeze["order_status"] != "AUTHORIZED" or not request_no or amount <= 0:
                return _failed("ILLEGAL_ARGUMENT", "参数异常或参数缺失")
            if amount > self.rest_of(freeze):
                return _failed("REQUEST_AMOUNT_EXCEED", "请求金额超过可解冻金额")
            operation = self._add_unfreeze(freeze, request_no, amount)
            self._queue(self.fund_auth_notice(out_order_no, request_no))
        return {
            "code": "10000",
            "msg": "Success",
            "auth_no": freeze["auth_no"],
            "out_order_no": out_order_no,
            "operation_id": operation["operation_id"],
            "out_request_no": request_no,
            "amount": str(amount),
            "status": operation["status"],
            "gmt_trans": operation["gmt_trans"],
        }

    def _cancel(self, biz: dict) -> dict:
        out_order_no, freeze = self._find(biz)
        if freeze is None:
            return _failed("AUTH_ORDER_NOT_EXIST", "支付宝资金授权订单不存在")
        if freeze["order_status"] in ("FINISH", "CLOSED"):
            return _failed("ORDER_ALREADY_FINISH", "授权订单已经完结，无法再进行资金操作")
        if freeze["paid"] or freeze["unfrozen"]:
            return _failed("REQUEST_AMOUNT_EXCEED", "撤销金额超过冻结金额")
        operation = freeze["operations"][freeze["request_no"]]
        if freeze["order_status"] == "INIT":
            operation["status"] = "CLOSED"
            action = "close"
        else:
            freeze["unfrozen"] = freeze["frozen"]
            action = "unfreeze"
        freeze["order_status"] = "CLOSED"
        return {
            "code": "10000",
            "msg": "Success",
            "auth_no": freeze["auth_no"],
            "out_order_no": out_order_no,
            "operation_id": operation["operation_id"],
            "out_request_no": freeze["request_no"],
            "action": action,
        }

    def _trade_pay(self, biz: dict) -> dict:
        """``alipay.trade.pay`` with ``auth_no``: a take from a freeze."""
        out_trade_no = biz.get("out_trade_no", "")
        out_order_no, freeze = self._find({"auth_no": biz.get("auth_no") or "-"})
        if biz.get("product_code") != PRE_AUTH or not out_trade_no:
            return _failed("ACQ.INVALID_PARAMETER", "参数无效")
        if freeze is None or freeze["order_status"] != "AUTHORIZED" and out_trade_no not in self.trades:
            return _failed("ACQ.AUTH_NO_ERROR", "预授权号错误或状态不对")
        if (
            biz.get("seller_id", self.seller_id) != self.seller_id
            or biz.get("buyer_id", freeze["payer_user_id"]) != (freeze["payer_user_id"])
        ):
            return _failed("ACQ.AUTH_NO_ERROR", "预授权订单的参与方与支付单的参与方不一致")
        try:
            amount = _money(biz.get("total_amount"))
        except ArithmeticError:
            return _failed("ACQ.INVALID_PARAMETER", "参数无效")
        trade = self.trades.get(out_trade_no)
        if trade is not None:
            return _failed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        if amount <= 0 or amount > self.rest_of(freeze):
            return _failed("ACQ.AUTH_AMOUNT_NOT_ENOUGH", "授权金额不足")
        freeze["paid"] += amount
        trade = self._set_trade(out_trade_no, amount, "TRADE_SUCCESS")  # type: ignore[attr-defined]
        trade.update(auth_no=freeze["auth_no"], auth_confirm_mode=biz.get("auth_confirm_mode", "NOT_COMPLETE"))
        freeze.setdefault("takes", []).append(out_trade_no)
        if trade["auth_confirm_mode"] == "COMPLETE" and self.rest_of(freeze) > 0:
            # 转交易完成后解冻剩余冻结金额
            self._add_unfreeze(freeze, f"{out_trade_no}C", self.rest_of(freeze))
        if self.rest_of(freeze) == 0:
            freeze["order_status"] = "FINISH"
        self._queue(self.notify(out_trade_no, str(amount)))  # type: ignore[attr-defined]
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade["trade_no"],
            "out_trade_no": out_trade_no,
            "buyer_logon_id": "159****5620",
            "buyer_user_id": freeze["payer_user_id"],
            "total_amount": str(amount),
            "receipt_amount": str(amount),
            "gmt_payment": self._now(),
            "auth_trade_pay_mode": "CREDIT_PREAUTH_PAY",
        }
