"""WeChat Pay Score 免押租车 in the adapter (SPEC §18, CREDIT): each call as the
fake gateway received it through the SDK's own Pay Score calls, its signed
answer mapped, and the PAYSCORE.USER_CONFIRM / USER_PAID notifications
verified and decrypted like every WeChat Pay notification (SPEC §13)."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.providers import get_provider, hold_provider_for_method, provider_for_method
from accounts.providers.interface import (
    CallbackStatus,
    HoldStatus,
    InvalidSignature,
    MalformedCallback,
    ProviderError,
    ProviderUnavailable,
    TakeItem,
)
from accounts.providers.wechatpay import WechatPayProvider
from accounts.providers.wechatpay_score import BadTakeItems, HoldRefused, completion_items, time_range
from accounts.tests.fake_wechatpay import APPID, CALLBACK_PATH, MCHID, rsa_key
from accounts.tests.fake_wechatpay_score import BEIJING, SERVICE_ID, payscore_gateway  # noqa: F401

HLD = "HLD20261207ABCDEF"
RULE = "还车后30天内按费用标准核查车损、违章等费用，按实际费用扣费"


@pytest.fixture
def score(payscore_gateway):  # noqa: F811
    return WechatPayProvider()


def _create(score, amount="5000.00", hld=HLD, **kwargs):
    return score.start_hold(
        transaction_id=hld, amount=Decimal(amount), description="免押租车 订单 #7", return_url="/", **kwargs
    )


def _confirmed(score, gateway, hld=HLD, amount="5000.00"):
    _create(score, amount=amount, hld=hld)
    headers, body = gateway.confirm(hld)
    return score.parse_callback(headers=headers, body=body)


# --- create ------------------------------------------------------------------------


def test_create_sends_a_deposit_risk_fund_in_fen_and_the_one_rental_rule_item(score, payscore_gateway):  # noqa: F811
    start = _create(score, amount="5000.01")

    [sent] = payscore_gateway.received("create")
    assert sent["out_order_no"] == HLD and sent["service_id"] == SERVICE_ID and sent["appid"] == APPID
    assert sent["risk_fund"] == {"name": "DEPOSIT", "amount": 500001}
    assert sent["post_payments"] == [{"name": "免押租车规则", "description": RULE}]
    assert sent["need_user_confirm"] is True
    assert sent["notify_url"] == "http://testserver" + CALLBACK_PATH
    assert sent["service_introduction"] == "免押租车 订单 #7"
    assert sent["time_range"]["start_time"] == "OnAccept"
    order = payscore_gateway.service_orders[HLD]
    assert start.package.startswith("DJIOSQPYWDxsa89q") and start.provider_reference == order.order_id
    assert start.redirect_url == "" and start.code_url == ""
    assert order.state == "CREATED"


def test_the_rule_names_the_release_days_and_the_time_range_spans_the_rental_and_them(score, payscore_gateway):  # noqa: F811
    pick_up = datetime(2030, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    _create(score, release_days=15, service_start=pick_up, service_end=pick_up + timedelta(days=3))

    [sent] = payscore_gateway.received("create")
    assert sent["post_payments"][0]["description"] == "还车后15天内按费用标准核查车损、违章等费用，按实际费用扣费"
    assert sent["time_range"] == {"start_time": "20300501100000", "end_time": "20300519100000"}


def test_time_range_never_starts_in_the_past():
    now = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    assert time_range(now - timedelta(hours=1), None, 30, now=now) == {
        "start_time": "OnAccept",
        "end_time": "20270107080000",
    }


def test_a_create_repeated_answers_the_same_order(score, payscore_gateway):  # noqa: F811
    first = _create(score)
    again = _create(score)
    assert again.provider_reference == first.provider_reference
    assert len(payscore_gateway.service_orders) == 1


def test_a_fraction_of_a_fen_or_a_rule_too_long_is_refused_before_any_call(score, payscore_gateway):  # noqa: F811
    with pytest.raises(ProviderError, match="bad_amount"):
        _create(score, amount="10.001")
    with pytest.raises(ProviderError, match="bad_request"):
        _create(score, release_days=100)
    assert payscore_gateway.received("create") == []


def test_a_refused_create_is_hold_refused_and_without_a_service_id_nothing_is_sent(score, payscore_gateway, settings):  # noqa: F811
    payscore_gateway.mode = "refuse"
    with pytest.raises(HoldRefused, match="NO_AUTH"):
        _create(score)
    payscore_gateway.mode = "ok"
    settings.WECHATPAY_PAYSCORE_SERVICE_ID = ""
    with pytest.raises(ProviderError, match="not_configured"):
        _create(score, hld="HLD2")
    assert len(payscore_gateway.received("create")) == 1


@pytest.mark.parametrize("mode", ["error", "timeout", "garbage", "bad_signature"])
def test_gateway_down_or_unverifiable_is_provider_unavailable(score, payscore_gateway, mode):  # noqa: F811
    payscore_gateway.mode = mode
    with pytest.raises(ProviderUnavailable):
        _create(score)
    with pytest.raises(ProviderUnavailable):
        score.query_hold(transaction_id=HLD)
    with pytest.raises(ProviderUnavailable):
        score.cancel_hold(transaction_id=HLD)
    with pytest.raises(ProviderUnavailable):
        score.complete_hold(transaction_id=HLD, items=[], total=Decimal("0"))


# --- query -------------------------------------------------------------------------


def test_query_maps_each_state(score, payscore_gateway):  # noqa: F811
    assert score.query_hold(transaction_id=HLD).status == HoldStatus.NOT_FOUND
    _create(score)
    created = score.query_hold(transaction_id=HLD)
    assert created.status == HoldStatus.PENDING and created.amount == Decimal("5000.00")
    payscore_gateway.confirm(HLD)
    held = score.query_hold(transaction_id=HLD)
    assert held.status == HoldStatus.HELD and held.provider_reference == payscore_gateway.service_orders[HLD].order_id
    score.complete_hold(transaction_id=HLD, items=[TakeItem("车损费用", Decimal("300.00"))], total=Decimal("300.00"))
    completing = score.query_hold(transaction_id=HLD)
    assert completing.status == HoldStatus.HELD and completing.captured == Decimal("0.00")
    payscore_gateway.collect(HLD)
    paid = score.query_hold(transaction_id=HLD)
    assert paid.status == HoldStatus.PAID and paid.captured == Decimal("300.00")
    [sent] = payscore_gateway.received("query")[-1:]
    assert sent == {"service_id": SERVICE_ID, "appid": APPID, "out_order_no": HLD}


def test_query_of_an_expired_revoked_or_free_order(score, payscore_gateway):  # noqa: F811
    _create(score)
    payscore_gateway.service_orders[HLD].state = "EXPIRED"
    assert score.query_hold(transaction_id=HLD).status == HoldStatus.FAILED
    payscore_gateway.service_orders[HLD].state = "REVOKED"
    assert score.query_hold(transaction_id=HLD).status == HoldStatus.CLOSED
    _confirmed(score, payscore_gateway, hld="HLD2")
    score.complete_hold(transaction_id="HLD2", items=[], total=Decimal("0"))
    assert score.query_hold(transaction_id="HLD2").status == HoldStatus.CLOSED


def test_an_answer_about_another_order_is_no_answer(score, payscore_gateway):  # noqa: F811
    _create(score)
    payscore_gateway.service_orders["HLD2"] = payscore_gateway.service_orders[HLD]
    with pytest.raises(ProviderUnavailable, match="another out_order_no"):
        score.query_hold(transaction_id="HLD2")
    payscore_gateway.service_orders[HLD].state = "SOMETHING"
    with pytest.raises(ProviderUnavailable, match="unknown state"):
        score.query_hold(transaction_id=HLD)


# --- notifications -----------------------------------------------------------------


def test_user_confirm_parses_to_held_with_the_risk_fund(score, payscore_gateway):  # noqa: F811
    event = _confirmed(score, payscore_gateway, amount="3500.50")
    assert event.provider == "wechatpay" and event.transaction_id == HLD
    assert event.status == CallbackStatus.HELD and event.amount == Decimal("3500.50")
    assert event.provider_reference == payscore_gateway.service_orders[HLD].order_id
    assert event.raw == {"id": event.event_id, "event_type": "PAYSCORE.USER_CONFIRM"}


def test_user_paid_parses_to_hold_paid_with_what_was_paid(score, payscore_gateway):  # noqa: F811
    _confirmed(score, payscore_gateway)
    score.complete_hold(
        transaction_id=HLD,
        items=[TakeItem("延迟还车费用", Decimal("120.00"), "延迟还车2小时"), TakeItem("车损费用", Decimal("80.50"))],
        total=Decimal("200.50"),
    )
    headers, body = payscore_gateway.collect(HLD)
    event = score.parse_callback(headers=headers, body=body)
    assert event.status == CallbackStatus.HOLD_PAID and event.amount == Decimal("200.50")
    assert event.transaction_id == HLD


def test_the_same_notification_twice_is_the_same_event(score, payscore_gateway):  # noqa: F811
    _create(score)
    headers, body = payscore_gateway.confirm(HLD)
    assert score.parse_callback(headers=headers, body=body) == score.parse_callback(headers=headers, body=body)


def test_a_replay_after_the_tolerance_is_refused(score, payscore_gateway):  # noqa: F811
    _create(score)
    headers, body = payscore_gateway.confirm(HLD, timestamp=int(time.time()) - 3600)
    with pytest.raises(InvalidSignature, match="stale_timestamp"):
        score.parse_callback(headers=headers, body=body)


def test_a_notification_signed_with_another_key_is_refused(score, payscore_gateway):  # noqa: F811
    _create(score)
    headers, body = payscore_gateway.confirm(HLD, signing_key=rsa_key("other"))
    with pytest.raises(InvalidSignature):
        score.parse_callback(headers=headers, body=body)
    headers, body = payscore_gateway.confirm(HLD)
    with pytest.raises(InvalidSignature):
        score.parse_callback(headers=headers, body=body.replace(b'"id":"EV-', b'"id":"EX-'))


def _resource(gateway, **changes) -> dict:
    order = gateway.service_orders[HLD]
    order.state, order.state_description = "DOING", "USER_CONFIRM"
    return {**order.as_json(), **changes}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"appid": "wx0000000000000000"}, "wrong_app"),
        ({"mchid": "1900000999"}, "wrong_merchant"),
        ({"service_id": "2002000000000000000000000000000"}, "wrong_service"),
        ({"out_order_no": "PAY20261207ABCDEF"}, "unknown_order"),
        ({"out_order_no": "HLD-../x"}, "unknown_order"),
        ({"state": "CREATED"}, "malformed_body"),
        ({"risk_fund": {"name": "DEPOSIT", "amount": "5000.00"}}, "malformed_body"),
    ],
)
def test_a_notification_not_about_one_of_our_orders_is_refused(score, payscore_gateway, changes, reason):  # noqa: F811
    _create(score)
    headers, body = payscore_gateway.payscore_notification(
        "PAYSCORE.USER_CONFIRM", _resource(payscore_gateway, **changes)
    )
    with pytest.raises(MalformedCallback) as refused:
        score.parse_callback(headers=headers, body=body)
    assert refused.value.reason == reason


def test_user_paid_without_a_paid_collection_is_refused(score, payscore_gateway):  # noqa: F811
    _create(score)
    headers, body = payscore_gateway.payscore_notification("PAYSCORE.USER_PAID", _resource(payscore_gateway))
    with pytest.raises(MalformedCallback, match="USER_PAID"):
        score.parse_callback(headers=headers, body=body)


def test_the_charge_notifications_still_parse(score, payscore_gateway):  # noqa: F811
    headers, body = payscore_gateway.transaction_notification("PAY20261207ABCDEF", 29000)
    event = score.parse_callback(headers=headers, body=body)
    assert event.status == CallbackStatus.SUCCEEDED and event.amount == Decimal("290.00")


# --- complete ----------------------------------------------------------------------


def test_complete_sends_the_items_in_fen_summing_to_the_total(score, payscore_gateway):  # noqa: F811
    _confirmed(score, payscore_gateway)
    answer = score.complete_hold(
        transaction_id=HLD,
        items=[
            TakeItem("延迟还车费用", Decimal("100.00"), "延迟还车1天"),
            TakeItem("车损费用", Decimal("250.25"), "左前门划痕"),
            TakeItem("车损费用", Decimal("49.75"), "后视镜"),
        ],
        total=Decimal("400.00"),
    )

    [sent] = payscore_gateway.received("complete")
    assert sent["post_payments"] == [
        {"name": "延迟还车费用", "amount": 10000, "description": "延迟还车1天"},
        {"name": "车损费用", "amount": 30000, "description": "左前门划痕；后视镜"},
    ]
    assert sent["total_amount"] == 40000 and sent["service_id"] == SERVICE_ID and sent["out_order_no"] == HLD
    assert sent["time_range"]["end_time"] <= datetime.now(BEIJING).strftime("%Y%m%d%H%M%S")
    assert answer.status == HoldStatus.HELD and answer.request_status == "pending"


def test_nothing_taken_sends_exactly_the_one_no_charge_item(score, payscore_gateway):  # noqa: F811
    _confirmed(score, payscore_gateway)
    answer = score.complete_hold(transaction_id=HLD, items=[], total=Decimal("0.00"))

    [sent] = payscore_gateway.received("complete")
    assert sent["post_payments"] == [{"name": "租车相关费用", "amount": 0, "description": "本次无扣款"}]
    assert sent["total_amount"] == 0
    assert answer.status == HoldStatus.CLOSED and answer.request_status == "succeeded"
    assert payscore_gateway.service_orders[HLD].state == "DONE"


@pytest.mark.parametrize(
    ("items", "total"),
    [
        ([TakeItem("违章罚款", Decimal("200.00"))], "200.00"),  # not a car-rental item name
        ([TakeItem("免押租车规则", Decimal("1.00"))], "1.00"),
        ([TakeItem("车损费用", Decimal("100.00"))], "99.99"),  # the items don't sum to the total
        ([TakeItem("车损费用", Decimal("0.00"))], "0.00"),
        ([TakeItem("车损费用", Decimal("0.001"))], "0.001"),
        ([TakeItem("车损费用", Decimal("-5.00"))], "-5.00"),
        ([], "10.00"),
    ],
)
def test_items_weChat_pay_would_refuse_are_refused_before_any_call(score, payscore_gateway, items, total):  # noqa: F811
    _confirmed(score, payscore_gateway)
    calls = len(payscore_gateway.requests)
    with pytest.raises(BadTakeItems) as refused:
        score.complete_hold(transaction_id=HLD, items=items, total=Decimal(total))
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, ProviderError)
    assert len(payscore_gateway.requests) == calls


def test_completion_items_are_exact():
    lines, fen = completion_items(
        [TakeItem("加油费用", Decimal("0.10")), TakeItem("ETC高速费用", Decimal("0.20"))], Decimal("0.30")
    )
    assert fen == 30 and [line["amount"] for line in lines] == [10, 20]
    assert lines[0]["description"] == "加油费用"


def test_a_completion_repeated_is_the_one_done_and_another_is_refused(score, payscore_gateway):  # noqa: F811
    _confirmed(score, payscore_gateway)
    items = [TakeItem("车损费用", Decimal("300.00"))]
    score.complete_hold(transaction_id=HLD, items=items, total=Decimal("300.00"))
    again = score.complete_hold(transaction_id=HLD, items=items, total=Decimal("300.00"))
    assert again.status == HoldStatus.HELD and again.request_status == "pending" and again.failure_reason == ""
    other = score.complete_hold(
        transaction_id=HLD, items=[TakeItem("车损费用", Decimal("10.00"))], total=Decimal("10.00")
    )
    assert other.request_status == "failed" and "INVALID_REQUEST" in other.failure_reason
    payscore_gateway.collect(HLD)
    paid = score.complete_hold(transaction_id=HLD, items=items, total=Decimal("300.00"))
    assert paid.status == HoldStatus.PAID and paid.request_status == "succeeded"


def test_a_completion_beyond_the_risk_fund_is_refused_by_wechat_pay(score, payscore_gateway):  # noqa: F811
    _confirmed(score, payscore_gateway, amount="100.00")
    answer = score.complete_hold(
        transaction_id=HLD, items=[TakeItem("车损费用", Decimal("100.01"))], total=Decimal("100.01")
    )
    assert answer.request_status == "failed" and answer.status == HoldStatus.HELD


def test_completing_an_unknown_order_is_not_found(score, payscore_gateway):  # noqa: F811
    answer = score.complete_hold(transaction_id=HLD, items=[], total=Decimal("0"))
    assert answer.status == HoldStatus.NOT_FOUND and answer.request_status == "failed"


# --- cancel ------------------------------------------------------------------------


def test_cancel_an_unconfirmed_order_and_again(score, payscore_gateway):  # noqa: F811
    _create(score)
    answer = score.cancel_hold(transaction_id=HLD, reason="客户取消订单")
    [sent] = payscore_gateway.received("cancel")
    assert sent == {"out_order_no": HLD, "service_id": SERVICE_ID, "reason": "客户取消订单", "appid": APPID}
    assert answer.status == HoldStatus.CLOSED and answer.request_status == "succeeded"
    assert payscore_gateway.service_orders[HLD].state == "REVOKED"
    again = score.cancel_hold(transaction_id=HLD, reason="客户取消订单")
    assert again.status == HoldStatus.CLOSED and again.request_status == "succeeded"


def test_cancel_a_confirmed_order_and_one_never_created(score, payscore_gateway):  # noqa: F811
    _confirmed(score, payscore_gateway)
    assert score.cancel_hold(transaction_id=HLD).status == HoldStatus.CLOSED
    assert payscore_gateway.received("cancel")[0]["reason"] == "订单取消，押金免押结束"
    assert score.cancel_hold(transaction_id="HLD2").status == HoldStatus.CLOSED


def test_a_completed_order_cannot_be_cancelled(score, payscore_gateway):  # noqa: F811
    _confirmed(score, payscore_gateway)
    score.complete_hold(transaction_id=HLD, items=[TakeItem("车损费用", Decimal("1.00"))], total=Decimal("1.00"))
    answer = score.cancel_hold(transaction_id=HLD)
    assert answer.status == HoldStatus.HELD and answer.request_status == "failed"
    assert "INVALID_REQUEST" in answer.failure_reason


# --- which provider ----------------------------------------------------------------


def test_wechat_holds_go_to_pay_score_and_charges_are_unchanged(payscore_gateway, settings):  # noqa: F811
    holds = hold_provider_for_method("WECHAT")
    assert holds.name == "wechatpay" and holds.takes_holds and holds.takes_at_completion
    charges = provider_for_method("WECHAT")
    assert type(charges) is WechatPayProvider and type(get_provider("wechatpay")) is WechatPayProvider
    assert settings.WECHATPAY_MCHID == MCHID
    settings.ALIPAY_APP_ID = "2021000000000000"
    alipay = hold_provider_for_method("ALIPAY")
    assert alipay.name == "alipay" and alipay.takes_holds and not alipay.takes_at_completion
    # Any other method goes where its charges go, if that provider takes holds at all.
    bank = provider_for_method("BANK")
    if bank.takes_holds:
        assert hold_provider_for_method("BANK").name == bank.name
    else:
        with pytest.raises(ProviderError, match="not_supported"):
            hold_provider_for_method("BANK")


# --- at the callback endpoint ------------------------------------------------------


@pytest.mark.django_db
def test_pay_score_notifications_refused_at_the_callback_are_400_and_change_nothing(
    client,
    score,
    payscore_gateway,  # noqa: F811
):
    from accounts.models import CallbackReceipt, PaymentEvent

    _create(score)
    bad = [
        payscore_gateway.confirm(HLD, signing_key=rsa_key("other")),
        payscore_gateway.confirm(HLD, timestamp=int(time.time()) - 3600),
        payscore_gateway.payscore_notification(
            "PAYSCORE.USER_CONFIRM", _resource(payscore_gateway, appid="wx0000000000000000")
        ),
    ]
    for headers, body in bad:
        response = client.generic("POST", CALLBACK_PATH, data=body, content_type="application/json", headers=headers)
        assert response.status_code == 400 and response.json()["code"] == "FAIL"
    assert not CallbackReceipt.objects.exists()
    assert [e.payload["verdict"] for e in PaymentEvent.objects.all()] == ["rejected"] * 3
