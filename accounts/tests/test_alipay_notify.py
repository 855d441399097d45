"""Alipay notifications (SPEC §13): form-encoded, RSA2-signed by Alipay's key,
answered ``success`` or ``failure`` in the order of checks of SPEC §6."""

from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import pytest

from accounts import services
from accounts.models import CallbackReceipt, Notification, Payment, PaymentEvent
from accounts.tests.fake_alipay import rsa_sign, sign_content
from accounts.tests.payment_support import (
    callback_events,
    callback_url,
    ledger_snapshot,
)
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def charge(fake_alipay, customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    assert charge.provider == "alipay" and charge.amount == Decimal("2900.00")
    return charge


def post(client, body: bytes, content_type: str = FORM):
    return client.post(callback_url("alipay"), data=body, content_type=content_type)


def _form(params: dict) -> bytes:
    return urlencode(params).encode("ascii")


def _without_events(snapshot: dict) -> dict:
    return {key: value for key, value in snapshot.items() if key != "payment_events"}


def test_a_signed_notification_pays_the_charge(client, charge, fake_alipay, assert_ledger):
    fake_alipay.pay(charge.transaction_id, "2900.00")
    body = fake_alipay.notify(charge.transaction_id, "2900.00", notify_id="n-1")

    response = post(client, body)

    assert (response.status_code, response.content) == (200, b"success")
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert charge.provider_reference == fake_alipay.trades[charge.transaction_id]["trade_no"]
    assert CallbackReceipt.objects.filter(provider="alipay", event_id="n-1", payment=charge).count() == 1
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert assert_ledger(charge.rental)["paid"] == Decimal("2900.00")


def _tampered(fake, charge):
    params = fake.sign_params(fake.notify_params(charge.transaction_id, "2900.00"))
    params["buyer_id"] = "2088000000009999"
    return _form(params)


def _unknown_parameter_tampered(fake, charge):
    # fund_bill_list is not one we read, but the signature covers it all the same
    params = fake.sign_params(fake.notify_params(charge.transaction_id, "2900.00"))
    params["fund_bill_list"] = params["fund_bill_list"].replace("ALIPAYACCOUNT", "PCREDIT")
    return _form(params)


def _added_parameter(fake, charge):
    params = fake.sign_params(fake.notify_params(charge.transaction_id, "2900.00"))
    params["refund_fee"] = "2900.00"
    return _form(params)


def _wrong_app_id(fake, charge):
    return fake.notify(charge.transaction_id, "2900.00", app_id="2021999999999999")


def _missing_sign(fake, charge):
    params = fake.notify_params(charge.transaction_id, "2900.00")
    return _form(params)


def _empty_sign(fake, charge):
    params = fake.notify_params(charge.transaction_id, "2900.00")
    return _form({**params, "sign": ""})


def _rsa1(fake, charge):
    params = fake.notify_params(charge.transaction_id, "2900.00", sign_type="RSA")
    return _form(fake.sign_params(params, sha1=True))


def _rsa2_signed_but_labelled_rsa1(fake, charge):
    params = fake.notify_params(charge.transaction_id, "2900.00", sign_type="RSA")
    return _form(fake.sign_params(params))


def _signed_by_another_key(fake, charge):
    from Cryptodome.PublicKey import RSA

    params = fake.notify_params(charge.transaction_id, "2900.00")
    return _form(fake.sign_params(params, key=RSA.generate(2048)))


def _unknown_trade(fake, charge):
    return fake.notify("PAY20260101000000ABCDEF0123", "2900.00")


def _wrong_amount(fake, charge):
    return fake.notify(charge.transaction_id, "2899.99")


def _bad_trade_status(fake, charge):
    return fake.notify(charge.transaction_id, "2900.00", trade_status="TRADE_PAID")


def _duplicate_parameter(fake, charge):
    return fake.notify(charge.transaction_id, "2900.00") + b"&trade_status=TRADE_SUCCESS"


@pytest.mark.parametrize(
    "build, status",
    [
        (_tampered, 400),
        (_unknown_parameter_tampered, 400),
        (_added_parameter, 400),
        (_wrong_app_id, 400),
        (_missing_sign, 400),
        (_empty_sign, 400),
        (_rsa1, 400),
        (_rsa2_signed_but_labelled_rsa1, 400),
        (_signed_by_another_key, 400),
        (_bad_trade_status, 400),
        (_duplicate_parameter, 400),
        (_unknown_trade, 404),
        (_wrong_amount, 409),
    ],
)
def test_a_bad_notification_is_answered_failure_and_changes_nothing(
    client, charge, fake_alipay, build, status, assert_ledger
):
    body = build(fake_alipay, charge)
    before = ledger_snapshot()

    response = post(client, body)

    assert (response.status_code, response.content) == (status, b"failure")
    assert response["Content-Type"].startswith("text/plain")
    if status == 409:
        # the mismatch is on the charge's audit trail; nothing else moved
        assert _without_events(ledger_snapshot()) == _without_events(before)
        assert callback_events(payment=charge, payload__verdict="amount_mismatch").count() == 1
    else:
        assert ledger_snapshot() == before
        assert callback_events(payload__verdict="rejected").count() == 1
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert_ledger(charge.rental)


def test_the_same_notify_id_again_answers_success_and_changes_nothing(client, charge, fake_alipay):
    body = fake_alipay.notify(charge.transaction_id, "2900.00", notify_id="n-dup")
    assert post(client, body).content == b"success"
    after_first = ledger_snapshot()

    response = post(client, body)

    assert (response.status_code, response.content) == (200, b"success")
    assert _without_events(ledger_snapshot()) == _without_events(after_first)
    assert callback_events(payment=charge, payload__verdict="duplicate").count() == 1
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1


def test_trade_finished_after_trade_success_changes_nothing(client, charge, fake_alipay):
    assert post(client, fake_alipay.notify(charge.transaction_id, "2900.00")).content == b"success"
    after = ledger_snapshot()

    response = post(client, fake_alipay.notify(charge.transaction_id, "2900.00", trade_status="TRADE_FINISHED"))

    assert (response.status_code, response.content) == (200, b"success")
    assert _without_events(ledger_snapshot()) == _without_events(after)
    assert callback_events(payment=charge, payload__verdict="ignored").count() == 1


def test_trade_closed_cancels_an_open_charge_and_the_order_can_be_paid_again(client, charge, fake_alipay):
    response = post(client, fake_alipay.notify(charge.transaction_id, "2900.00", trade_status="TRADE_CLOSED"))

    assert (response.status_code, response.content) == (200, b"success")
    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_FAILED).count() == 1
    again = services.start_payment(rental=charge.rental, method=Payment.Method.ALIPAY, user=charge.user)
    assert again.pk != charge.pk and again.status == Payment.Status.PENDING


def test_trade_closed_after_a_full_refund_leaves_the_paid_charge_alone(client, charge, fake_alipay):
    assert post(client, fake_alipay.notify(charge.transaction_id, "2900.00")).content == b"success"

    response = post(client, fake_alipay.notify(charge.transaction_id, "2900.00", trade_status="TRADE_CLOSED"))

    assert (response.status_code, response.content) == (200, b"success")
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID


def test_wait_buyer_pay_is_recorded_and_changes_nothing(client, charge, fake_alipay):
    before = ledger_snapshot()

    response = post(
        client, fake_alipay.notify(charge.transaction_id, "2900.00", trade_status="WAIT_BUYER_PAY", notify_id="n-wait")
    )

    assert (response.status_code, response.content) == (200, b"success")
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert Payment.objects.filter(status=Payment.Status.PENDING).count() == 1
    assert Notification.objects.count() == before["notifications"]
    recorded = callback_events(payment=charge, payload__verdict="recorded").get()
    assert recorded.payload["event_id"] == "n-wait" and recorded.payload["status"] == "waiting"
    assert not PaymentEvent.objects.filter(payment=charge, event="status_changed").exists()
    # the same notice again is a duplicate; the payment that follows pays
    assert (
        post(
            client,
            fake_alipay.notify(charge.transaction_id, "2900.00", trade_status="WAIT_BUYER_PAY", notify_id="n-wait"),
        ).content
        == b"success"
    )
    assert post(client, fake_alipay.notify(charge.transaction_id, "2900.00")).content == b"success"
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID


def test_values_are_verified_as_received_including_chinese_and_gbk(client, charge, fake_alipay):
    params = fake_alipay.notify_params(charge.transaction_id, "2900.00", charset="gbk", subject="订单 #1 · 押金+租金")
    signed = fake_alipay.sign_params(params)
    body = urlencode(signed, encoding="gbk").encode("ascii")

    response = post(client, body)

    assert (response.status_code, response.content) == (200, b"success")
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID


def test_empty_parameters_signed_the_way_alipay_signs_them_verify(client, charge, fake_alipay):
    """Alipay's own SDKs leave empty values out of the signed text."""
    params = fake_alipay.notify_params(charge.transaction_id, "2900.00", passback_params="")
    signed = dict(params)
    text = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("sign", "sign_type") and v != "")
    signed["sign"] = rsa_sign(fake_alipay.platform_key, text)
    assert text != sign_content(params)

    assert post(client, _form(signed)).content == b"success"


def test_a_notification_while_alipay_is_not_configured_is_404_and_writes_nothing(client, charge, fake_alipay, settings):
    body = fake_alipay.notify(charge.transaction_id, "2900.00")
    settings.ALIPAY_PUBLIC_KEY = ""
    before = ledger_snapshot()
    events = PaymentEvent.objects.count()

    response = post(client, body)

    assert (response.status_code, response.content) == (404, b"failure")
    assert ledger_snapshot() == before
    assert PaymentEvent.objects.count() == events


def test_the_form_is_read_from_the_raw_body_whatever_the_content_type(client, charge, fake_alipay):
    body = fake_alipay.notify(charge.transaction_id, "2900.00")
    assert dict(parse_qsl(body.decode()))["out_trade_no"] == charge.transaction_id

    response = post(client, body, content_type="text/plain")

    assert response.content == b"success"


def test_an_oversized_body_is_answered_failure(client, charge, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    before = ledger_snapshot()

    response = post(client, b"a=" + b"x" * 4096)

    assert (response.status_code, response.content) == (400, b"failure")
    assert ledger_snapshot() == before
