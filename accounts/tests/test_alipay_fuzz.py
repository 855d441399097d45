"""Random bodies, headers and encodings against the Alipay notification
endpoint (SPEC §13): never a 500, always ``success`` or ``failure``, and
without Alipay's signature nothing in the ledger moves."""

import base64
from urllib.parse import quote_plus, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts import services
from accounts.models import Payment, PaymentEvent
from accounts.tests.payment_support import callback_url, ledger_snapshot
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

NAMES = [
    "notify_id",
    "out_trade_no",
    "trade_status",
    "total_amount",
    "app_id",
    "sign",
    "sign_type",
    "trade_no",
    "charset",
    "subject",
    "fund_bill_list",
    "gmt_payment",
    "notify_time",
    "buyer_id",
    "refund_fee",
    "out_biz_no",
]
STATUSES = ["TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED", "WAIT_BUYER_PAY", "trade_success", "", "TRADE_SUCCESS "]
AMOUNTS = ["2900.00", "2900", "2900.001", "0.01", "-2900.00", "2.9e3", "2,900.00", " 2900.00", "２９００", "NaN", ""]
CHARSETS = ["utf-8", "gbk", "GBK", "gb2312", "latin-1", "big5", ""]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=utf-8",
    "application/x-www-form-urlencoded; charset=GBK",
    "application/json",
    "text/plain; charset=latin-1",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "",
]
ENCODINGS = ["utf-8", "gbk", "latin-1", "gb18030", "utf-16"]

texts = st.text(max_size=40)
values = st.one_of(texts, st.sampled_from(STATUSES + AMOUNTS + CHARSETS + ["RSA2", "RSA", "2021000000000001"]))


def _encode(pairs, encoding: str) -> bytes:
    return "&".join(
        f"{quote_plus(k, encoding=encoding, errors='replace')}={quote_plus(v, encoding=encoding, errors='replace')}"
        for k, v in pairs
    ).encode("ascii")


@st.composite
def form_like(draw, transaction_ids):
    names = draw(st.lists(st.one_of(st.sampled_from(NAMES), texts), max_size=14))
    pairs = []
    for name in names:
        if name == "out_trade_no":
            value = draw(st.one_of(st.sampled_from(transaction_ids), texts))
        else:
            value = draw(values)
        pairs.append((name, value))
    return _encode(pairs, draw(st.sampled_from(ENCODINGS[:4])))


raw_bodies = st.one_of(
    st.binary(max_size=600),
    st.tuples(st.text(max_size=200), st.sampled_from(ENCODINGS)).map(lambda t: t[0].encode(t[1], "replace")),
    # raw non-ASCII bytes where percent-encoding belongs: GBK and latin-1 straight in the body
    st.tuples(st.sampled_from(NAMES), st.text(max_size=20), st.sampled_from(["gbk", "latin-1"])).map(
        lambda t: f"{t[0]}={t[1]}&sign=abc".encode(t[2], "replace")
    ),
)


@pytest.fixture
def open_charge(fake_alipay, customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    return services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)


def _post(client, body: bytes, content_type: str, extra_headers: dict):
    return client.generic("POST", callback_url("alipay"), data=body, content_type=content_type, headers=extra_headers)


extra_headers = st.dictionaries(
    st.sampled_from(["User-Agent", "X-Forwarded-For", "Content-Encoding", "Accept-Charset", "X-Sandbox-Signature"]),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    max_size=3,
)


def test_unsigned_random_bodies_never_cause_a_500_nor_change_the_ledger(client, open_charge, assert_ledger):
    before = ledger_snapshot()

    @settings(max_examples=300)
    @given(
        body=st.one_of(raw_bodies, form_like([open_charge.transaction_id])),
        content_type=st.sampled_from(CONTENT_TYPES),
        headers=extra_headers,
    )
    def run(body, content_type, headers):
        response = _post(client, body, content_type, headers)
        assert response.status_code in (400, 404), (response.status_code, body[:200])
        assert response.content == b"failure"
        assert ledger_snapshot() == before

    run()
    open_charge.refresh_from_db()
    assert open_charge.status == Payment.Status.PENDING
    assert_ledger(open_charge.rental)


def test_a_real_success_with_a_forged_signature_never_pays(client, open_charge, fake_alipay, assert_ledger):
    params = fake_alipay.notify_params(open_charge.transaction_id, "2900.00")
    before = ledger_snapshot()

    @settings(max_examples=150)
    @given(
        sign=st.one_of(
            st.text(max_size=400), st.binary(min_size=256, max_size=256).map(lambda b: base64.b64encode(b).decode())
        ),
        sign_type=st.sampled_from(["RSA2", "RSA", "rsa2", "", "RSA2 "]),
    )
    def run(sign, sign_type):
        body = urlencode({**params, "sign": sign, "sign_type": sign_type}).encode()
        response = _post(client, body, CONTENT_TYPES[0], {})
        assert (response.status_code, response.content) == (400, b"failure")
        assert ledger_snapshot() == before

    run()
    open_charge.refresh_from_db()
    assert open_charge.status == Payment.Status.PENDING
    assert_ledger(open_charge.rental)


def test_validly_signed_random_forms_never_cause_a_500(client, open_charge, fake_alipay, assert_ledger):
    """Signed with Alipay's key, the body decides: 200, 400, 404 or 409, never a 500."""

    @settings(max_examples=200)
    @given(
        overrides=st.fixed_dictionaries(
            {},
            optional={
                "out_trade_no": st.one_of(st.just(open_charge.transaction_id), texts),
                "trade_status": st.sampled_from(STATUSES),
                "total_amount": st.sampled_from(AMOUNTS),
                "notify_id": st.one_of(st.text(max_size=120), st.from_regex(r"\A[0-9a-f]{1,40}\Z")),
                "app_id": st.sampled_from(["2021000000000001", "2021000000000002", ""]),
                "subject": st.text(max_size=30),
                "charset": st.sampled_from(["utf-8", "gbk", "UTF-8"]),
            },
        ),
        dropped=st.lists(
            st.sampled_from(["notify_id", "out_trade_no", "trade_status", "total_amount", "app_id"]), max_size=2
        ),
    )
    def run(overrides, dropped):
        params = fake_alipay.notify_params(open_charge.transaction_id, "2900.00")
        params.update(overrides)
        for name in dropped:
            params.pop(name, None)
        encoding = "gb18030" if params.get("charset", "").lower() == "gbk" else "utf-8"
        body = urlencode(fake_alipay.sign_params(params), encoding=encoding).encode("ascii")
        response = _post(client, body, CONTENT_TYPES[0], {})
        assert response.status_code in (200, 400, 404, 409), (response.status_code, params)
        assert response.content == (b"success" if response.status_code == 200 else b"failure")

    run()
    assert_ledger(open_charge.rental)
    verdicts = set(PaymentEvent.objects.filter(event="callback_received").values_list("payload__verdict", flat=True))
    assert verdicts <= {"accepted", "duplicate", "ignored", "rejected", "amount_mismatch", "recorded"}
    assert Payment.objects.filter(status=Payment.Status.PAID).count() <= 1
