"""Signed payment notifications of the three providers, for the benchmarks.

The keys are generated when a benchmark runs and live in its process only:
``configure()`` points the site's Alipay and WeChat Pay settings at them, and
``notice()`` signs one notification as the provider would post it
(``(path, content type, headers, body)``). The signing code is the tests'
(accounts/tests/fake_alipay.py, fake_wechatpay.py).
"""

import secrets
import time
from decimal import Decimal
from urllib.parse import urlencode

PROVIDERS = ("sandbox", "alipay", "wechatpay")
SITE_URL = "https://rent.example.com"


class Keys:
    """The application and platform keys of Alipay, WeChat Pay's merchant and platform keys."""

    def __init__(self) -> None:
        from Cryptodome.PublicKey import RSA

        from accounts.tests import fake_wechatpay

        self.alipay_app = RSA.generate(2048)
        self.alipay_platform = RSA.generate(2048)
        self.wechat_merchant = fake_wechatpay.rsa_key("merchant")
        self.wechat_platform = fake_wechatpay.rsa_key("platform")


def configure(settings, keys: Keys) -> None:
    """The site's settings for Alipay and WeChat Pay, on these keys (no gateway is called)."""
    from accounts.tests import fake_alipay
    from accounts.tests import fake_wechatpay as fw

    settings.SITE_URL = SITE_URL
    settings.ALIPAY_APP_ID = fake_alipay.APP_ID
    settings.ALIPAY_APP_PRIVATE_KEY = keys.alipay_app.export_key().decode()
    settings.ALIPAY_PUBLIC_KEY = keys.alipay_platform.public_key().export_key().decode()
    settings.ALIPAY_GATEWAY = "http://127.0.0.1:9/gateway.do"  # never reached by a notification
    settings.WECHATPAY_MCHID = fw.MCHID
    settings.WECHATPAY_APPID = fw.APPID
    settings.WECHATPAY_PRIVATE_KEY = fw.private_pem(keys.wechat_merchant)
    settings.WECHATPAY_CERT_SERIAL_NO = fw.CERT_SERIAL_NO
    settings.WECHATPAY_APIV3_KEY = fw.APIV3_KEY
    settings.WECHATPAY_PUBLIC_KEY = fw.public_pem(keys.wechat_platform)
    settings.WECHATPAY_PUBLIC_KEY_ID = fw.PUBLIC_KEY_ID
    settings.WECHATPAY_GATEWAY = "http://127.0.0.1:9"
    settings.WECHATPAY_NOTIFY_URL = SITE_URL + fw.CALLBACK_PATH


def notice(provider: str, keys: Keys, transaction_id: str, amount: Decimal) -> tuple[str, str, dict, bytes]:
    """A signed success notification for a charge: (path, content type, headers, body)."""
    path = f"/api/payments/callback/{provider}/"
    if provider == "sandbox":
        from accounts.providers import sandbox

        headers, body = sandbox.build_callback(transaction_id=transaction_id, status="succeeded", amount=amount)
        return path, "application/json", headers, body
    if provider == "alipay":
        from accounts.tests import fake_alipay

        fake = fake_alipay.FakeAlipay.__new__(fake_alipay.FakeAlipay)  # its notification builder only, no server
        fake.trades, fake.app_id, fake.platform_key = {}, fake_alipay.APP_ID, keys.alipay_platform
        body = urlencode(fake.sign_params(fake.notify_params(transaction_id, str(amount)))).encode("ascii")
        return path, "application/x-www-form-urlencoded", {}, body
    from accounts.tests import fake_wechatpay as fw

    fake = fw.FakeWechatPay.__new__(fw.FakeWechatPay)
    fake.platform_key = keys.wechat_platform
    headers, body = fake.transaction_notification(transaction_id, int(amount * 100), timestamp=int(time.time()))
    return path, "application/json", headers, body


def charge_id() -> str:
    return f"PAYBENCH{secrets.token_hex(8).upper()}"
