"""Alipay 资金预授权 in the adapter (SPEC §18): each call as the fake gateway
received it, its signed answer mapped, repeats idempotent, and the
fund-authorisation notifications verified like trade ones (SPEC §13)."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from Cryptodome.PublicKey import RSA
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.providers.alipay import AlipayProvider
from accounts.providers.alipay_holds import HoldRefused, relative_timeout
from accounts.providers.interface import (
    CallbackEvent,
    CallbackStatus,
    HoldStatus,
    InvalidSignature,
    MalformedCallback,
    ProviderUnavailable,
)
from accounts.tests.fake_alipay import APP_ID, SELLER_ID, SITE_URL
from accounts.tests.fake_alipay_holds import PAYER_ID

HLD = "HLD20261207ABCDEF"
NOTIFY_URL = f"{SITE_URL}/api/payments/callback/alipay/"


@pytest.fixture
def alipay(fake_alipay, settings):
    settings.ALIPAY_PID = SELLER_ID
    return AlipayProvider()


def _freeze(alipay, fake, amount="3500.00", hld=HLD, approve=True):
    start = alipay.start_hold(transaction_id=hld, amount=Decimal(amount), description="押金 订单 #7", return_url="/")
    if approve:
        fake.approve_freeze(hld)
    return start, fake.freeze_of(hld)


def _parse(alipay, body: bytes) -> CallbackEvent:
    return alipay.parse_callback(headers={}, body=body)


# --- freeze ---------------------------------------------------------------------


def test_a_desktop_freeze_asks_voucher_create_for_a_qr_code(alipay, fake_alipay):
    expires_at = timezone.now() + timedelta(minutes=30, seconds=20)

    start = alipay.start_hold(
        transaction_id=HLD, amount=Decimal("3500"), description="押金 订单 #7", return_url="/", expires_at=expires_at
    )

    [biz] = fake_alipay.calls_of("alipay.fund.auth.order.voucher.create")
    assert biz == {
        "out_order_no": HLD,
        "out_request_no": HLD,
        "order_title": "押金 订单 #7",
        "amount": "3500.00",
        "product_code": "PRE_AUTH_ONLINE",
        "payee_user_id": SELLER_ID,
        "pay_timeout": "30m",
    }
    assert fake_alipay.requests[-1]["notify_url"] == NOTIFY_URL
    freeze = fake_alipay.freeze_of(HLD)
    assert start.code_url == freeze["code_value"] and start.redirect_url == ""
    assert freeze["order_status"] == "INIT"


def test_the_counter_gets_a_qr_code_on_a_phone_too(alipay, fake_alipay):
    start = alipay.start_hold(
        transaction_id=HLD, amount=Decimal("100"), description="x", return_url="/", mobile=True, qr_code=True
    )
    assert start.code_url.startswith("https://qr.alipay.com/")
    assert len(fake_alipay.calls_of("alipay.fund.auth.order.voucher.create")) == 1


def test_a_phone_freeze_is_an_app_freeze_order_string_the_alipay_app_opens(alipay, fake_alipay):
    expires_at = timezone.now() + timedelta(hours=2)

    start = alipay.start_hold(
        transaction_id=HLD,
        amount=Decimal("3500.00"),
        description="押金",
        return_url="/",
        mobile=True,
        expires_at=expires_at,
    )

    assert fake_alipay.calls == []  # a client API: nothing sent from the server
    params = dict(parse_qsl(urlsplit(start.redirect_url).query))
    assert params["method"] == "alipay.fund.auth.order.app.freeze" and params["notify_url"] == NOTIFY_URL
    freeze = fake_alipay.submit_app_freeze(start.redirect_url)
    assert freeze["amount"] == Decimal("3500.00") and freeze["timeout"] in ("119m", "120m")
    assert freeze["payee_user_id"] == SELLER_ID and freeze["order_status"] == "INIT"
    tampered = start.redirect_url.replace("3500.00", "1.00")
    with pytest.raises(ValueError):
        fake_alipay.submit_app_freeze(tampered)


def test_relative_timeout_stays_within_alipays_range():
    now = timezone.now()
    assert relative_timeout(now - timedelta(hours=1), now) == "1m"
    assert relative_timeout(now + timedelta(days=40), now) == "21600m"


def test_a_refused_voucher_raises_hold_refused_and_a_bad_signature_is_no_answer(alipay, fake_alipay):
    fake_alipay.behave("refuse", "alipay.fund.auth.order.voucher.create")
    with pytest.raises(HoldRefused, match="无权限使用该产品"):
        _freeze(alipay, fake_alipay, approve=False)
    fake_alipay.behave("bad_sign", "alipay.fund.auth.order.voucher.create")
    with pytest.raises(ProviderUnavailable):
        _freeze(alipay, fake_alipay, approve=False)


# --- notifications --------------------------------------------------------------


def test_an_approved_freeze_is_notified_held_with_its_auth_no(alipay, fake_alipay):
    _start, freeze = _freeze(alipay, fake_alipay)
    [body] = fake_alipay.outbox

    event = _parse(alipay, body)

    assert (event.transaction_id, event.status, event.amount) == (HLD, CallbackStatus.HELD, Decimal("3500.00"))
    assert event.provider_reference == freeze["auth_no"]
    # the same operation notified again (a new notify_id) is the same event
    again = _parse(alipay, fake_alipay.fund_auth_notice(HLD))
    assert again.event_id == event.event_id


def test_a_refused_freeze_is_notified_hold_failed(alipay, fake_alipay):
    _freeze(alipay, fake_alipay, approve=False)
    event = _parse(alipay, fake_alipay.refuse_freeze(HLD))
    assert event.status == CallbackStatus.HOLD_FAILED and event.transaction_id == HLD


def test_an_unfreeze_notice_is_a_release_and_a_takes_trade_notice_names_its_pay_id(alipay, fake_alipay):
    _start, freeze = _freeze(alipay, fake_alipay)
    fake_alipay.lose_notifications()
    alipay.take_from_hold(
        transaction_id="PAY1",
        hold_transaction_id=HLD,
        provider_reference=freeze["auth_no"],
        amount=Decimal("300"),
        reason="超时",
    )
    alipay.release_hold(
        transaction_id=HLD, request_id="RLS1", provider_reference=freeze["auth_no"], amount=Decimal("1200")
    )
    take_notice, release_notice = fake_alipay.outbox

    take = _parse(alipay, take_notice)
    release = _parse(alipay, release_notice)

    assert (take.transaction_id, take.status, take.amount) == ("PAY1", CallbackStatus.SUCCEEDED, Decimal("300.00"))
    assert (release.transaction_id, release.status, release.amount) == (
        HLD,
        CallbackStatus.HOLD_RELEASED,
        Decimal("1200.00"),
    )
    assert release.raw["out_request_no"] == "RLS1" and release.provider_reference == freeze["auth_no"]


def _other_key_notice(fake):
    return fake.fund_auth_notice(HLD, key=RSA.generate(2048))


def _tampered_amount(fake):
    params = fake.sign_params(fake.fund_auth_params(HLD))
    params["amount"] = "35000.00"
    return urlencode(params).encode()


def _added_field(fake):
    params = fake.sign_params(fake.fund_auth_params(HLD))
    params["total_pay_amount"] = "0.01"
    return urlencode(params).encode()


@pytest.mark.parametrize(
    "build",
    [
        _other_key_notice,
        _tampered_amount,
        _added_field,
        lambda fake: fake.fund_auth_notice(HLD, sign_type="RSA"),
    ],
    ids=["another-key", "amount-changed", "field-added", "sign-type-RSA"],
)
def test_a_notice_alipay_did_not_sign_is_refused(alipay, fake_alipay, build):
    _freeze(alipay, fake_alipay)
    with pytest.raises(InvalidSignature):
        _parse(alipay, build(fake_alipay))


@pytest.mark.parametrize(
    "extra",
    [
        {"app_id": "2021999999999999"},
        {"payee_user_id": "2088000000009999"},
        {"amount": "12.345"},
        {"amount": "-1.00"},
        {"amount": "1e3"},
        {"amount": ""},
        {"total_freeze_amount": "NaN"},
        {"rest_amount": "1,000.00"},
        {"status": "INIT"},
        {"status": "PAID"},
        {"operation_type": "UNFREEZE"},
        {"out_order_no": "HLD 1; DROP"},
        {"out_order_no": None},
        {"auth_no": ""},
        {"notify_id": None},
        {"operation_id": None},
        {"notify_type": "fund_auth_whatever"},
    ],
    ids=lambda extra: ",".join(f"{k}={v}" for k, v in extra.items()),
)
def test_a_signed_notice_that_is_not_ours_or_not_well_formed_is_malformed(alipay, fake_alipay, extra):
    _freeze(alipay, fake_alipay)
    with pytest.raises(MalformedCallback):
        _parse(alipay, fake_alipay.fund_auth_notice(HLD, **extra))


def test_a_trade_notice_of_another_seller_is_refused_once_alipay_pid_is_set(alipay, fake_alipay):
    fake_alipay.pay("PAY9", "10.00")
    assert _parse(alipay, fake_alipay.notify("PAY9", "10.00")).status == CallbackStatus.SUCCEEDED
    with pytest.raises(MalformedCallback, match="seller"):
        _parse(alipay, fake_alipay.notify("PAY9", "10.00", seller_id="2088000000009999"))


def test_a_cancel_notice_says_closed_or_unfrozen(alipay, fake_alipay):
    _freeze(alipay, fake_alipay)
    closed = fake_alipay.fund_auth_notice(HLD, notify_type="fund_auth_operation_cancel", action="close")
    unfrozen = fake_alipay.fund_auth_notice(HLD, notify_type="fund_auth_operation_cancel", action="unfreeze")
    assert _parse(alipay, closed).status == CallbackStatus.HOLD_FAILED
    assert _parse(alipay, unfrozen).status == CallbackStatus.HOLD_RELEASED
    with pytest.raises(MalformedCallback):
        _parse(alipay, fake_alipay.fund_auth_notice(HLD, notify_type="fund_auth_operation_cancel", action="burn"))


NAMES = [
    "notify_type",
    "out_order_no",
    "auth_no",
    "operation_id",
    "out_request_no",
    "operation_type",
    "amount",
    "status",
    "payee_user_id",
    "total_freeze_amount",
    "rest_amount",
    "action",
    "notify_id",
    "app_id",
]
VALUES = ["fund_auth_freeze", "fund_auth_unfreeze", "fund_auth_operation_cancel", "FREEZE", "UNFREEZE", "SUCCESS"]
VALUES += ["CLOSED", "INIT", "close", "unfreeze", "3500.00", "0.00", "-1", "1e3", "", " ", HLD, SELLER_ID, APP_ID]


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    changes=st.dictionaries(st.sampled_from(NAMES), st.one_of(st.sampled_from(VALUES), st.text(max_size=20), st.none()))
)
def test_signed_random_fund_auth_notices_parse_or_are_refused_cleanly(alipay, fake_alipay, changes):
    if HLD not in fake_alipay.freezes:
        _freeze(alipay, fake_alipay)
    try:
        body = fake_alipay.fund_auth_notice(HLD, **changes)
    except UnicodeEncodeError:
        return
    try:
        event = _parse(alipay, body)
    except (InvalidSignature, MalformedCallback):
        return
    assert event.status in CallbackStatus.ALL + (CallbackStatus.WAITING,)
    assert event.transaction_id and event.amount >= 0 and len(event.event_id) <= 100


# --- query ----------------------------------------------------------------------


def test_query_maps_the_order_and_its_amounts(alipay, fake_alipay):
    assert alipay.query_hold(transaction_id=HLD).status == HoldStatus.NOT_FOUND
    _freeze(alipay, fake_alipay, approve=False)
    assert alipay.query_hold(transaction_id=HLD).status == HoldStatus.PENDING
    fake_alipay.approve_freeze(HLD)
    auth_no = fake_alipay.freeze_of(HLD)["auth_no"]
    alipay.take_from_hold(
        transaction_id="PAY1",
        hold_transaction_id=HLD,
        provider_reference=auth_no,
        amount=Decimal("780.00"),
        reason="超时",
    )
    alipay.release_hold(transaction_id=HLD, request_id="RLS1", provider_reference=auth_no, amount=Decimal("720.00"))

    answer = alipay.query_hold(transaction_id=HLD, provider_reference=auth_no)

    assert fake_alipay.calls_of("alipay.fund.auth.operation.detail.query")[-1] == {
        "out_order_no": HLD,
        "out_request_no": HLD,
    }
    assert (answer.status, answer.amount, answer.captured, answer.released) == (
        HoldStatus.HELD,
        Decimal("3500.00"),
        Decimal("780.00"),
        Decimal("720.00"),
    )
    assert answer.provider_reference == auth_no


def test_query_of_a_refused_freeze_is_failed_and_of_a_finished_one_closed(alipay, fake_alipay):
    _freeze(alipay, fake_alipay, approve=False)
    fake_alipay.refuse_freeze(HLD)
    assert alipay.query_hold(transaction_id=HLD).status == HoldStatus.FAILED
    _s, freeze = _freeze(alipay, fake_alipay, hld="HLD2")
    alipay.release_hold(
        transaction_id="HLD2", request_id="RLS2", provider_reference=freeze["auth_no"], amount=Decimal("3500")
    )
    finished = alipay.query_hold(transaction_id="HLD2")
    assert (finished.status, finished.released) == (HoldStatus.CLOSED, Decimal("3500.00"))


def test_a_query_answer_with_a_bad_signature_or_amount_is_no_answer(alipay, fake_alipay):
    _freeze(alipay, fake_alipay)
    fake_alipay.behave("bad_sign", "alipay.fund.auth.operation.detail.query")
    with pytest.raises(ProviderUnavailable):
        alipay.query_hold(transaction_id=HLD)
    fake_alipay.behave("ok", "alipay.fund.auth.operation.detail.query")
    fake_alipay.freeze_of(HLD)["frozen"] = Decimal("3500.001")
    with pytest.raises(ProviderUnavailable):
        alipay.query_hold(transaction_id=HLD)


# --- take -----------------------------------------------------------------------


def _take(alipay, auth_no, pay_id="PAY1", amount="300.00", last=False):
    return alipay.take_from_hold(
        transaction_id=pay_id,
        hold_transaction_id=HLD,
        provider_reference=auth_no,
        amount=Decimal(amount),
        reason="超时还车费",
        last=last,
    )


def test_a_take_is_trade_pay_with_the_auth_no_and_the_rest_stays_frozen(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)

    answer = _take(alipay, freeze["auth_no"])

    [biz] = fake_alipay.calls_of("alipay.trade.pay")
    assert biz == {
        "out_trade_no": "PAY1",
        "total_amount": "300.00",
        "subject": "超时还车费",
        "product_code": "PRE_AUTH_ONLINE",
        "auth_no": freeze["auth_no"],
        "auth_confirm_mode": "NOT_COMPLETE",
        "seller_id": SELLER_ID,
        "buyer_id": PAYER_ID,
    }
    assert fake_alipay.requests[-1]["notify_url"] == NOTIFY_URL
    assert answer.succeeded and answer.confirmed
    assert answer.provider_reference == fake_alipay.trades["PAY1"]["trade_no"]
    assert (freeze["paid"], fake_alipay.rest_of(freeze), freeze["order_status"]) == (
        Decimal("300.00"),
        Decimal("3200.00"),
        "AUTHORIZED",
    )
    assert alipay.query_take(transaction_id="PAY1").status == CallbackStatus.SUCCEEDED


def test_the_last_take_completes_the_freeze_and_alipay_unfreezes_the_rest(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)

    answer = _take(alipay, freeze["auth_no"], amount="500.00", last=True)

    assert fake_alipay.calls_of("alipay.trade.pay")[0]["auth_confirm_mode"] == "COMPLETE"
    assert answer.confirmed
    assert (freeze["paid"], freeze["unfrozen"], freeze["order_status"]) == (
        Decimal("500.00"),
        Decimal("3000.00"),
        "FINISH",
    )
    held = alipay.query_hold(transaction_id=HLD)
    assert (held.status, held.captured, held.released) == (HoldStatus.CLOSED, Decimal("500.00"), Decimal("3000.00"))


def test_the_same_take_twice_takes_once(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)
    first = _take(alipay, freeze["auth_no"])

    again = _take(alipay, freeze["auth_no"])

    assert again.succeeded and again.confirmed and again.provider_reference == first.provider_reference
    assert freeze["paid"] == Decimal("300.00") and freeze["takes"] == ["PAY1"]


def test_a_take_above_the_rest_is_refused_and_nothing_is_taken(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)
    _take(alipay, freeze["auth_no"], amount="3000.00")

    answer = _take(alipay, freeze["auth_no"], pay_id="PAY2", amount="500.01")

    assert not answer.succeeded and answer.failure_reason == "授权金额不足"
    assert freeze["paid"] == Decimal("3000.00") and "PAY2" not in fake_alipay.trades


@pytest.mark.parametrize("mode", ["5xx", "timeout", "garbage", "bad_sign", "unsigned"])
def test_a_take_without_a_trustworthy_answer_is_no_answer_and_the_retry_takes_once(alipay, fake_alipay, settings, mode):
    settings.ALIPAY_TIMEOUT_SECONDS = 1
    _s, freeze = _freeze(alipay, fake_alipay)
    fake_alipay.behave(mode, "alipay.trade.pay")
    with pytest.raises(ProviderUnavailable):
        _take(alipay, freeze["auth_no"])
    fake_alipay.behave("ok", "alipay.trade.pay")

    answer = _take(alipay, freeze["auth_no"])

    assert answer.confirmed
    assert freeze["paid"] == Decimal("300.00") and list(fake_alipay.trades) == ["PAY1"]


# --- release and cancel ---------------------------------------------------------


def test_a_release_is_an_unfreeze_with_its_own_request_no_and_twice_releases_once(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)

    answer = alipay.release_hold(
        transaction_id=HLD,
        request_id="RLS1",
        provider_reference=freeze["auth_no"],
        amount=Decimal("1500"),
        reason="还车",
    )
    again = alipay.release_hold(
        transaction_id=HLD,
        request_id="RLS1",
        provider_reference=freeze["auth_no"],
        amount=Decimal("1500"),
        reason="还车",
    )

    first, second = fake_alipay.calls_of("alipay.fund.auth.order.unfreeze")
    assert (
        first
        == second
        == {"auth_no": freeze["auth_no"], "out_request_no": "RLS1", "amount": "1500.00", "remark": "还车"}
    )
    assert freeze["unfrozen"] == Decimal("1500.00")
    for result in (answer, again):
        assert (result.request_status, result.status, result.released) == (
            "succeeded",
            HoldStatus.HELD,
            Decimal("1500.00"),
        )


def test_a_release_above_the_rest_is_refused(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)
    answer = alipay.release_hold(
        transaction_id=HLD, request_id="RLS1", provider_reference=freeze["auth_no"], amount=Decimal("3500.01")
    )
    assert answer.request_status == "failed" and "超过" in answer.failure_reason
    assert freeze["unfrozen"] == Decimal("0.00")


def test_cancel_closes_an_unfinished_freeze_and_asking_again_is_harmless(alipay, fake_alipay):
    _freeze(alipay, fake_alipay, approve=False)

    answer = alipay.cancel_hold(transaction_id=HLD, reason="取消订单")
    again = alipay.cancel_hold(transaction_id=HLD, reason="取消订单")

    assert fake_alipay.calls_of("alipay.fund.auth.operation.cancel")[0] == {
        "out_order_no": HLD,
        "out_request_no": HLD,
        "remark": "取消订单",
    }
    assert answer.status == again.status == HoldStatus.CLOSED
    assert fake_alipay.freeze_of(HLD)["order_status"] == "CLOSED"
    assert alipay.cancel_hold(transaction_id="HLDNEVER").status == HoldStatus.CLOSED  # never created


def test_cancel_past_alipays_24_hours_unfreezes_what_is_left(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)
    fake_alipay.behave("refuse", "alipay.fund.auth.operation.cancel")  # CANCEL_OPERATION_TIME_OUT

    answer = alipay.cancel_hold(transaction_id=HLD, provider_reference=freeze["auth_no"])

    [unfreeze] = fake_alipay.calls_of("alipay.fund.auth.order.unfreeze")
    assert unfreeze["out_request_no"] == f"{HLD}X" and unfreeze["amount"] == "3500.00"
    assert (answer.status, answer.released) == (HoldStatus.CLOSED, Decimal("3500.00"))


def test_a_release_after_the_last_take_is_refused_and_says_the_hold_is_closed(alipay, fake_alipay):
    _s, freeze = _freeze(alipay, fake_alipay)
    _take(alipay, freeze["auth_no"], amount="100.00", last=True)

    answer = alipay.release_hold(
        transaction_id=HLD, request_id="RLS1", provider_reference=freeze["auth_no"], amount=Decimal("100")
    )

    assert (answer.request_status, answer.status) == ("failed", HoldStatus.CLOSED)
    assert "完结" in answer.failure_reason and freeze["unfrozen"] == Decimal("3400.00")


def test_a_rental_life_cycle_at_alipay_adds_up(alipay, fake_alipay):
    """Freeze 3500 (deposit 1500 + violation part 2000) → at return an overdue fee
    of 780 taken and all but the violation part released → a 300 fine taken 10
    days later → the rest released after 30 days: frozen = taken + released."""
    _freeze(alipay, fake_alipay, approve=False)
    assert alipay.query_hold(transaction_id=HLD).status == HoldStatus.PENDING
    held = _parse(alipay, fake_alipay.approve_freeze(HLD))
    auth_no = held.provider_reference

    assert _take(alipay, auth_no, pay_id="PAYLATE", amount="780.00").confirmed
    at_return = alipay.release_hold(
        transaction_id=HLD, request_id="RLSRET", provider_reference=auth_no, amount=Decimal("720")
    )
    assert (at_return.request_status, at_return.status) == ("succeeded", HoldStatus.HELD)
    assert _take(alipay, auth_no, pay_id="PAYFINE", amount="300.00").confirmed
    final = alipay.release_hold(
        transaction_id=HLD, request_id="RLSEND", provider_reference=auth_no, amount=Decimal("1700")
    )

    assert (final.status, final.amount, final.captured, final.released) == (
        HoldStatus.CLOSED,
        Decimal("3500.00"),
        Decimal("1080.00"),
        Decimal("2420.00"),
    )
    modes = [biz["auth_confirm_mode"] for biz in fake_alipay.calls_of("alipay.trade.pay")]
    assert modes == ["NOT_COMPLETE", "NOT_COMPLETE"]
    events = [_parse(alipay, body) for body in fake_alipay.outbox]
    assert [(e.transaction_id, e.status, e.amount) for e in events] == [
        (HLD, CallbackStatus.HELD, Decimal("3500.00")),
        ("PAYLATE", CallbackStatus.SUCCEEDED, Decimal("780.00")),
        (HLD, CallbackStatus.HOLD_RELEASED, Decimal("720.00")),
        ("PAYFINE", CallbackStatus.SUCCEEDED, Decimal("300.00")),
        (HLD, CallbackStatus.HOLD_RELEASED, Decimal("1700.00")),
    ]
    assert len({e.event_id for e in events}) == 5


# --- at the callback endpoint ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "build",
    [
        _other_key_notice,
        _tampered_amount,
        lambda fake: fake.fund_auth_notice(HLD, app_id="2021999999999999"),
        lambda fake: fake.fund_auth_notice(HLD, payee_user_id="2088000000009999"),
        lambda fake: fake.fund_auth_notice(HLD, amount="35000.001"),
        lambda fake: fake.fund_auth_notice(HLD, operation_type="PAY"),
    ],
    ids=["another-key", "amount-changed", "another-app", "another-payee", "bad-amount", "bad-operation"],
)
def test_a_hostile_fund_auth_notice_at_the_endpoint_is_a_400_and_changes_nothing(client, alipay, fake_alipay, build):
    from accounts.tests.payment_support import callback_url, ledger_snapshot

    _freeze(alipay, fake_alipay)
    before = ledger_snapshot()

    response = client.post(
        callback_url("alipay"), data=build(fake_alipay), content_type="application/x-www-form-urlencoded"
    )

    assert (response.status_code, response.content) == (400, b"failure")
    assert ledger_snapshot() == before
