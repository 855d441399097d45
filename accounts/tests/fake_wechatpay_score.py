"""WeChat Pay Score on the fake WeChat Pay gateway (SPEC §18): the service
order endpoints (create, query, cancel, complete) on the same HTTP server, the
same merchant signature check and the same signed answers as
:class:`~accounts.tests.fake_wechatpay.FakeWechatPay`, and the encrypted,
signed PAYSCORE.USER_CONFIRM / PAYSCORE.USER_PAID notifications WeChat Pay
posts once the customer confirms or pays.

It checks what WeChat Pay checks: our appid and service id, a DEPOSIT risk
fund in whole fen, the create's one 免押租车规则 item without amount, the
complete's car-rental item names only, their sum equal to ``total_amount``
(at most the risk fund), a 0 completion with exactly one 租车相关费用 item,
the real end time not after the call.
"""

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from accounts.providers.interface import PAYSCORE_RENTAL_ITEMS
from accounts.tests.fake_wechatpay import APPID, MCHID, FakeWechatPay

SERVICE_ID = "2002000000000558128851361561536"
BEIJING = ZoneInfo("Asia/Shanghai")
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
_OUT_ORDER_NO = re.compile(r"[A-Za-z0-9_|*-]{1,32}")


@dataclass
class ServiceOrder:
    out_order_no: str
    request: dict
    state: str = "CREATED"
    state_description: str = ""
    total_amount: int | None = None
    post_payments: list = field(default_factory=list)
    collection: dict | None = None
    order_id: str = field(default_factory=lambda: "1000000000" + secrets.token_hex(8))

    def as_json(self) -> dict:
        data = {
            "appid": APPID,
            "mchid": MCHID,
            "service_id": SERVICE_ID,
            "out_order_no": self.out_order_no,
            "service_introduction": self.request["service_introduction"],
            "state": self.state,
            "risk_fund": self.request["risk_fund"],
            "time_range": self.request["time_range"],
            "post_payments": self.post_payments or self.request.get("post_payments", []),
            "notify_url": self.request["notify_url"],
            "order_id": self.order_id,
            "need_collection": bool(self.total_amount),
        }
        if self.state == "DOING":
            data["state_description"] = self.state_description
        if self.total_amount is not None:
            data["total_amount"] = self.total_amount
        if self.collection is not None:
            data["collection"] = self.collection
        if self.state != "CREATED":
            data["openid"] = OPENID
        return data


class FakeWechatPayScore(FakeWechatPay):
    def __init__(self):
        super().__init__()
        self.service_orders: dict[str, ServiceOrder] = {}
        self.payscore_requests: list[tuple[str, dict]] = []  # (endpoint, JSON body or query) as received
        # The signed business error a create gets in ``refuse`` mode.
        self.create_refusal = (403, "NO_AUTH", "商户暂无支付分产品权限")

    def settings(self) -> dict:
        return {**super().settings(), "WECHATPAY_PAYSCORE_SERVICE_ID": SERVICE_ID}

    def received(self, endpoint: str) -> list[dict]:
        return [body for name, body in self.payscore_requests if name == endpoint]

    # -- what the customer does ---------------------------------------------------------

    def confirm(self, out_order_no: str, **overrides) -> tuple[dict, bytes]:
        """The customer confirms in WeChat: DOING / USER_CONFIRM, and its notification."""
        order = self.service_orders[out_order_no]
        order.state, order.state_description = "DOING", "USER_CONFIRM"
        return self.payscore_notification("PAYSCORE.USER_CONFIRM", order.as_json(), **overrides)

    def collect(self, out_order_no: str, **overrides) -> tuple[dict, bytes]:
        """WeChat Pay takes the completed order's total from the customer: DONE / USER_PAID."""
        order = self.service_orders[out_order_no]
        assert order.state == "DOING" and order.state_description == "MCH_COMPLETE" and order.total_amount
        order.state = "DONE"
        order.collection = {
            "state": "USER_PAID",
            "total_amount": order.total_amount,
            "paying_amount": 0,
            "paid_amount": order.total_amount,
            "details": [
                {
                    "seq": 1,
                    "amount": order.total_amount,
                    "paid_type": "NEWTON",
                    "paid_time": "20261208101010",
                    "transaction_id": "4200" + secrets.token_hex(12),
                }
            ],
        }
        return self.payscore_notification("PAYSCORE.USER_PAID", order.as_json(), **overrides)

    def payscore_notification(self, event_type: str, resource: dict, **overrides) -> tuple[dict, bytes]:
        # 确认订单回调通知 / 支付成功回调: resource.original_type "payscore".
        return self.notification(event_type, resource, associated_data="payscore", **overrides)

    # -- the HTTP side -------------------------------------------------------------------

    def _route(self, method: str, target: str, raw: bytes, headers=None):
        path = urlsplit(target).path
        if not path.startswith("/v3/payscore/serviceorder"):
            return super()._route(method, target, raw, headers)
        import json

        if method == "GET" and path == "/v3/payscore/serviceorder":
            query = {name: values[0] for name, values in parse_qs(urlsplit(target).query).items()}
            self.payscore_requests.append(("query", query))
            if query.get("service_id") != SERVICE_ID or query.get("appid") != APPID:
                return 400, {"code": "PARAM_ERROR", "message": "service_id / appid"}
            order = self.service_orders.get(query.get("out_order_no", ""))
            if order is None:
                return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
            return 200, order.as_json()
        data = json.loads(raw) if raw else {}
        if method == "POST" and path == "/v3/payscore/serviceorder":
            self.payscore_requests.append(("create", data))
            return self._create(data)
        parts = path.split("/")
        if method == "POST" and len(parts) == 6 and parts[5] in ("cancel", "complete"):
            self.payscore_requests.append((parts[5], {"out_order_no": parts[4], **data}))
            if data.get("service_id") != SERVICE_ID or data.get("appid") != APPID:
                return 400, {"code": "PARAM_ERROR", "message": "service_id / appid"}
            order = self.service_orders.get(parts[4])
            if order is None:
                return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
            return self._cancel(order, data) if parts[5] == "cancel" else self._complete(order, data)
        return 404, {"code": "NOT_FOUND", "message": path}

    def _create(self, data: dict):
        if self.mode == "refuse":
            status, code, message = self.create_refusal
            return status, {"code": code, "message": message}
        problem = _create_problem(data)
        if problem:
            return 400, {"code": "PARAM_ERROR", "message": problem}
        order = self.service_orders.get(data["out_order_no"])
        if order is not None and order.request != data:
            return 400, {"code": "INVALID_REQUEST", "message": "订单号已存在，参数不一致"}
        order = self.service_orders.setdefault(data["out_order_no"], ServiceOrder(data["out_order_no"], data))
        self.notify_urls[order.out_order_no] = data["notify_url"]
        return 200, {**order.as_json(), "package": "DJIOSQPYWDxsa89q" + secrets.token_hex(12)}

    @staticmethod
    def _cancel(order: ServiceOrder, data: dict):
        reason = data.get("reason")
        if not isinstance(reason, str) or not 0 < len(reason) <= 30:
            return 400, {"code": "PARAM_ERROR", "message": "reason"}
        if order.state not in ("CREATED", "DOING") or order.state_description == "MCH_COMPLETE":
            return 400, {"code": "INVALID_REQUEST", "message": "订单状态不允许取消"}
        order.state, order.state_description = "REVOKED", ""
        return 200, {"appid": APPID, "mchid": MCHID, "out_order_no": order.out_order_no, "service_id": SERVICE_ID,
                     "order_id": order.order_id}  # fmt: skip

    @staticmethod
    def _complete(order: ServiceOrder, data: dict):
        if order.state != "DOING" or order.state_description != "USER_CONFIRM":
            return 400, {"code": "INVALID_REQUEST", "message": "订单状态不是用户已确认"}
        items, total = data.get("post_payments"), data.get("total_amount")
        if not isinstance(items, list) or not items or not isinstance(total, int) or total < 0:
            return 400, {"code": "PARAM_ERROR", "message": "post_payments / total_amount"}
        names = [item.get("name") for item in items]
        amounts = [item.get("amount", 0) for item in items]
        if any(name not in PAYSCORE_RENTAL_ITEMS for name in names) or len(set(names)) != len(names):
            return 400, {"code": "PARAM_ERROR", "message": "汽车租赁行业后付费项目名称不合规"}
        if any(not isinstance(a, int) or a < 0 for a in amounts) or sum(amounts) != total:
            return 400, {"code": "PARAM_ERROR", "message": "total_amount 与后付费项目金额之和不符"}
        if total == 0 and names != ["租车相关费用"]:
            return 400, {"code": "PARAM_ERROR", "message": "0元完结只能传租车相关费用"}
        end_time = str((data.get("time_range") or {}).get("end_time", ""))
        now = datetime.now(BEIJING).strftime("%Y%m%d%H%M%S")
        if not re.fullmatch(r"[0-9]{14}", end_time) or end_time > now:
            return 400, {"code": "PARAM_ERROR", "message": "实际结束时间不能晚于使用完结接口的时间"}
        if total > order.request["risk_fund"]["amount"]:
            return 400, {"code": "PARAM_ERROR", "message": "完结金额超过风险金额"}
        order.post_payments, order.total_amount = items, total
        if total == 0:
            order.state, order.state_description = "DONE", ""
        else:
            order.state_description = "MCH_COMPLETE"
            order.collection = {"state": "USER_PAYING", "total_amount": total, "paying_amount": total,
                                "paid_amount": 0}  # fmt: skip
        return 200, order.as_json()


def _create_problem(data: dict) -> str:
    """What WeChat Pay would refuse in a create request ('' when nothing)."""
    if data.get("appid") != APPID or data.get("service_id") != SERVICE_ID:
        return "appid / service_id"
    if not _OUT_ORDER_NO.fullmatch(str(data.get("out_order_no", ""))):
        return "out_order_no"
    if not 0 < len(str(data.get("service_introduction", ""))) <= 20:
        return "service_introduction 长度不能超过20"
    risk_fund = data.get("risk_fund") or {}
    amount = risk_fund.get("amount")
    if risk_fund.get("name") != "DEPOSIT" or not isinstance(amount, int) or amount <= 0:
        return "risk_fund"
    time_range = data.get("time_range") or {}
    start, end = str(time_range.get("start_time", "")), str(time_range.get("end_time", ""))
    if not (start == "OnAccept" or re.fullmatch(r"[0-9]{14}", start)) or not re.fullmatch(r"[0-9]{14}", end):
        return "time_range"
    if start != "OnAccept" and end <= start:
        return "time_range.end_time 须晚于 start_time"
    items = data.get("post_payments") or []
    if len(items) != 1 or items[0].get("name") != "免押租车规则" or set(items[0]) != {"name", "description"}:
        return "汽车租赁创单须只传免押租车规则"
    if not 0 < len(items[0]["description"]) <= 30:
        return "post_payments.description"
    if data.get("need_user_confirm") is not True or not data.get("notify_url"):
        return "need_user_confirm / notify_url"
    return ""


@pytest.fixture
def payscore_gateway(settings):
    """A running fake WeChat Pay with Pay Score, the site's WECHATPAY_* settings pointing at it."""
    gateway = FakeWechatPayScore().start()
    for name, value in gateway.settings().items():
        setattr(settings, name, value)
    yield gateway
    gateway.stop()
