"""A fake WeChat Pay API v3 gateway for the tests: an HTTP server on 127.0.0.1.

It answers the calls the ``wechatpay`` adapter makes (Native and H5 orders,
the order query by ``out_trade_no``, close, refund create and query, the
abnormal-refund resolution, the trade bill and its download), checks each request's merchant
``Authorization`` signature against the merchant's public key, and signs its
answers with a platform key generated in the test run (``Wechatpay-*``
headers, the public key id as serial), so the SDK's own request signing and
answer verification run. ``mode`` tells it to answer normally (``ok``), to
refuse (``refuse``: a signed 4xx business error), to hang past the client's
timeout (``timeout``), to fail (``error``: 500), to answer garbage
(``garbage``: an unsigned non-JSON 200) or to sign with another key
(``bad_signature``). It also writes the encrypted, signed notifications
WeChat Pay would post (:meth:`FakeWechatPay.notification`).

Keys are generated when the tests run and never written to the repository.
"""

import base64
import gzip
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
CERT_SERIAL_NO = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092026112900000000"
APIV3_KEY = "0123456789abcdefghijABCDEFGHIJ01"  # 32 characters
CALLBACK_PATH = "/api/payments/callback/wechatpay/"


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """An RSA key per name, generated once per test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign(key, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def encrypt_resource(plain: dict, *, apiv3_key: str = APIV3_KEY, associated_data: str = "transaction") -> dict:
    nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay's
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), json.dumps(plain, ensure_ascii=False).encode(), associated_data.encode()
    )
    return {
        "original_type": associated_data,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


class OrderClosed(Exception):
    """The payer tried to pay an order that was closed."""


@dataclass
class Order:
    out_trade_no: str
    total: int
    state: str = "NOTPAY"
    transaction_id: str = ""
    time_expire: str = ""


@dataclass
class Refund:
    out_refund_no: str
    out_trade_no: str
    refund: int
    total: int
    status: str
    refund_id: str = field(default_factory=lambda: "5030" + secrets.token_hex(10))


class FakeWechatPay:
    def __init__(self):
        self.merchant_key = rsa_key("merchant")
        self.platform_key = rsa_key("platform")
        self.other_key = rsa_key("other")
        self.orders: dict[str, Order] = {}
        self.refunds: dict[str, Refund] = {}
        self.requests: list[tuple[str, str, dict]] = []
        self.notify_urls: dict[str, str] = {}  # out_trade_no → notify_url of its order
        self.mode = "ok"
        # The signed business error a refund gets in ``refuse`` mode: (HTTP status, code, message).
        self.refund_refusal = (403, "NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
        self.refund_requests: list[str] = []  # out_refund_no of every refund asked, refused or not
        self.refund_status = "SUCCESS"  # what a new refund becomes: SUCCESS | PROCESSING | ABNORMAL | CLOSED
        # apply-abnormal-refund: what the refund becomes, a refusal code to answer
        # instead, and each request as received (sensitive fields decrypted with
        # the platform private key, which only WeChat Pay holds).
        self.abnormal_status = "PROCESSING"
        self.abnormal_refusal = ""
        self.abnormal_requests: list[dict] = []
        self.close_refusal: tuple[int, dict] | None = None  # how the close endpoint refuses, when set
        self.bill_csv = b""
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            # shutdown() waits for the loop's next poll: 0.5 s by default, per test
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.01},
            daemon=True,
        )

    # -- life --------------------------------------------------------------------------

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict:
        return {
            "WECHATPAY_MCHID": MCHID,
            "WECHATPAY_APPID": APPID,
            "WECHATPAY_PRIVATE_KEY": private_pem(self.merchant_key),
            "WECHATPAY_CERT_SERIAL_NO": CERT_SERIAL_NO,
            "WECHATPAY_APIV3_KEY": APIV3_KEY,
            "WECHATPAY_PUBLIC_KEY": public_pem(self.platform_key),
            "WECHATPAY_PUBLIC_KEY_ID": PUBLIC_KEY_ID,
            "WECHATPAY_GATEWAY": self.url,
            "WECHATPAY_NOTIFY_URL": "http://testserver" + CALLBACK_PATH,
            "WECHATPAY_TIMEOUT_SECONDS": 1.0,
        }

    def calls(self, prefix: str = "") -> list[tuple[str, str, dict]]:
        return [call for call in self.requests if call[1].startswith(prefix)]

    # -- what the provider does --------------------------------------------------------

    def pay(self, out_trade_no: str, **overrides) -> tuple[dict, bytes]:
        """The payer pays: the order is SUCCESS and the notification is returned (not sent).
        A closed order can't be paid (:class:`OrderClosed`), as WeChat refuses its QR code."""
        order = self.orders[out_trade_no]
        if order.state == "CLOSED":
            raise OrderClosed(out_trade_no)
        order.state = "SUCCESS"
        order.transaction_id = order.transaction_id or "4200" + secrets.token_hex(12)
        return self.transaction_notification(
            out_trade_no, order.total, transaction_id=order.transaction_id, **overrides
        )

    def transaction_notification(self, out_trade_no: str, total: int, *, transaction_id: str = "", **overrides):
        resource = {
            "mchid": MCHID,
            "appid": APPID,
            "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or "4200" + secrets.token_hex(12),
            "trade_type": "NATIVE",
            "trade_state": "SUCCESS",
            "trade_state_desc": "支付成功",
            "success_time": "2026-11-29T10:00:00+08:00",
            "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
        }
        return self.notification("TRANSACTION.SUCCESS", resource, **overrides)

    def refund_notification(self, out_refund_no: str, event_type: str = "REFUND.SUCCESS", **overrides):
        refund = self.refunds[out_refund_no]
        refund.status = event_type.split(".", 1)[1]
        resource = {
            "mchid": MCHID,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": "4200" + secrets.token_hex(12),
            "out_refund_no": out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": refund.status,
            "amount": {
                "total": refund.total,
                "refund": refund.refund,
                "payer_total": refund.total,
                "payer_refund": refund.refund,
            },
        }
        return self.notification(event_type, resource, associated_data="refund", **overrides)

    def notification(
        self,
        event_type: str,
        resource: dict,
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
        serial: str = PUBLIC_KEY_ID,
        signing_key=None,
        apiv3_key: str = APIV3_KEY,
        associated_data: str = "transaction",
        signature_type: str = "WECHATPAY2-SHA256-RSA2048",
    ) -> tuple[dict, bytes]:
        """A notification as WeChat Pay posts it: ``(headers, raw body)``."""
        body = json.dumps(
            {
                "id": event_id or "EV-" + secrets.token_hex(10),
                "create_time": "2026-11-29T10:00:00+08:00",
                "resource_type": "encrypt-resource",
                "event_type": event_type,
                "summary": "支付成功",
                "resource": encrypt_resource(resource, apiv3_key=apiv3_key, associated_data=associated_data),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        t = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        signature = sign(signing_key or self.platform_key, f"{t}\n{nonce}\n{body.decode()}\n")
        headers = {
            "Wechatpay-Timestamp": t,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial,
            "Wechatpay-Signature-Type": signature_type,
        }
        return headers, body

    # -- the HTTP side -----------------------------------------------------------------

    def _handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep the test output clean
                pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                gateway.requests.append((method, self.path, dict(self.headers)))
                if gateway.mode == "timeout":
                    gateway.release.wait(5)
                    return self._send(504, b"", {})
                if gateway.mode == "error":
                    return self._json(500, {"code": "SYSTEM_ERROR", "message": "系统错误"})
                if gateway.mode == "garbage":
                    return self._send(200, b"<html>\x00not json", {"Content-Type": "application/json"})
                if not gateway._authorized(method, self.path, raw, self.headers.get("Authorization", "")):
                    return self._json(401, {"code": "SIGN_ERROR", "message": "签名错误"})
                with gateway.lock:
                    status, payload = gateway._route(method, self.path, raw, self.headers)
                if isinstance(payload, bytes):
                    return self._send(status, payload, {"Content-Type": "application/octet-stream"})
                return self._json(status, payload)

            def _json(self, status, payload):
                body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
                key = gateway.other_key if gateway.mode == "bad_signature" else gateway.platform_key
                t = str(int(time.time()))
                nonce = secrets.token_hex(16)
                headers = {
                    "Content-Type": "application/json",
                    "Wechatpay-Timestamp": t,
                    "Wechatpay-Nonce": nonce,
                    "Wechatpay-Serial": PUBLIC_KEY_ID,
                    "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                    "Wechatpay-Signature": sign(key, f"{t}\n{nonce}\n{body.decode()}\n"),
                    "Request-ID": secrets.token_hex(8),
                }
                self._send(status, body, headers)

            def _send(self, status, body, headers):
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler

    def _authorized(self, method: str, path: str, raw: bytes, authorization: str) -> bool:
        scheme, _, params = authorization.partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return False
        fields = {}
        for part in params.split(","):
            name, _, value = part.partition("=")
            fields[name.strip()] = value.strip().strip('"')
        if fields.get("mchid") != MCHID or fields.get("serial_no") != CERT_SERIAL_NO:
            return False
        message = f"{method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{raw.decode()}\n"
        try:
            self.merchant_key.public_key().verify(
                base64.b64decode(fields.get("signature", "")), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return False
        return True

    def _route(self, method: str, target: str, raw: bytes, headers=None):
        parts = urlsplit(target)
        path, query = parts.path, parse_qs(parts.query)
        data = json.loads(raw) if raw else {}
        refuse = self.mode == "refuse"
        if method == "POST" and path in ("/v3/pay/transactions/native", "/v3/pay/transactions/h5"):
            if data.get("mchid") != MCHID or data.get("appid") != APPID or not data.get("notify_url"):
                return 400, {"code": "PARAM_ERROR", "message": "参数错误"}
            total = data["amount"]["total"]
            if not isinstance(total, int):
                return 400, {"code": "PARAM_ERROR", "message": "amount.total must be an integer"}
            order = self.orders.setdefault(
                data["out_trade_no"], Order(data["out_trade_no"], total, time_expire=data.get("time_expire", ""))
            )
            self.notify_urls[data["out_trade_no"]] = data["notify_url"]
            prepay = hashlib.sha1(data["out_trade_no"].encode()).hexdigest()[:16]
            if path.endswith("/native"):
                return 200, {"code_url": f"weixin://wxpay/bizpayurl?pr={prepay}"}
            if data.get("scene_info", {}).get("h5_info", {}).get("type") != "Wap":
                return 400, {"code": "PARAM_ERROR", "message": "scene_info.h5_info missing"}
            return 200, {"h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{prepay}"}
        if path.startswith("/v3/pay/transactions/out-trade-no/"):
            rest = path[len("/v3/pay/transactions/out-trade-no/") :]
            if method == "POST" and rest.endswith("/close"):
                order = self.orders.get(rest[: -len("/close")])
                if query.get("mchid") != [MCHID] and data.get("mchid") != MCHID:
                    return 400, {"code": "PARAM_ERROR", "message": "mchid"}
                if self.close_refusal is not None:
                    return self.close_refusal
                if order is None:
                    return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
                if order.state == "SUCCESS":
                    return 400, {"code": "ORDERPAID", "message": "订单已支付"}
                order.state = "CLOSED"
                return 204, None
            if method == "GET":
                if query.get("mchid") != [MCHID]:
                    return 400, {"code": "PARAM_ERROR", "message": "mchid"}
                order = self.orders.get(rest)
                if order is None:
                    return 404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}
                answer = {
                    "appid": APPID,
                    "mchid": MCHID,
                    "out_trade_no": order.out_trade_no,
                    "trade_state": order.state,
                    "trade_state_desc": order.state,
                    "amount": {"total": order.total, "currency": "CNY"},
                }
                if order.transaction_id:
                    answer["transaction_id"] = order.transaction_id
                return 200, answer
        if method == "POST" and path == "/v3/refund/domestic/refunds":
            self.refund_requests.append(data.get("out_refund_no", ""))
            if refuse:
                status, code, message = self.refund_refusal
                return status, {"code": code, "message": message}
            refund = self.refunds.get(data["out_refund_no"])
            if refund is None:
                order = self.orders.get(data.get("out_trade_no"))
                if order is None or order.state not in ("SUCCESS", "REFUND"):
                    return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"}
                amount = data["amount"]
                if amount.get("total") != order.total or amount.get("currency") != "CNY":
                    return 400, {"code": "PARAM_ERROR", "message": "订单金额不符"}
                refund = Refund(
                    data["out_refund_no"], order.out_trade_no, amount["refund"], amount["total"], self.refund_status
                )
                self.refunds[refund.out_refund_no] = refund
            return 200, self._refund_json(refund)
        if (
            method == "POST"
            and path.startswith("/v3/refund/domestic/refunds/")
            and path.endswith("/apply-abnormal-refund")
        ):
            return self._apply_abnormal(path.split("/")[-2], data, headers or {})
        if method == "GET" and path.startswith("/v3/refund/domestic/refunds/"):
            refund = self.refunds.get(path.rsplit("/", 1)[1])
            if refund is None:
                return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}
            return 200, self._refund_json(refund)
        if method == "GET" and path == "/v3/bill/tradebill":
            if query.get("bill_type") != ["ALL"] or not query.get("bill_date"):
                return 400, {"code": "PARAM_ERROR", "message": "bill"}
            return 200, {
                "hash_type": "SHA1",
                "hash_value": hashlib.sha1(self.bill_csv).hexdigest(),
                "download_url": f"{self.url}/v3/billdownload/file?token={secrets.token_hex(8)}",
            }
        if method == "GET" and path == "/v3/billdownload/file":
            return 200, gzip.compress(self.bill_csv)
        return 404, {"code": "NOT_FOUND", "message": path}

    def _apply_abnormal(self, refund_id: str, data: dict, headers) -> tuple[int, dict]:
        """发起异常退款: only for an ABNORMAL refund, named by WeChat Pay's
        refund_id; the card number and name must decrypt with the platform key."""
        refund = next((r for r in self.refunds.values() if r.refund_id == refund_id), None)
        if refund is None:
            return 404, {"code": "RESOURCE_NOT_EXISTS", "message": "退款单不存在"}
        if data.get("out_refund_no") != refund.out_refund_no:
            return 400, {"code": "PARAM_ERROR", "message": "out_refund_no 与退款单不符"}
        if refund.status != "ABNORMAL":
            return 400, {"code": "INVALID_REQUEST", "message": "退款单状态不是退款异常"}
        if self.abnormal_refusal:
            return 400, {"code": self.abnormal_refusal, "message": "异常退款处理失败"}
        request = {"type": data.get("type"), "serial": headers.get("Wechatpay-Serial")}
        if data.get("type") == "USER_BANK_CARD":
            if request["serial"] != PUBLIC_KEY_ID or not data.get("bank_type"):
                return 400, {"code": "PARAM_ERROR", "message": "Wechatpay-Serial / bank_type"}
            try:
                request["bank_account"] = self.decrypt(data["bank_account"])
                request["real_name"] = self.decrypt(data["real_name"])
            except Exception:
                return 400, {"code": "PARAM_ERROR", "message": "敏感字段解密失败"}
            request["bank_type"] = data["bank_type"]
        elif data.get("type") != "MERCHANT_BANK_CARD":
            return 400, {"code": "PARAM_ERROR", "message": "type"}
        self.abnormal_requests.append(request)
        refund.status = self.abnormal_status
        return 200, self._refund_json(refund)

    def decrypt(self, ciphertext: str) -> str:
        """A field encrypted with the platform public key (RSA-OAEP, SHA-1)."""
        oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        return self.platform_key.decrypt(base64.b64decode(ciphertext), oaep).decode()

    @staticmethod
    def _refund_json(refund: Refund) -> dict:
        return {
            "refund_id": refund.refund_id,
            "out_refund_no": refund.out_refund_no,
            "out_trade_no": refund.out_trade_no,
            "channel": "ORIGINAL",
            "status": refund.status,
            "amount": {"total": refund.total, "refund": refund.refund, "currency": "CNY"},
        }


@pytest.fixture
def wechat_gateway(settings):
    """A running fake WeChat Pay, with the site's WECHATPAY_* settings pointing at it."""
    gateway = FakeWechatPay().start()
    for name, value in gateway.settings().items():
        setattr(settings, name, value)
    yield gateway
    gateway.stop()
