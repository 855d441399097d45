"""WeChat Pay's abnormal-refund API (SPEC §17): resolving a refund WeChat Pay
reports ABNORMAL.

An ABNORMAL refund has left our account: the customer's card refused it and
the money waits in WeChat Pay's refund transit account. Staff resolve it with
``POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund``
(WeChat Pay merchant documentation, 发起异常退款 "create abnormal refund",
https://pay.weixin.qq.com/docs/merchant/apis/refund/refunds/create-abnormal-refund.html):

- ``USER_BANK_CARD``: to the customer's debit card, with ``bank_type``,
  ``bank_account`` (card number) and ``real_name`` (the card holder), the last
  two encrypted with WeChat Pay's platform public key (RSA-OAEP, the SDK's
  ``rsa_encrypt``); the request names that key in ``Wechatpay-Serial``;
- ``MERCHANT_BANK_CARD``: back to our own bank account.

The answer is the refund, as a refund query answers it. Pure protocol code:
the card number and name reach this module encrypted already
(:func:`encrypt_field`), so they never travel or rest in clear beyond the
staff form that took them.
"""

import re
from typing import Any
from urllib.parse import quote

from wechatpayv3.type import RequestType
from wechatpayv3.utils import rsa_encrypt

from accounts.providers.interface import AbnormalAnswer, ProviderError
from accounts.providers.wechatpay_keys import _setting, load_public_key

USER_BANK_CARD = "USER_BANK_CARD"
MERCHANT_BANK_CARD = "MERCHANT_BANK_CARD"
RESOLUTIONS = (USER_BANK_CARD, MERCHANT_BANK_CARD)

# The debit cards the API pays to (its bank_type values).
BANK_TYPES = {
    "CMB_DEBIT": "招商银行",
    "COMM_DEBIT": "交通银行",
    "ABC_DEBIT": "农业银行",
    "CCB_DEBIT": "建设银行",
    "ICBC_DEBIT": "工商银行",
    "BOC_DEBIT": "中国银行",
    "PAB_DEBIT": "平安银行",
    "SPDB_DEBIT": "浦发银行",
    "CITIC_DEBIT": "中信银行",
    "CEB_DEBIT": "光大银行",
    "CMBC_DEBIT": "民生银行",
    "CIB_DEBIT": "兴业银行",
    "GDB_DEBIT": "广发银行",
    "PSBC_DEBIT": "邮储银行",
    "NBCB_DEBIT": "宁波银行",
}

_REFUND_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def encrypt_field(text: str) -> str:
    """A sensitive field of a request, encrypted with the platform public key
    (RSA-OAEP with SHA-1, base64), as WeChat Pay asks."""
    return rsa_encrypt(text=text, public_key=load_public_key(_setting("WECHATPAY_PUBLIC_KEY")))


def apply_abnormal_refund(
    adapter: Any,
    *,
    refund_id: str,
    out_refund_no: str,
    resolution: str,
    bank_type: str = "",
    bank_account: str = "",
    real_name: str = "",
) -> AbnormalAnswer:
    """Ask WeChat Pay to pay an ABNORMAL refund out by ``resolution``.
    ``bank_account`` and ``real_name`` are ciphertexts of :func:`encrypt_field`.
    Raises :class:`ProviderUnavailable` when there is no usable answer."""
    if resolution not in RESOLUTIONS:
        raise ProviderError("bad_request", "unknown abnormal-refund resolution")
    if not _REFUND_ID.fullmatch(refund_id or ""):
        raise ProviderError("bad_request", "the refund has no WeChat Pay refund_id")
    params = {"out_refund_no": out_refund_no, "type": resolution}
    if resolution == USER_BANK_CARD:
        if bank_type not in BANK_TYPES or not bank_account or not real_name:
            raise ProviderError("bad_request", "USER_BANK_CARD needs bank_type, bank_account and real_name")
        params.update({"bank_type": bank_type, "bank_account": bank_account, "real_name": real_name})
    client = adapter._sdk()
    path = f"/v3/refund/domestic/refunds/{quote(refund_id)}/apply-abnormal-refund"
    # cipher_data: the SDK names the platform public key id in Wechatpay-Serial.
    code, data = adapter._call(
        "abnormal refund", client._core.request, path, method=RequestType.POST, data=params, cipher_data=True
    )
    if code >= 300:
        return AbnormalAnswer(accepted=False, reason=f"{data.get('code', code)}: {str(data.get('message', ''))[:200]}")
    status, _amount, reason = adapter._refund_answer(data)
    return AbnormalAnswer(
        accepted=True, status=status, reason=reason, provider_reference=str(data.get("refund_id", ""))[:64]
    )
