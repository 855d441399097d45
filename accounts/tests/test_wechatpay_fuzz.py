"""Random bodies, headers and encodings against the WeChat Pay notification
endpoint (SPEC §13): never a 500; without a valid signature the ledger stays
exactly as it was, and WeChat Pay is never asked anything."""

import base64
import json
import secrets
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts import services
from accounts.models import Payment
from accounts.tests.fake_wechatpay import PUBLIC_KEY_ID, encrypt_resource, sign
from accounts.tests.payment_support import callback_url, ledger_snapshot
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

NAMES = [
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Signature",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=10,
)
encodings = st.sampled_from(["utf-8", "utf-16", "gb18030", "latin-1", "utf-8-sig"])


def _post(client, body: bytes, headers: dict):
    return client.generic(
        "POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers
    )


@pytest.fixture
def open_charge(customer, vehicle, wechat_gateway):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)
    wechat_gateway.requests.clear()
    return charge


def _resource_like(charge):
    return st.fixed_dictionaries(
        {},
        optional={
            "mchid": st.one_of(st.just("1900000109"), json_values),
            "out_trade_no": st.one_of(st.just(charge.transaction_id), json_values),
            "out_refund_no": json_values,
            "trade_state": st.one_of(st.sampled_from(["SUCCESS", "NOTPAY", "CLOSED"]), json_values),
            "transaction_id": json_values,
            "amount": st.one_of(
                st.fixed_dictionaries(
                    {}, optional={"total": st.one_of(st.integers(), json_values), "refund": json_values}
                ),
                json_values,
            ),
        },
    )


def _notification_like(charge):
    return st.fixed_dictionaries(
        {},
        optional={
            "id": st.one_of(st.from_regex(r"\AEV-[A-Za-z0-9]{1,20}\Z"), json_values),
            "event_type": st.one_of(
                st.sampled_from(["TRANSACTION.SUCCESS", "REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"]),
                json_values,
            ),
            "resource_type": st.one_of(st.just("encrypt-resource"), json_values),
            "resource": st.one_of(_resource_like(charge).map(encrypt_resource), json_values),
        },
    )


def _bodies(charge):
    return st.one_of(
        st.binary(max_size=500),
        st.tuples(st.text(max_size=200), encodings).map(lambda t: t[0].encode(t[1], "replace")),
        st.tuples(_notification_like(charge), encodings).map(
            lambda t: json.dumps(t[0], ensure_ascii=False).encode(t[1], "replace")
        ),
    )


def _headers():
    now = int(time.time())
    value = st.one_of(
        st.text(max_size=80),
        st.just(PUBLIC_KEY_ID),
        st.just("WECHATPAY2-SHA256-RSA2048"),
        st.integers(now - 400, now + 400).map(str),
        st.binary(min_size=1, max_size=300).map(lambda b: base64.b64encode(b).decode()),
    )
    return st.dictionaries(st.sampled_from(NAMES + ["wechatpay-serial", "Authorization"]), value, max_size=6)


def test_random_notifications_never_change_the_ledger_nor_call_wechat_pay(client, open_charge, wechat_gateway):
    before = ledger_snapshot()

    @settings(max_examples=400)
    @given(body=_bodies(open_charge), headers=_headers())
    def run(body, headers):
        response = _post(client, body, headers)
        assert response.status_code in (400, 404), (response.status_code, response.content[:200])
        assert json.loads(response.content)["code"] == "FAIL"
        assert ledger_snapshot() == before

    run()
    assert wechat_gateway.requests == []
    open_charge.refresh_from_db()
    assert open_charge.status == Payment.Status.PENDING


def test_correctly_signed_random_notifications_never_cause_a_500(client, open_charge, wechat_gateway, assert_ledger):
    """With a good signature the body decides: a 400 for what is not ours to
    act on, 404 for an unknown transaction, 409 for a wrong amount, 204 when accepted."""

    @settings(max_examples=250)
    @given(body=_bodies(open_charge))
    def run(body):
        t = str(int(time.time()))
        nonce = secrets.token_hex(8)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = body.decode("latin-1")  # a signature over other bytes: must still be a 400
        headers = {
            "Wechatpay-Timestamp": t,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": PUBLIC_KEY_ID,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Wechatpay-Signature": sign(wechat_gateway.platform_key, f"{t}\n{nonce}\n{text}\n"),
        }
        response = _post(client, body, headers)
        assert response.status_code in (204, 400, 404, 409), (response.status_code, body[:200])

    run()
    assert wechat_gateway.requests == []
    assert_ledger(open_charge.rental)
