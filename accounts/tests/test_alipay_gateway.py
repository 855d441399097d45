"""Alipay through its SDK against the fake gateway (SPEC §11, §13, §14): the
pay-page redirect, refunds with ``out_request_no``, queries, closing, the bill
download, and what happens when Alipay gives no answer to trust."""

import json
from datetime import date, timedelta
from decimal import Decimal
from io import StringIO
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts import services
from accounts.models import Notification, Payment, PaymentEvent
from accounts.providers import ProviderUnavailable, get_provider
from accounts.tests.fake_alipay import APP_ID, SITE_URL, rsa_verify, sign_content
from accounts.tests.payment_support import callback_url, ledger_snapshot
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"


@pytest.fixture
def rental(booked_rental):
    return booked_rental


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


@pytest.fixture
def paid_charge(rental, customer, fake_alipay, client):
    """¥2,900 paid with Alipay: Alipay took the money and its notification arrived."""
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    fake_alipay.pay(charge.transaction_id, charge.amount)
    body = fake_alipay.notify(charge.transaction_id, "2900.00")
    assert (
        client.post(callback_url("alipay"), data=body, content_type="application/x-www-form-urlencoded").content
        == b"success"
    )
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    return charge


def _refunds(rental):
    return list(Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).order_by("pk"))


def _sync() -> str:
    out = StringIO()
    call_command("sync_payments", stdout=out)
    return out.getvalue()


def _gateway_params(url: str, fake) -> dict:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == fake.url
    return dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))


# --- the pay page -------------------------------------------------------------------


@pytest.mark.parametrize(
    "agent, method, product_code",
    [
        (DESKTOP, "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
        (PHONE, "alipay.trade.wap.pay", "QUICK_WAP_PAY"),
    ],
)
def test_the_pay_page_redirects_to_the_signed_sdk_url(
    customer_client, rental, fake_alipay, alipay_keys, agent, method, product_code
):
    response = customer_client.post(
        reverse("accounts:pay", args=[rental.pk]),
        {"payment_method": "ALIPAY", "expected_amount": "2900.00"},
        headers={"User-Agent": agent},
    )

    assert response.status_code == 302
    charge = Payment.objects.get(rental=rental)
    assert (charge.provider, charge.status) == ("alipay", Payment.Status.PENDING)
    params = _gateway_params(response["Location"], fake_alipay)
    assert params["method"] == method
    assert (params["app_id"], params["sign_type"], params["charset"]) == (APP_ID, "RSA2", "utf-8")
    assert params["notify_url"] == f"{SITE_URL}/api/payments/callback/alipay/"
    assert params["return_url"] == f"{SITE_URL}/payments/{charge.transaction_id}/return/"
    biz = json.loads(params["biz_content"])
    assert biz["out_trade_no"] == charge.transaction_id
    assert biz["total_amount"] == "2900.00"  # a string with two decimals, never a float
    assert biz["product_code"] == product_code
    app_key = alipay_keys[0]
    assert rsa_verify(app_key.public_key(), sign_content(params, exclude=("sign",)), params["sign"])
    assert not rsa_verify(
        app_key.public_key(),
        sign_content({**params, "biz_content": params["biz_content"].replace("2900.00", "0.01")}, exclude=("sign",)),
        params["sign"],
    )

    # the open charge's "continue" link is a fresh SDK URL for the same charge
    page = customer_client.get(reverse("accounts:pay", args=[rental.pk]), headers={"User-Agent": agent})
    assert fake_alipay.url in page.content.decode()


def test_amounts_in_cents_travel_exactly(fake_alipay):
    url = (
        get_provider("alipay")
        .start_charge(
            transaction_id="PAY1", amount=Decimal("1234.5"), method="ALIPAY", description="订单", return_url=""
        )
        .redirect_url
    )
    params = _gateway_params(url, fake_alipay)
    assert json.loads(params["biz_content"])["total_amount"] == "1234.50"
    assert "return_url" not in params


def test_with_the_sandbox_off_only_usable_methods_are_offered(customer_client, rental, fake_alipay, settings):
    settings.DEBUG = False
    settings.PAYMENT_SANDBOX_ENABLED = False

    page = customer_client.get(reverse("accounts:pay", args=[rental.pk]))

    assert [value for value, _label in page.context["form"].fields["payment_method"].choices] == ["ALIPAY"]
    refused = customer_client.post(
        reverse("accounts:pay", args=[rental.pk]), {"payment_method": "BANK", "expected_amount": "2900.00"}
    )
    assert refused.status_code == 200 and refused.context["form"].errors["payment_method"]
    assert not Payment.objects.filter(rental=rental).exists()

    settings.ALIPAY_APP_ID = ""
    page = customer_client.get(reverse("accounts:pay", args=[rental.pk]))
    assert page.context["methods"] == []
    assert 'id="no-payment-method"' in page.content.decode()


def test_in_development_every_method_goes_to_the_sandbox(customer_client, rental, settings):
    settings.DEBUG = True
    settings.PAYMENT_SANDBOX_ENABLED = False
    settings.ALIPAY_APP_ID = ""

    page = customer_client.get(reverse("accounts:pay", args=[rental.pk]))

    assert page.context["methods"] == ["ALIPAY", "WECHAT", "BANK"]
    response = customer_client.post(
        reverse("accounts:pay", args=[rental.pk]), {"payment_method": "ALIPAY", "expected_amount": "2900.00"}
    )
    assert response["Location"].startswith("/payments/sandbox/")


# --- refunds ----------------------------------------------------------------------


def test_a_cancel_refunds_through_alipay_trade_refund(rental, customer, paid_charge, fake_alipay, assert_ledger):
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    [refund] = _refunds(rental)
    assert (refund.provider, refund.refund_of_id, refund.status) == ("alipay", paid_charge.pk, Payment.Status.REFUNDED)
    [request] = fake_alipay.calls_of("alipay.trade.refund")
    assert request["out_request_no"] == refund.transaction_id
    assert request["out_trade_no"] == paid_charge.transaction_id
    assert request["refund_amount"] == "2900.00"
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger(rental)

    # the job delivered again: the refund is done, Alipay is not asked again
    assert services.send_refund(refund_id=refund.pk) == Payment.Status.REFUNDED
    assert len(fake_alipay.calls_of("alipay.trade.refund")) == 1
    assert fake_alipay.bad_requests == []


def test_the_refund_job_run_twice_moves_the_money_once(
    rental, customer, paid_charge, fake_alipay, settings, assert_ledger
):
    # the first request reaches Alipay, which refunds, but its answer never comes back
    settings.ALIPAY_TIMEOUT_SECONDS = 0.5
    fake_alipay.behave("timeout", "alipay.trade.refund")
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    [refund] = _refunds(rental)
    assert refund.status == Payment.Status.PENDING

    # the retried job asks again with the same out_request_no
    fake_alipay.behave("ok", "alipay.trade.refund")
    assert services.send_refund(refund_id=refund.pk) == Payment.Status.REFUNDED
    assert services.send_refund(refund_id=refund.pk) == Payment.Status.REFUNDED

    requests = fake_alipay.calls_of("alipay.trade.refund")
    assert [r["out_request_no"] for r in requests] == [refund.transaction_id] * 2
    assert list(fake_alipay.refunds) == [refund.transaction_id]
    assert fake_alipay.trades[paid_charge.transaction_id]["refunded"] == Decimal("2900.00")
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    assert_ledger(rental)


def test_a_refusal_marks_the_refund_failed_with_alipays_reason(
    rental, customer, paid_charge, fake_alipay, assert_ledger
):
    fake_alipay.behave("refuse", "alipay.trade.refund")

    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    [refund] = _refunds(rental)
    assert refund.status == Payment.Status.FAILED
    assert refund.failure_reason == "卖家余额不足"
    rental.refresh_from_db()
    assert rental.money_figures().refund_due == Decimal("2900.00")  # due again, for staff
    assert not Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).exists()
    assert_ledger(rental)


@pytest.mark.parametrize("mode", ["timeout", "5xx", "bad_sign", "garbage", "unsigned"])
def test_no_answer_to_trust_leaves_the_refund_open_and_sync_finishes_it(
    rental, customer, paid_charge, fake_alipay, settings, frozen_clock, mode, assert_ledger
):
    settings.ALIPAY_TIMEOUT_SECONDS = 0.5
    fake_alipay.behave(mode, "alipay.trade.refund")

    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    [refund] = _refunds(rental)
    assert refund.status == Payment.Status.PENDING  # never FAILED on such an answer
    with pytest.raises(ProviderUnavailable):
        services.send_refund(refund_id=refund.pk)
    refund.refresh_from_db()
    assert refund.status == Payment.Status.PENDING
    rental.refresh_from_db()
    assert rental.money_figures().refund_due == Decimal("0.00")  # in flight, not due twice

    fake_alipay.behave("ok", "alipay.trade.refund")
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)
    out = _sync()

    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED, out
    assert fake_alipay.calls_of("alipay.trade.fastpay.refund.query")[0] == {
        "out_trade_no": paid_charge.transaction_id,
        "out_request_no": refund.transaction_id,
    }
    # Alipay refunded once whichever way it went (did the work, or never saw it and was asked again)
    assert list(fake_alipay.refunds) == [refund.transaction_id]
    assert fake_alipay.trades[paid_charge.transaction_id]["refunded"] == Decimal("2900.00")
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    assert_ledger(rental)


def test_the_charge_keeps_its_provider_for_life(rental, customer, paid_charge, fake_alipay, settings):
    settings.PAYMENT_PROVIDER = "sandbox"  # new charges would go to the sandbox now

    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    [refund] = _refunds(rental)
    assert (refund.provider, refund.status) == ("alipay", Payment.Status.REFUNDED)
    assert len(fake_alipay.calls_of("alipay.trade.refund")) == 1


# --- lost notifications and stale charges -----------------------------------------------


def test_sync_pays_a_charge_whose_notification_was_lost(rental, customer, fake_alipay, frozen_clock, assert_ledger):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    fake_alipay.pay(charge.transaction_id, "2900.00")
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)

    out = _sync()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID, out
    assert charge.provider_reference == fake_alipay.trades[charge.transaction_id]["trade_no"]
    assert fake_alipay.calls_of("alipay.trade.query") == [{"out_trade_no": charge.transaction_id}]
    assert (
        PaymentEvent.objects.filter(payment=charge, event="callback_received", payload__verdict="queried").count() == 1
    )
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert_ledger(rental)
    # the notification arriving late afterwards changes nothing
    after = ledger_snapshot()
    services.handle_callback(provider="alipay", headers={}, body=fake_alipay.notify(charge.transaction_id, "2900.00"))
    assert ledger_snapshot()["payments"] == after["payments"]


def test_sync_leaves_a_charge_alipay_cannot_answer_for(rental, customer, fake_alipay, frozen_clock):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    fake_alipay.pay(charge.transaction_id, "2900.00")
    fake_alipay.behave("bad_sign", "alipay.trade.query")
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)

    out = _sync()

    assert "unavailable" in out
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING


@pytest.mark.parametrize("opened", [True, False])
def test_a_stale_unpaid_charge_is_closed_at_alipay_then_expired(rental, customer, fake_alipay, frozen_clock, opened):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    if opened:
        fake_alipay.open_trade(charge.transaction_id, "2900.00")
    frozen_clock.move_to(NOW + timedelta(minutes=31), tick=False)

    _sync()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
    assert fake_alipay.calls_of("alipay.trade.close") == [{"out_trade_no": charge.transaction_id}]
    if opened:
        assert fake_alipay.trades[charge.transaction_id]["status"] == "TRADE_CLOSED"


def test_a_charge_paid_while_it_was_being_closed_is_paid(rental, customer, fake_alipay, frozen_clock):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    fake_alipay.open_trade(charge.transaction_id, "2900.00")
    frozen_clock.move_to(NOW + timedelta(minutes=31), tick=False)
    # paid between our query and our close: the close is refused, the query says paid
    real_answer = fake_alipay._answer

    def pay_before_close(method, biz):
        if method == "alipay.trade.close":
            fake_alipay.pay(charge.transaction_id, "2900.00")
        return real_answer(method, biz)

    fake_alipay._answer = pay_before_close

    _sync()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID


# --- the bill (SPEC §14) --------------------------------------------------------------


def test_the_statement_is_downloaded_through_the_bill_api(fake_alipay):
    zipped = fake_alipay.add_bill(
        "2026-11-28", [["2026112822001", "PAY20261128", "交易", "订单 #1", "", "", "2900.00", "2900.00"]]
    )

    assert get_provider("alipay").fetch_statement(day=date(2026, 11, 28)) == zipped
    assert fake_alipay.calls_of("alipay.data.dataservice.bill.downloadurl.query") == [
        {"bill_type": "trade", "bill_date": "2026-11-28"}
    ]


@pytest.mark.parametrize("mode", ["refuse", "5xx", "bad_sign"])
def test_no_statement_is_provider_unavailable(fake_alipay, mode):
    fake_alipay.add_bill("2026-11-28", [])
    fake_alipay.behave(mode)

    with pytest.raises(ProviderUnavailable):
        get_provider("alipay").fetch_statement(day=date(2026, 11, 28))


def test_a_request_signed_with_the_wrong_app_key_is_refused_by_the_gateway(fake_alipay, settings):
    from Cryptodome.PublicKey import RSA

    settings.ALIPAY_APP_PRIVATE_KEY = RSA.generate(2048).export_key().decode()

    with pytest.raises(ProviderUnavailable):
        get_provider("alipay").query_charge(transaction_id="PAY1")
    assert fake_alipay.bad_requests == ["alipay.trade.query"]


def test_a_success_after_the_order_was_cancelled_is_paid_and_refunded_through_alipay(
    rental, customer, fake_alipay, client, assert_ledger
):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    # the customer had the Alipay page open and paid all the same
    fake_alipay.pay(charge.transaction_id, "2900.00")

    response = client.post(
        callback_url("alipay"),
        data=fake_alipay.notify(charge.transaction_id, "2900.00"),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.content == b"success"
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    [refund] = _refunds(rental)
    assert (refund.provider, refund.refund_of_id, refund.status) == ("alipay", charge.pk, Payment.Status.REFUNDED)
    assert [r["out_request_no"] for r in fake_alipay.calls_of("alipay.trade.refund")] == [refund.transaction_id]
    assert fake_alipay.trades[charge.transaction_id]["refunded"] == Decimal("2900.00")
    assert_ledger(rental)


def test_a_charge_closed_at_alipay_already_is_expired_not_cancelled(rental, customer, fake_alipay, frozen_clock):
    charge = services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)
    fake_alipay.open_trade(charge.transaction_id, "2900.00")
    frozen_clock.move_to(NOW + timedelta(minutes=31), tick=False)
    real_answer = fake_alipay._answer

    def closed_between_query_and_close(method, biz):
        if method == "alipay.trade.close":
            fake_alipay.trades[charge.transaction_id]["status"] = "TRADE_CLOSED"
        return real_answer(method, biz)

    fake_alipay._answer = closed_between_query_and_close

    _sync()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
