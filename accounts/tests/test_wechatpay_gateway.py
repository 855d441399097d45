"""The ``wechatpay`` adapter against a fake WeChat Pay gateway (SPEC §11, §13, §14):
requests signed by the SDK with the merchant key, answers verified by the SDK
with the platform public key."""

import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts import services
from accounts.checks import check_wechatpay_settings
from accounts.models import Notification, Payment
from accounts.providers import ProviderUnavailable, QueryStatus
from accounts.providers.wechatpay import WechatPayProvider
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.fake_wechatpay import PUBLIC_KEY_ID, private_pem, public_pem
from accounts.tests.payment_support import callback_url
from customers.tests.factories import TEST_PASSWORD
from rentals.services import cancel_rental
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def _post(client, headers, body):
    return client.generic(
        "POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers
    )


def _log_in(client, customer):
    assert client.login(username=customer.user.username, password=TEST_PASSWORD)


def _pay_form(client, rental, user_agent):
    return client.post(
        reverse("accounts:pay", args=[rental.pk]),
        {"payment_method": "WECHAT", "expected_amount": "2900.00"},
        headers={"User-Agent": user_agent},
    )


def test_desktop_pay_opens_a_native_order_and_shows_its_code_url_as_a_qr_code(
    client, booked_rental, customer, wechat_gateway
):
    _log_in(client, customer)

    response = _pay_form(client, booked_rental, DESKTOP)

    charge = Payment.objects.get(rental=booked_rental)
    assert charge.provider == "wechatpay"
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:wechat_qr", args=[charge.transaction_id])
    native = wechat_gateway.calls("/v3/pay/transactions/native")
    assert len(native) == 1
    order = wechat_gateway.orders[charge.transaction_id]
    assert order.total == 290000  # fen, an integer
    page = client.get(response["Location"], headers={"User-Agent": DESKTOP})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="wechat-qr"' in html and "data:image/svg+xml;base64," in html
    assert "¥2,900.00" in html
    assert 'src="/static/js/payment_status.js"' in html
    assert "<script>" not in html  # CSP: no inline script
    # The code_url is reused for the same charge: no second order.
    assert len(wechat_gateway.calls("/v3/pay/transactions/native")) == 1


@pytest.mark.parametrize(
    "notify_url, site_url, expected",
    [
        ("https://pay.example.com/wx/", "https://rent.example.com", "https://pay.example.com/wx/"),
        ("", "https://rent.example.com", "https://rent.example.com/api/payments/callback/wechatpay/"),
        ("", "", "http://testserver/api/payments/callback/wechatpay/"),  # the address the customer used
    ],
)
def test_the_notify_url_is_the_setting_else_site_url_else_the_requests_host(
    client, booked_rental, customer, wechat_gateway, settings, notify_url, site_url, expected
):
    settings.WECHATPAY_NOTIFY_URL = notify_url
    settings.SITE_URL = site_url
    _log_in(client, customer)

    _pay_form(client, booked_rental, DESKTOP)

    charge = Payment.objects.get(rental=booked_rental)
    assert wechat_gateway.notify_urls[charge.transaction_id] == expected


def test_the_qr_code_encodes_the_code_url(booked_rental, customer, wechat_gateway):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)
    assert charge.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    import base64

    from accounts.payment_views import _qr_svg_data_uri

    svg = base64.b64decode(_qr_svg_data_uri(charge.code_url).split(",", 1)[1]).decode()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "<path" in svg


def test_a_phone_is_sent_to_the_h5_url(client, booked_rental, customer, wechat_gateway):
    _log_in(client, customer)

    response = _pay_form(client, booked_rental, PHONE)

    assert response.status_code == 302
    assert response["Location"].startswith("https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=")
    assert len(wechat_gateway.calls("/v3/pay/transactions/h5")) == 1
    assert not wechat_gateway.calls("/v3/pay/transactions/native")


def test_the_status_endpoint_is_the_customers_own(client, booked_rental, customer, wechat_gateway):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)
    url = reverse("payments:status", args=[charge.transaction_id])
    _log_in(client, customer)
    answer = client.get(url).json()
    assert answer["status"] == "PENDING" and answer["open"] is True

    assert _post(client, *wechat_gateway.pay(charge.transaction_id)).status_code == 204
    answer = client.get(url).json()
    assert answer["status"] == "PAID" and answer["open"] is False
    assert answer["next_url"] == reverse("payments:return", args=[charge.transaction_id])

    from customers.tests.factories import CustomerFactory

    other = CustomerFactory()
    client.logout()
    _log_in(client, other)
    assert client.get(url).status_code == 404
    assert client.get(reverse("payments:wechat_qr", args=[charge.transaction_id])).status_code == 404


def test_a_start_failure_is_a_clear_message_not_a_500(client, booked_rental, customer, wechat_gateway):
    wechat_gateway.mode = "error"
    _log_in(client, customer)

    response = _pay_form(client, booked_rental, DESKTOP)

    assert response.status_code == 302 and response["Location"] == reverse("accounts:pay", args=[booked_rental.pk])


# --- refunds --------------------------------------------------------------------------


@pytest.fixture
def paid_charge(client, booked_rental, customer, wechat_gateway):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)
    assert _post(client, *wechat_gateway.pay(charge.transaction_id)).status_code == 204
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    wechat_gateway.requests.clear()
    return charge


def _refund(rental):
    return Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)


def test_a_cancel_refunds_through_the_refund_api_once_even_when_the_job_runs_twice(paid_charge, wechat_gateway):
    rental = paid_charge.rental
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    refund = _refund(rental)
    assert refund.status == Payment.Status.REFUNDED  # SUCCESS in the synchronous answer
    assert services.send_refund(refund_id=refund.pk) == Payment.Status.REFUNDED  # the job again
    creates = [c for c in wechat_gateway.calls("/v3/refund/domestic/refunds") if c[0] == "POST"]
    assert len(creates) == 1
    assert list(wechat_gateway.refunds) == [refund.transaction_id]  # out_refund_no = the REF id
    sent = wechat_gateway.refunds[refund.transaction_id]
    assert (sent.refund, sent.total, sent.out_trade_no) == (290000, 290000, paid_charge.transaction_id)
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    assert_ledger_consistent(rental)


def test_a_duplicated_job_before_the_answer_is_stored_pays_once(paid_charge, wechat_gateway):
    """Two deliveries of the job both reach WeChat Pay: the same out_refund_no pays once."""
    wechat_gateway.refund_status = "PROCESSING"
    rental = paid_charge.rental
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    refund = _refund(rental)
    adapter = WechatPayProvider()
    again = adapter.start_refund(
        transaction_id=refund.transaction_id,
        charge_transaction_id=paid_charge.transaction_id,
        amount=refund.amount,
        reason="",
    )
    assert again.succeeded and not again.confirmed
    assert len(wechat_gateway.refunds) == 1
    assert _refund(rental).status == Payment.Status.PROCESSING


def test_a_refusal_marks_the_refund_failed(paid_charge, wechat_gateway):
    wechat_gateway.mode = "refuse"
    rental = paid_charge.rental
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    refund = _refund(rental)
    assert refund.status == Payment.Status.FAILED
    assert "NOT_ENOUGH" in refund.failure_reason
    assert rental.money_figures().refund_due == Decimal("2900.00")


def test_an_abnormal_refund_answer_keeps_it_in_flight_for_staff(paid_charge, wechat_gateway):
    """ABNORMAL is no failure (SPEC §17): the money left us and waits at WeChat Pay."""
    wechat_gateway.refund_status = "ABNORMAL"
    rental = paid_charge.rental
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)

    refund = _refund(rental)
    assert refund.status == Payment.Status.PROCESSING
    assert refund.abnormal == Payment.Abnormal.WAITING
    assert refund.failure_reason == "WeChat Pay refund ABNORMAL"
    assert refund.events.filter(event="refund_abnormal").count() == 1
    assert rental.money_figures().refund_due == Decimal("0.00")  # in flight: not due again
    assert_ledger_consistent(rental)


@pytest.mark.parametrize("mode", ["timeout", "error", "bad_signature", "garbage"])
def test_no_usable_answer_leaves_the_refund_open_and_sync_finishes_it(
    paid_charge, wechat_gateway, frozen_clock, mode, settings
):
    settings.WECHATPAY_TIMEOUT_SECONDS = 0.5
    rental = paid_charge.rental
    wechat_gateway.mode = mode
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    refund = _refund(rental)
    assert refund.status == Payment.Status.PENDING  # never FAILED on such an answer
    with pytest.raises(ProviderUnavailable):
        services.send_refund(refund_id=refund.pk)
    assert _refund(rental).status == Payment.Status.PENDING

    wechat_gateway.mode = "ok"
    wechat_gateway.release.set()
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)
    call_command("sync_payments", stdout=io.StringIO())

    refund = _refund(rental)
    assert refund.status == Payment.Status.REFUNDED
    assert len([c for c in wechat_gateway.calls("/v3/refund/domestic/refunds") if c[0] == "POST"]) >= 1
    assert len(wechat_gateway.refunds) == 1
    assert_ledger_consistent(rental)


def test_a_processing_refund_is_finished_by_sync_from_the_query(paid_charge, wechat_gateway, frozen_clock):
    wechat_gateway.refund_status = "PROCESSING"
    rental = paid_charge.rental
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    refund = _refund(rental)
    assert refund.status == Payment.Status.PROCESSING

    wechat_gateway.refunds[refund.transaction_id].status = "SUCCESS"  # its notification was lost
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)
    services.sync_payments()

    assert _refund(rental).status == Payment.Status.REFUNDED
    assert wechat_gateway.calls(f"/v3/refund/domestic/refunds/{refund.transaction_id}")


# --- charges: lost notifications, closing ------------------------------------------


def test_sync_pays_a_charge_whose_notification_was_lost(booked_rental, customer, wechat_gateway, frozen_clock):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)
    wechat_gateway.pay(charge.transaction_id)  # paid at WeChat Pay; the notification never arrives

    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)
    services.sync_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert charge.provider_reference == wechat_gateway.orders[charge.transaction_id].transaction_id
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    # the notification arriving after all changes nothing
    assert wechat_gateway.calls(f"/v3/pay/transactions/out-trade-no/{charge.transaction_id}?mchid=")


def test_a_charge_never_paid_is_closed_at_wechat_pay_before_it_expires(
    booked_rental, customer, wechat_gateway, frozen_clock, settings
):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)

    frozen_clock.move_to(charge.expires_at + timedelta(minutes=1), tick=False)
    services.sync_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
    assert wechat_gateway.orders[charge.transaction_id].state == "CLOSED"
    assert wechat_gateway.calls(f"/v3/pay/transactions/out-trade-no/{charge.transaction_id}/close")


def test_closing_a_charge_paid_meanwhile_answers_succeeded(booked_rental, customer, wechat_gateway):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)
    wechat_gateway.pay(charge.transaction_id)
    answer = WechatPayProvider().close_charge(transaction_id=charge.transaction_id)
    assert answer.status == "succeeded" and answer.amount == Decimal("2900.00")


def test_queries_of_unknown_transactions_are_not_found(wechat_gateway):
    adapter = WechatPayProvider()
    assert adapter.query_charge(transaction_id="PAYNOPE").status == QueryStatus.NOT_FOUND
    assert adapter.query_refund(transaction_id="REFNOPE").status == QueryStatus.NOT_FOUND


def test_an_answer_signed_with_another_key_is_unavailable_even_for_an_error(wechat_gateway):
    wechat_gateway.mode = "bad_signature"
    with pytest.raises(ProviderUnavailable):
        WechatPayProvider().query_charge(transaction_id="PAYNOPE")  # a 404, but unverifiable
    assert not wechat_gateway.calls("/v3/certificates")  # never a certificate download


# --- statement ------------------------------------------------------------------------


def test_the_trade_bill_is_downloaded(wechat_gateway):
    wechat_gateway.bill_csv = "交易时间,公众账号ID,商户号\n`2026-11-28 10:00:00,`wx1,`1900000109\n".encode()

    csv = WechatPayProvider().fetch_statement(day=date(2026, 11, 28))

    assert csv == wechat_gateway.bill_csv
    bill = wechat_gateway.calls("/v3/bill/tradebill")
    assert len(bill) == 1 and "bill_date=2026-11-28" in bill[0][1] and "bill_type=ALL" in bill[0][1]
    assert wechat_gateway.calls("/v3/billdownload/file")


def test_the_trade_bill_fails_cleanly(wechat_gateway):
    wechat_gateway.mode = "error"
    with pytest.raises(ProviderUnavailable):
        WechatPayProvider().fetch_statement(day=date(2026, 11, 28))


# --- configuration --------------------------------------------------------------------


def test_a_half_configuration_is_refused_at_start_up(settings, tmp_path, wechat_gateway):
    assert check_wechatpay_settings() == []

    settings.WECHATPAY_APIV3_KEY = "too-short"
    settings.WECHATPAY_PRIVATE_KEY = str(tmp_path / "missing.pem")
    errors = check_wechatpay_settings()
    text = " ".join(e.msg for e in errors)
    assert {e.id for e in errors} == {"accounts.E012"}
    assert "WECHATPAY_APIV3_KEY" in text and "WECHATPAY_PRIVATE_KEY" in text

    settings.WECHATPAY_APIV3_KEY = "0" * 32
    (tmp_path / "merchant.pem").write_text(private_pem(wechat_gateway.merchant_key))
    settings.WECHATPAY_PRIVATE_KEY = str(tmp_path / "merchant.pem")  # a path works as well as PEM text
    settings.WECHATPAY_PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----"
    assert ["WECHATPAY_PUBLIC_KEY" in e.msg for e in check_wechatpay_settings()] == [True]

    settings.WECHATPAY_PUBLIC_KEY = public_pem(wechat_gateway.platform_key)
    settings.WECHATPAY_PUBLIC_KEY_ID = ""
    assert ["WECHATPAY_PUBLIC_KEY_ID" in e.msg for e in check_wechatpay_settings()] == [True]

    settings.WECHATPAY_MCHID = ""  # not configured at all: nothing to say
    assert check_wechatpay_settings() == []
    assert json.dumps(PUBLIC_KEY_ID)


def test_a_request_wechat_pay_does_not_accept_as_ours_is_unavailable_not_a_refusal(
    paid_charge, wechat_gateway, settings
):
    """A merchant signature WeChat Pay rejects (401) says nothing about the refund: it stays open."""
    rental = paid_charge.rental
    settings.WECHATPAY_CERT_SERIAL_NO = "0000000000000000000000000000000000000000"
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    assert _refund(rental).status == Payment.Status.PENDING
    assert wechat_gateway.refunds == {}


def test_the_pay_page_continues_an_open_wechat_charge_on_its_qr_page(client, booked_rental, customer, wechat_gateway):
    _log_in(client, customer)
    _pay_form(client, booked_rental, DESKTOP)
    charge = Payment.objects.get(rental=booked_rental)
    qr_url = reverse("payments:wechat_qr", args=[charge.transaction_id])

    page = client.get(reverse("accounts:pay", args=[booked_rental.pk]), headers={"User-Agent": DESKTOP})

    assert f'href="{qr_url}"' in page.content.decode()
    assert len(wechat_gateway.calls("/v3/pay/transactions/native")) == 1  # the code_url is reused

    assert _post(client, *wechat_gateway.pay(charge.transaction_id)).status_code == 204
    done = client.get(qr_url)
    assert done.status_code == 302 and done["Location"] == reverse("payments:return", args=[charge.transaction_id])
