"""WeChat Pay notifications (SPEC §13): encrypted, signed posts to
``/api/payments/callback/wechatpay/``; headers checked before anything else,
then the resource decrypted; answered 204 or with a FAIL body."""

import json
import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts import services
from accounts.models import CallbackReceipt, Notification, Payment
from accounts.providers import ProviderError
from accounts.providers.wechatpay import WechatPayProvider, from_fen, to_fen
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.fake_wechatpay import MCHID, PUBLIC_KEY_ID
from accounts.tests.payment_support import callback_events, callback_url, ledger_snapshot
from rentals.services import cancel_rental

pytestmark = pytest.mark.django_db


def _post(client, headers, body):
    return client.generic(
        "POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers
    )


@pytest.fixture
def charge(booked_rental, customer, wechat_gateway):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)
    assert charge.provider == "wechatpay"
    wechat_gateway.requests.clear()
    return charge


def test_fen_conversion_is_exact():
    assert to_fen(Decimal("2900.00")) == 290000
    assert to_fen(Decimal("0.01")) == 1
    assert to_fen("1234567.89") == 123456789
    assert from_fen(290001) == Decimal("2900.01")
    with pytest.raises(ProviderError):
        to_fen(Decimal("0.005"))


def test_a_signed_encrypted_transaction_success_pays_the_order(client, charge, wechat_gateway):
    headers, body = wechat_gateway.pay(charge.transaction_id)

    response = _post(client, headers, body)

    assert response.status_code == 204 and response.content == b""
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert charge.provider_reference == wechat_gateway.orders[charge.transaction_id].transaction_id
    assert assert_ledger_consistent(charge.rental)["paid"] == Decimal("2900.00")
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert wechat_gateway.requests == []  # a notification needs no call to WeChat Pay


def test_the_same_notification_again_is_204_and_changes_nothing(client, charge, wechat_gateway):
    headers, body = wechat_gateway.pay(charge.transaction_id)
    assert _post(client, headers, body).status_code == 204
    before = ledger_snapshot()

    again = _post(client, headers, body)

    assert again.status_code == 204 and again.content == b""
    after = ledger_snapshot()
    # Only the audit row of the duplicate is new.
    assert after["payment_events"] == before["payment_events"] + 1
    assert {**after, "payment_events": 0} == {**before, "payment_events": 0}
    assert callback_events(payload__verdict="duplicate").count() == 1


def _rejected(response, status):
    assert response.status_code == status, response.content
    answer = json.loads(response.content)
    assert answer["code"] == "FAIL" and answer["message"]
    return answer


@pytest.mark.parametrize(
    "case, reason",
    [
        ("wrong_serial", "unknown_serial"),
        ("stale", "stale_timestamp"),
        ("future", "stale_timestamp"),
        ("bad_signature", "bad_signature"),
        ("wrong_apiv3_key", "decryption_failed"),
        ("signature_type", "bad_signature_type"),
    ],
)
def test_a_notification_that_fails_a_check_is_400_and_asks_nobody(client, charge, wechat_gateway, case, reason):
    now = int(time.time())
    overrides = {
        "wrong_serial": {"serial": "PUB_KEY_ID_SOMEONE_ELSE"},
        "stale": {"timestamp": now - 301},
        "future": {"timestamp": now + 301},
        "bad_signature": {"signing_key": wechat_gateway.other_key},
        "wrong_apiv3_key": {"apiv3_key": "X" * 32},
        "signature_type": {"signature_type": "WECHATPAY2-SM2-WITH-SM3"},
    }[case]
    headers, body = wechat_gateway.pay(charge.transaction_id, **overrides)
    before = ledger_snapshot()

    answer = _rejected(_post(client, headers, body), 400)

    assert answer["message"] == reason
    assert ledger_snapshot() == before
    assert wechat_gateway.requests == []  # no certificate download, no query


def test_the_timestamp_tolerance_is_300_seconds_either_way(client, charge, wechat_gateway, time_machine):
    headers, body = wechat_gateway.pay(charge.transaction_id)
    sent = int(headers["Wechatpay-Timestamp"])
    time_machine.move_to(datetime.fromtimestamp(sent + 300, tz=UTC), tick=False)
    assert _post(client, headers, body).status_code == 204


def test_the_timestamp_is_checked_with_the_clock_moved(client, charge, wechat_gateway, time_machine):
    headers, body = wechat_gateway.pay(charge.transaction_id)
    sent = int(headers["Wechatpay-Timestamp"])
    time_machine.move_to(datetime.fromtimestamp(sent - 301, tz=UTC), tick=False)
    assert _rejected(_post(client, headers, body), 400)["message"] == "stale_timestamp"
    time_machine.move_to(datetime.fromtimestamp(sent + 301, tz=UTC), tick=False)
    assert _rejected(_post(client, headers, body), 400)["message"] == "stale_timestamp"
    assert Payment.objects.get(pk=charge.pk).status == Payment.Status.PENDING


def test_a_wrong_amount_is_409_and_does_not_pay(client, charge, wechat_gateway):
    headers, body = wechat_gateway.transaction_notification(charge.transaction_id, 289999)

    _rejected(_post(client, headers, body), 409)

    assert Payment.objects.get(pk=charge.pk).status == Payment.Status.PENDING
    assert callback_events(payload__verdict="amount_mismatch").count() == 1
    assert wechat_gateway.requests == []


@pytest.mark.parametrize("event_type", [[], ["TRANSACTION.SUCCESS"], {"a": 1}, 7, None])
def test_a_signed_notification_whose_event_type_is_not_a_string_is_400(client, charge, wechat_gateway, event_type):
    resource = {
        "mchid": MCHID,
        "out_trade_no": charge.transaction_id,
        "transaction_id": "4200000000000000000001",
        "trade_state": "SUCCESS",
        "amount": {"total": 290000, "payer_total": 290000, "currency": "CNY"},
    }
    headers, body = wechat_gateway.notification(event_type, resource)
    before = ledger_snapshot()

    _rejected(_post(client, headers, body), 400)

    assert ledger_snapshot() == before
    assert Payment.objects.get(pk=charge.pk).status == Payment.Status.PENDING


def test_an_unknown_out_trade_no_is_404(client, charge, wechat_gateway):
    headers, body = wechat_gateway.transaction_notification("PAY-NOT-OURS-1", 290000)
    before = ledger_snapshot()

    _rejected(_post(client, headers, body), 404)

    assert ledger_snapshot() == before


def test_another_merchants_notification_is_400(client, charge, wechat_gateway, monkeypatch):
    headers, body = wechat_gateway.transaction_notification(charge.transaction_id, 290000)
    from django.conf import settings

    settings.WECHATPAY_MCHID = "1900000999"
    assert MCHID != settings.WECHATPAY_MCHID
    _rejected(_post(client, headers, body), 400)
    assert Payment.objects.get(pk=charge.pk).status == Payment.Status.PENDING


def test_a_notification_to_a_site_where_wechat_pay_is_not_usable_is_404(client, charge, wechat_gateway, settings):
    headers, body = wechat_gateway.pay(charge.transaction_id)
    settings.WECHATPAY_PUBLIC_KEY_ID = ""
    before = ledger_snapshot()
    assert _rejected(_post(client, headers, body), 404)["message"] == "unknown_provider"
    assert ledger_snapshot() == before


def _paid_and_cancelled(client, charge, wechat_gateway, settings):
    """Pay through a notification, then cancel: the refund goes to WeChat Pay,
    which accepts it (PROCESSING) and confirms later by notification."""
    wechat_gateway.refund_status = "PROCESSING"
    assert _post(client, *wechat_gateway.pay(charge.transaction_id)).status_code == 204
    cancel_rental(rental=charge.rental, reason="Plans changed", by_user=charge.rental.customer.user)
    refund = Payment.objects.get(rental=charge.rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.status == Payment.Status.PROCESSING
    assert refund.provider == "wechatpay" and refund.refund_of_id == charge.pk
    return refund


def test_refund_success_notification_refunds(client, charge, wechat_gateway, settings):
    refund = _paid_and_cancelled(client, charge, wechat_gateway, settings)
    headers, body = wechat_gateway.refund_notification(refund.transaction_id, "REFUND.SUCCESS")

    response = _post(client, headers, body)

    assert response.status_code == 204
    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED
    assert refund.provider_reference == wechat_gateway.refunds[refund.transaction_id].refund_id
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    assert_ledger_consistent(charge.rental)


@pytest.mark.parametrize("event_type", ["REFUND.CLOSED"])
def test_refund_closed_notification_fails_the_refund(client, charge, wechat_gateway, settings, event_type):
    refund = _paid_and_cancelled(client, charge, wechat_gateway, settings)
    headers, body = wechat_gateway.refund_notification(refund.transaction_id, event_type)

    assert _post(client, headers, body).status_code == 204

    refund.refresh_from_db()
    assert refund.status == Payment.Status.FAILED
    assert event_type in refund.failure_reason
    assert not Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).exists()
    assert charge.rental.money_figures().refund_due == refund.amount


def test_refund_abnormal_notification_keeps_the_refund_in_flight_until_success(
    client, charge, wechat_gateway, settings
):
    refund = _paid_and_cancelled(client, charge, wechat_gateway, settings)

    assert (
        _post(client, *wechat_gateway.refund_notification(refund.transaction_id, "REFUND.ABNORMAL")).status_code == 204
    )

    refund.refresh_from_db()
    assert (refund.status, refund.abnormal) == (Payment.Status.PROCESSING, Payment.Abnormal.WAITING)
    assert "REFUND.ABNORMAL" in refund.failure_reason
    assert charge.rental.money_figures().refund_due == Decimal("0.00")
    assert (
        _post(client, *wechat_gateway.refund_notification(refund.transaction_id, "REFUND.SUCCESS")).status_code == 204
    )
    assert Payment.objects.get(pk=refund.pk).status == Payment.Status.REFUNDED
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1


def test_a_refund_notification_with_another_amount_is_409(client, charge, wechat_gateway, settings):
    refund = _paid_and_cancelled(client, charge, wechat_gateway, settings)
    wechat_gateway.refunds[refund.transaction_id].refund -= 1
    headers, body = wechat_gateway.refund_notification(refund.transaction_id, "REFUND.SUCCESS")

    _rejected(_post(client, headers, body), 409)

    assert Payment.objects.get(pk=refund.pk).status == Payment.Status.PROCESSING
    assert not CallbackReceipt.objects.filter(payment=refund).exists()


def test_the_answer_format():
    adapter = WechatPayProvider()
    accepted = adapter.callback_answer(http_status=200, payload={"status": "accepted"})
    assert (accepted.status, accepted.body) == (204, b"")
    refused = adapter.callback_answer(http_status=409, payload={"status": "rejected", "reason": "amount_mismatch"})
    assert refused.status == 409
    assert json.loads(refused.body) == {"code": "FAIL", "message": "amount_mismatch"}


def test_describe_shows_no_secret(wechat_gateway):
    info = WechatPayProvider().describe()
    text = json.dumps(info)
    assert info["mchid"] == MCHID and info["public_key_id"] == PUBLIC_KEY_ID
    assert info["gateway"] == wechat_gateway.url
    assert len(info["private_key_fingerprint"]) == 16 and len(info["public_key_fingerprint"]) == 16
    assert "PRIVATE KEY" not in text and "0123456789abcdefghij" not in text


def test_a_notification_300_seconds_old_is_still_accepted(charge, wechat_gateway):
    headers, body = wechat_gateway.pay(charge.transaction_id)
    sent = int(headers["Wechatpay-Timestamp"])
    event = WechatPayProvider().parse_callback(headers=headers, body=body, now=sent - 300)
    assert event.status == "succeeded" and event.amount == Decimal("2900.00")
    assert event.transaction_id == charge.transaction_id
