"""A fake Alipay open-platform gateway for the tests (SPEC §13 "Tests stay offline").

An HTTP server on 127.0.0.1 (port 0) that answers the gateway calls the
adapter makes through ``python-alipay-sdk``: ``alipay.trade.query``,
``alipay.trade.refund``, ``alipay.trade.fastpay.refund.query``,
``alipay.trade.close``, ``alipay.data.dataservice.bill.downloadurl.query`` and
the bill download itself, and the freezes of 资金预授权 (``fake_alipay_holds``:
voucher.create, unfreeze, cancel, detail.query, ``alipay.trade.pay`` with
``auth_no``, signed fund-authorisation notifications). It verifies each request's signature with the
application's public key and signs its answers with a generated "Alipay
platform" key the way Alipay does (``{"<method>_response": {...}, "sign":
"…"}``, the signature over the exact text of the inner object), so the SDK's
own request and verification code runs. It also builds signed notifications
(form bodies) for the tests to post.

Keys are generated in the test run, never committed.

``behave(mode, method=None)`` changes how it answers (all methods, or one):
``ok``; ``refuse`` (a signed business error); ``5xx`` (a 502, nothing done);
``timeout`` (does the work, then holds the connection without answering);
``garbage`` (does the work, answers HTML); ``bad_sign`` (does the work,
signs with another key); ``unsigned`` (does the work, no ``sign``).
"""

import base64
import io
import json
import secrets
import threading
import zipfile
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from Cryptodome.Hash import SHA1, SHA256
from Cryptodome.PublicKey import RSA
from Cryptodome.Signature import PKCS1_v1_5

from accounts.tests.fake_alipay_holds import HOLD_METHODS, FakeFreezes

APP_ID = "2021000000000001"
SELLER_ID = "2088000000000001"
SITE_URL = "https://rent.example.com"

REFUSALS = {
    "alipay.trade.refund": ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足"),
    "alipay.trade.query": ("ACQ.INVALID_PARAMETER", "参数无效"),
    "alipay.trade.fastpay.refund.query": ("ACQ.INVALID_PARAMETER", "参数无效"),
    "alipay.trade.close": ("ACQ.INVALID_PARAMETER", "参数无效"),
    "alipay.data.dataservice.bill.downloadurl.query": ("isp.bill_not_exist", "账单不存在"),
    "alipay.trade.pay": ("ACQ.AUTH_NO_ERROR", "预授权号错误或状态不对"),
    "alipay.fund.auth.order.voucher.create": ("ACCESS_FORBIDDEN", "无权限使用该产品"),
    "alipay.fund.auth.order.unfreeze": ("ILLEGAL_ARGUMENT", "参数异常或参数缺失"),
    "alipay.fund.auth.operation.cancel": ("CANCEL_OPERATION_TIME_OUT", "撤销操作超时"),
    "alipay.fund.auth.operation.detail.query": ("ILLEGAL_ARGUMENT", "参数异常或参数缺失"),
}


def rsa_sign(key, text: str, *, sha1: bool = False) -> str:
    digest = (SHA1 if sha1 else SHA256).new(text.encode("utf-8"))
    return base64.b64encode(PKCS1_v1_5.new(key).sign(digest)).decode()


def rsa_verify(public_key, text: str, sign: str) -> bool:
    try:
        return PKCS1_v1_5.new(public_key).verify(SHA256.new(text.encode("utf-8")), base64.b64decode(sign))
    except (ValueError, TypeError):
        return False


def sign_content(params: dict, *, exclude=("sign", "sign_type")) -> str:
    """Alipay's text to sign: parameters sorted by name, ``k=v`` joined with ``&``."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in exclude)


class TradeClosed(Exception):
    """The buyer tried to pay a trade that was closed."""


class FakeAlipay(FakeFreezes):
    def __init__(self, *, app_key, platform_key, app_id: str = APP_ID):
        self.app_public_key = app_key.public_key()
        self.platform_key = platform_key
        self.other_key = None  # for bad_sign, made on first use
        self.app_id = app_id
        self.trades: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.bills: dict[str, bytes] = {}
        self.calls: list[tuple[str, dict]] = []
        self.requests: list[dict] = []  # each call's common parameters (method, notify_url, …)
        self.bad_requests: list[str] = []
        self.modes: dict[str, str] = {}
        self.refusals = dict(REFUSALS)  # (sub_code, sub_msg) per method in ``refuse`` mode
        self._init_freezes(SELLER_ID)
        self._release = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                fake._handle(self)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            # shutdown() waits for the loop's next poll: 0.5 s by default, per test
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
        )

    # --- life cycle

    def start(self) -> "FakeAlipay":
        self.thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/gateway.do"

    # --- what tests tell it

    def behave(self, mode: str, method: str | None = None) -> None:
        self.modes[method or "*"] = mode

    def calls_of(self, method: str) -> list[dict]:
        return [biz for name, biz in self.calls if name == method]

    def open_trade(self, out_trade_no: str, amount) -> dict:
        """The buyer opened the cashier: WAIT_BUYER_PAY."""
        return self._set_trade(out_trade_no, amount, "WAIT_BUYER_PAY")

    def pay(self, out_trade_no: str, amount, status: str = "TRADE_SUCCESS") -> dict:
        """The buyer paid (Alipay's side only; the notification is separate).
        A closed trade can't be paid (:class:`TradeClosed`), as Alipay's cashier refuses it."""
        if self.trades.get(out_trade_no, {}).get("status") == "TRADE_CLOSED":
            raise TradeClosed(out_trade_no)
        return self._set_trade(out_trade_no, amount, status)

    def _set_trade(self, out_trade_no, amount, status) -> dict:
        trade = self.trades.setdefault(
            out_trade_no, {"trade_no": f"2026{secrets.token_hex(6)}", "refunded": Decimal("0.00")}
        )
        trade.update(total_amount=str(Decimal(amount).quantize(Decimal("0.01"))), status=status)
        return trade

    def add_bill(self, day: str, rows: list[list[str]]) -> bytes:
        """A trade bill for ``day`` (YYYY-MM-DD): a zip with a GBK CSV, as Alipay serves it."""
        header = [
            "支付宝交易号",
            "商户订单号",
            "业务类型",
            "商品名称",
            "创建时间",
            "完成时间",
            "订单金额（元）",
            "商家实收（元）",
        ]
        lines = [f"#支付宝业务明细查询\n#账号：[{SELLER_ID}]\n#起始日期：[{day} 00:00:00]"]
        lines += (
            [",".join(header)]
            + [",".join(row) for row in rows]
            + ["#-----------------------------------------业务明细列表结束------------------------------------"]
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr(f"{SELLER_ID}_{day.replace('-', '')}_业务明细.csv", "\n".join(lines).encode("gbk"))
        self.bills[day] = buffer.getvalue()
        return self.bills[day]

    # --- notifications

    def notify_params(
        self, out_trade_no: str, amount, *, trade_status: str = "TRADE_SUCCESS", notify_id: str | None = None, **extra
    ) -> dict:
        trade = self.trades.get(out_trade_no) or {"trade_no": f"2026{secrets.token_hex(6)}"}
        total = str(amount)
        now = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        params = {
            "gmt_create": now,
            "charset": "utf-8",
            "seller_email": "rent@example.com",
            "subject": "订单 #1",
            "buyer_id": "2088102177846880",
            "invoice_amount": total,
            "notify_id": notify_id or f"2026{secrets.token_hex(14)}",
            "fund_bill_list": json.dumps([{"amount": total, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
            "notify_type": "trade_status_sync",
            "trade_status": trade_status,
            "receipt_amount": total,
            "app_id": self.app_id,
            "buyer_pay_amount": total,
            "sign_type": "RSA2",
            "seller_id": SELLER_ID,
            "gmt_payment": now,
            "notify_time": now,
            "version": "1.0",
            "out_trade_no": out_trade_no,
            "total_amount": total,
            "trade_no": trade["trade_no"],
            "auth_app_id": self.app_id,
            "buyer_logon_id": "159****5620",
            "point_amount": "0.00",
        }
        params.update(extra)
        return params

    def sign_params(self, params: dict, *, key=None, sha1: bool = False) -> dict:
        """``params`` with ``sign`` over everything but ``sign`` and ``sign_type``."""
        signed = dict(params)
        signed["sign"] = rsa_sign(key or self.platform_key, sign_content(params), sha1=sha1)
        return signed

    def notify(self, out_trade_no: str, amount, **kwargs) -> bytes:
        """A signed notification, form-encoded as Alipay posts it."""
        return urlencode(self.sign_params(self.notify_params(out_trade_no, amount, **kwargs))).encode("ascii")

    # --- the gateway

    def _handle(self, request) -> None:
        parts = urlsplit(request.path)
        if parts.path.startswith("/bill/"):
            day = parts.path.rsplit("/", 1)[-1].split(".", 1)[0]
            content = self.bills.get(day)
            if content is None:
                return self._send(request, 404, b"not found", "text/plain")
            return self._send(request, 200, content, "application/zip")
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        method = params.get("method", "")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = {}
        with self._lock:
            self.calls.append((method, biz))
            self.requests.append({name: value for name, value in params.items() if name != "biz_content"})
        mode = self.modes.get(method) or self.modes.get("*") or "ok"
        if mode == "5xx":
            return self._send(request, 502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        response_type = method.replace(".", "_") + "_response"
        if (
            params.get("app_id") != self.app_id
            or params.get("sign_type") != "RSA2"
            or not rsa_verify(self.app_public_key, sign_content(params, exclude=("sign",)), params.get("sign", ""))
        ):
            self.bad_requests.append(method)
            answer = {
                "code": "40002",
                "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature",
                "sub_msg": "验签出错",
            }
        elif mode == "refuse":
            sub_code, sub_msg = self.refusals.get(method, ("ACQ.SYSTEM_ERROR", "系统错误"))
            answer = {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}
        else:
            with self._lock:
                answer = self._answer(method, biz)
        if mode == "timeout":
            self._release.wait(timeout=10)
            return
        if mode == "garbage":
            return self._send(request, 200, b"<html>\xb7\xfe\xce\xf1\xc6\xf7\xc3\xa6</html>", "text/html")
        content = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        if mode == "unsigned":
            body = f'{{"{response_type}":{content}}}'
        else:
            key = self.platform_key
            if mode == "bad_sign":
                self.other_key = self.other_key or RSA.generate(2048)
                key = self.other_key
            body = f'{{"{response_type}":{content},"sign":"{rsa_sign(key, content)}"}}'
        self._send(request, 200, body.encode("utf-8"), "application/json;charset=utf-8")

    @staticmethod
    def _send(request, status: int, body: bytes, content_type: str) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            pass

    def _answer(self, method: str, biz: dict) -> dict:
        ok = {"code": "10000", "msg": "Success"}
        not_exist = {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "ACQ.TRADE_NOT_EXIST",
            "sub_msg": "交易不存在",
        }
        if method in HOLD_METHODS:
            return self._hold_answer(method, biz)
        if method == "alipay.trade.pay":
            return self._trade_pay(biz)
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if method == "alipay.trade.query":
            if trade is None:
                return not_exist
            return {
                **ok,
                "trade_no": trade["trade_no"],
                "out_trade_no": biz["out_trade_no"],
                "trade_status": trade["status"],
                "total_amount": trade["total_amount"],
                "buyer_logon_id": "159****5620",
            }
        if method == "alipay.trade.close":
            if trade is None:
                return not_exist
            if trade["status"] != "WAIT_BUYER_PAY":
                return {
                    "code": "40004",
                    "msg": "Business Failed",
                    "sub_code": "ACQ.TRADE_STATUS_ERROR",
                    "sub_msg": "交易状态不合法",
                }
            trade["status"] = "TRADE_CLOSED"
            return {**ok, "trade_no": trade["trade_no"], "out_trade_no": biz["out_trade_no"]}
        if method == "alipay.trade.refund":
            if trade is None or trade["status"] not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return (
                    not_exist
                    if trade is None
                    else {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.TRADE_STATUS_ERROR",
                        "sub_msg": "交易状态不合法",
                    }
                )
            request_no = biz.get("out_request_no") or biz["out_trade_no"]
            amount = Decimal(biz["refund_amount"])
            fund_change = "N"
            if request_no not in self.refunds:
                if trade["refunded"] + amount > Decimal(trade["total_amount"]):
                    return {
                        "code": "40004",
                        "msg": "Business Failed",
                        "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                        "sub_msg": "退款金额超限",
                    }
                trade["refunded"] += amount
                self.refunds[request_no] = {"out_trade_no": biz["out_trade_no"], "amount": str(amount)}
                fund_change = "Y"
            return {
                **ok,
                "trade_no": trade["trade_no"],
                "out_trade_no": biz["out_trade_no"],
                "buyer_logon_id": "159****5620",
                "fund_change": fund_change,
                "refund_fee": str(trade["refunded"]),
            }
        if method == "alipay.trade.fastpay.refund.query":
            refund = self.refunds.get(biz.get("out_request_no", ""))
            if trade is None:
                return not_exist
            if refund is None or refund["out_trade_no"] != biz["out_trade_no"]:
                return {**ok, "out_trade_no": biz["out_trade_no"], "trade_no": trade["trade_no"]}
            return {
                **ok,
                "trade_no": trade["trade_no"],
                "out_trade_no": biz["out_trade_no"],
                "out_request_no": biz["out_request_no"],
                "total_amount": trade["total_amount"],
                "refund_amount": refund["amount"],
                "refund_status": "REFUND_SUCCESS",
            }
        if method == "alipay.data.dataservice.bill.downloadurl.query":
            day = biz.get("bill_date", "")
            if biz.get("bill_type") != "trade" or day not in self.bills:
                return {
                    "code": "40004",
                    "msg": "Business Failed",
                    "sub_code": "isp.bill_not_exist",
                    "sub_msg": "账单不存在",
                }
            return {**ok, "bill_download_url": f"{self.base}/bill/{day}.csv.zip"}
        return {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "isv.invalid-method",
            "sub_msg": "不存在的方法名",
        }


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="session")
def alipay_keys():
    """(application key, Alipay platform key), generated once per test run."""
    return RSA.generate(2048), RSA.generate(2048)


@pytest.fixture
def fake_alipay(alipay_keys, settings):
    """A running fake gateway, with the site configured for Alipay against it
    (keys as PEM text; ``SITE_URL`` set)."""
    app_key, platform_key = alipay_keys
    fake = FakeAlipay(app_key=app_key, platform_key=platform_key).start()
    settings.ALIPAY_APP_ID = APP_ID
    settings.ALIPAY_APP_PRIVATE_KEY = app_key.export_key().decode()
    settings.ALIPAY_PUBLIC_KEY = platform_key.public_key().export_key().decode()
    settings.ALIPAY_GATEWAY = fake.url
    settings.ALIPAY_TIMEOUT_SECONDS = 5
    settings.SITE_URL = SITE_URL
    yield fake
    fake.stop()
