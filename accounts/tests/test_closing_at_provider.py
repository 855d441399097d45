"""Expiry and cancellation close the charge at its provider first (SPEC §17),
through the fake Alipay and WeChat Pay gateways with the SDKs' own code running:
a charge we expire or cancel is "closing" until its provider has closed it,
then EXPIRED or CANCELLED; a provider that says it was paid makes it PAID (a
late success, SPEC §6); "never created" counts as closed; Alipay and WeChat
Pay orders carry the absolute ``time_expire`` = ``expires_at``."""

import json
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts import services
from accounts.exceptions import PaymentError
from accounts.models import Notification, Payment, PaymentEvent
from accounts.providers import QueryStatus
from accounts.providers.wechatpay import WechatPayProvider
from accounts.tests.fake_alipay import TradeClosed
from accounts.tests.fake_wechatpay import OrderClosed
from rentals.models import Rental
from rentals.services import cancel_rental, lapse_unpaid_bookings
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db

BEIJING = ZoneInfo("Asia/Shanghai")


def _close_path(charge) -> str:
    return f"/v3/pay/transactions/out-trade-no/{charge.transaction_id}/close"


def _events(charge) -> list[str]:
    return list(PaymentEvent.objects.filter(payment=charge).order_by("pk").values_list("event", flat=True))


def _refunds(rental) -> list[Payment]:
    return list(Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND))


def _wechat_charge(rental, customer) -> Payment:
    return services.start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)


def _alipay_charge(rental, customer) -> Payment:
    return services.start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)


def _past_window(clock, charge) -> None:
    clock.move_to(charge.expires_at + timedelta(minutes=1), tick=False)


# --- expiry closes first ------------------------------------------------------------


def test_expiry_closes_the_wechat_order_first_and_its_qr_code_cannot_be_paid_after(
    booked_rental, customer, wechat_gateway, frozen_clock, assert_ledger
):
    charge = _wechat_charge(booked_rental, customer)
    _past_window(frozen_clock, charge)

    assert services.expire_stale_payments() == [charge.transaction_id]

    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
    assert charge.closing_as == ""
    assert len(wechat_gateway.calls(_close_path(charge))) == 1
    assert wechat_gateway.orders[charge.transaction_id].state == "CLOSED"
    # closed at WeChat Pay before it became EXPIRED here
    assert _events(charge)[-3:] == ["charge_closing", "charge_closed", "charge_expired"]
    with pytest.raises(OrderClosed):
        wechat_gateway.pay(charge.transaction_id)
    assert_ledger(booked_rental)


def test_expiry_closes_the_alipay_trade_first(booked_rental, customer, fake_alipay, frozen_clock, assert_ledger):
    charge = _alipay_charge(booked_rental, customer)
    fake_alipay.open_trade(charge.transaction_id, "2900.00")  # the buyer has the cashier open
    _past_window(frozen_clock, charge)

    services.expire_stale_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
    assert fake_alipay.calls_of("alipay.trade.close") == [{"out_trade_no": charge.transaction_id}]
    assert fake_alipay.trades[charge.transaction_id]["status"] == "TRADE_CLOSED"
    with pytest.raises(TradeClosed):
        fake_alipay.pay(charge.transaction_id, "2900.00")
    assert_ledger(booked_rental)


# --- a close answered "already paid" ------------------------------------------------


def test_a_wechat_order_paid_before_its_close_is_booked_as_a_late_success_not_expired(
    booked_rental, customer, wechat_gateway, frozen_clock, assert_ledger
):
    charge = _wechat_charge(booked_rental, customer)
    wechat_gateway.pay(charge.transaction_id)  # paid at the last second; the notification is lost
    _past_window(frozen_clock, charge)

    services.expire_stale_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert charge.provider_reference == wechat_gateway.orders[charge.transaction_id].transaction_id
    assert "charge_expired" not in _events(charge)
    assert "late_payment_received" in _events(charge)
    booked_rental.refresh_from_db()
    assert booked_rental.amount_paid == Decimal("2900.00")
    assert _refunds(booked_rental) == []  # the order still needs the money
    assert Notification.objects.filter(notification_type=Notification.Type.PAYMENT_SUCCESS).count() == 1
    assert_ledger(booked_rental)


def test_an_alipay_trade_paid_before_its_close_is_booked_as_a_late_success_not_expired(
    booked_rental, customer, fake_alipay, frozen_clock, assert_ledger
):
    charge = _alipay_charge(booked_rental, customer)
    fake_alipay.pay(charge.transaction_id, "2900.00")
    _past_window(frozen_clock, charge)

    services.expire_stale_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    assert fake_alipay.calls_of("alipay.trade.close") == [{"out_trade_no": charge.transaction_id}]
    assert "charge_expired" not in _events(charge)
    assert_ledger(booked_rental)


def test_a_cancelled_order_whose_wechat_order_was_paid_meanwhile_is_paid_and_refunded(
    booked_rental, customer, wechat_gateway, frozen_clock, assert_ledger
):
    charge = _wechat_charge(booked_rental, customer)
    wechat_gateway.pay(charge.transaction_id)  # paid while the customer pressed "cancel"

    cancel_rental(rental=booked_rental, reason="Plans changed", by_user=customer.user)

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    [refund] = _refunds(booked_rental)
    assert (refund.provider, refund.refund_of_id, refund.amount) == ("wechatpay", charge.pk, Decimal("2900.00"))
    assert [r.out_trade_no for r in wechat_gateway.refunds.values()] == [charge.transaction_id]
    assert_ledger(booked_rental)


# --- never created counts as closed ---------------------------------------------------


def test_a_wechat_order_that_never_reached_wechat_pay_counts_as_closed(
    booked_rental, customer, wechat_gateway, frozen_clock
):
    wechat_gateway.mode = "error"
    with pytest.raises(PaymentError):
        _wechat_charge(booked_rental, customer)  # our charge exists, WeChat Pay never created the order
    wechat_gateway.mode = "ok"
    charge = Payment.objects.get(rental=booked_rental)
    _past_window(frozen_clock, charge)

    services.expire_stale_payments()

    charge.refresh_from_db()
    assert charge.transaction_id not in wechat_gateway.orders
    assert len(wechat_gateway.calls(_close_path(charge))) == 1  # answered ORDER_NOT_EXIST
    assert charge.status == Payment.Status.EXPIRED
    assert "charge_closed" in _events(charge)


@pytest.mark.parametrize("code", ["ORDERNOTEXIST", "ORDER_CLOSED"])
def test_wechat_pay_refusals_that_mean_closed(booked_rental, customer, wechat_gateway, code):
    """Never created (as WeChat Pay also spells it) or closed already: the order can't be paid."""
    charge = _wechat_charge(booked_rental, customer)
    wechat_gateway.close_refusal = (400, {"code": code, "message": "订单不存在"})

    assert WechatPayProvider().close_charge(transaction_id=charge.transaction_id).status == QueryStatus.CLOSED


def test_an_alipay_trade_never_opened_counts_as_closed(booked_rental, customer, fake_alipay, frozen_clock):
    charge = _alipay_charge(booked_rental, customer)  # the buyer never opened the cashier
    _past_window(frozen_clock, charge)

    services.expire_stale_payments()

    charge.refresh_from_db()
    assert fake_alipay.calls_of("alipay.trade.close") == [{"out_trade_no": charge.transaction_id}]  # TRADE_NOT_EXIST
    assert charge.status == Payment.Status.EXPIRED
    assert "charge_closed" in _events(charge)


# --- the provider unreachable: "closing" until a later sync --------------------------


def test_wechat_pay_unreachable_leaves_the_charge_closing_and_a_later_sync_closes_it(
    client, booked_rental, customer, wechat_gateway, frozen_clock, assert_ledger
):
    charge = _wechat_charge(booked_rental, customer)
    _past_window(frozen_clock, charge)
    wechat_gateway.mode = "error"

    services.expire_stale_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert charge.closing_as == Payment.Status.EXPIRED
    assert charge.is_closing and not charge.is_open
    assert "charge_expired" not in _events(charge)
    # not payable here any more, and no longer in the way of a new payment
    client.force_login(customer.user)
    qr = client.get(reverse("payments:wechat_qr", args=[charge.transaction_id]))
    assert qr.status_code == 302 and qr["Location"] == reverse("payments:return", args=[charge.transaction_id])
    wechat_gateway.mode = "ok"
    new = _wechat_charge(booked_rental, customer)
    assert new.pk != charge.pk and new.is_open
    with pytest.raises(ValidationError):  # still one open charge per rental
        Payment(rental=booked_rental, amount=Decimal("1.00"), transaction_id="PAYTWO").validate_constraints()

    # a sync while WeChat Pay is still down keeps it closing
    wechat_gateway.mode = "error"
    frozen_clock.move_to(charge.expires_at + timedelta(minutes=10), tick=False)
    [line] = [line for line in services.sync_payments() if line.transaction_id == charge.transaction_id]
    assert line.action == "unavailable"
    charge.refresh_from_db()
    assert charge.is_closing

    wechat_gateway.mode = "ok"
    [line] = [line for line in services.sync_payments() if line.transaction_id == charge.transaction_id]

    assert (line.action, line.status) == ("closed", Payment.Status.EXPIRED)
    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED and not charge.closing_as
    assert wechat_gateway.orders[charge.transaction_id].state == "CLOSED"
    assert_ledger(booked_rental)


def test_alipay_unreachable_leaves_the_charge_closing_and_a_later_sync_closes_it(
    booked_rental, customer, fake_alipay, frozen_clock
):
    charge = _alipay_charge(booked_rental, customer)
    fake_alipay.open_trade(charge.transaction_id, "2900.00")
    _past_window(frozen_clock, charge)
    fake_alipay.behave("5xx", "alipay.trade.close")

    services.expire_stale_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert charge.is_closing
    assert services.sync_payments(dry_run=True)[0].action == "closing"

    fake_alipay.behave("ok", "alipay.trade.close")
    services.sync_payments()

    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED
    assert fake_alipay.trades[charge.transaction_id]["status"] == "TRADE_CLOSED"
    assert len(fake_alipay.calls_of("alipay.trade.close")) == 2


def test_a_closing_charge_paid_meanwhile_is_paid_on_the_next_sync(
    booked_rental, customer, wechat_gateway, frozen_clock, assert_ledger
):
    charge = _wechat_charge(booked_rental, customer)
    _past_window(frozen_clock, charge)
    wechat_gateway.mode = "error"
    services.expire_stale_payments()
    wechat_gateway.mode = "ok"
    wechat_gateway.pay(charge.transaction_id)  # the QR code was still open at WeChat Pay

    [line] = services.sync_payments()

    assert line.action == "applied"
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID and not charge.closing_as
    assert_ledger(booked_rental)


# --- charges we cancel are closed too -----------------------------------------------


def test_a_customers_cancel_closes_the_open_alipay_charge(booked_rental, customer, fake_alipay, assert_ledger):
    charge = _alipay_charge(booked_rental, customer)
    fake_alipay.open_trade(charge.transaction_id, "2900.00")

    cancel_rental(rental=booked_rental, reason="Plans changed", by_user=customer.user)

    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert fake_alipay.calls_of("alipay.trade.close") == [{"out_trade_no": charge.transaction_id}]
    assert fake_alipay.trades[charge.transaction_id]["status"] == "TRADE_CLOSED"
    with pytest.raises(TradeClosed):
        fake_alipay.pay(charge.transaction_id, "2900.00")
    # audited as the customer's move
    assert PaymentEvent.objects.filter(payment=charge, event="charge_cancelled", actor=customer.user).exists()
    assert_ledger(booked_rental)


def test_a_customers_cancel_closes_the_open_wechat_order(booked_rental, customer, wechat_gateway):
    charge = _wechat_charge(booked_rental, customer)

    cancel_rental(rental=booked_rental, reason="Plans changed", by_user=customer.user)

    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert wechat_gateway.orders[charge.transaction_id].state == "CLOSED"
    with pytest.raises(OrderClosed):
        wechat_gateway.pay(charge.transaction_id)


def test_a_lapsed_booking_closes_its_wechat_order_and_a_payment_made_meanwhile_is_refunded(
    booked_rental, customer, wechat_gateway, frozen_clock, assert_ledger
):
    charge = _wechat_charge(booked_rental, customer)
    wechat_gateway.pay(charge.transaction_id)  # paid as the window closed; the notification is lost
    frozen_clock.move_to(NOW + timedelta(minutes=30), tick=False)

    assert lapse_unpaid_bookings() == 1

    booked_rental.refresh_from_db()
    assert booked_rental.status == Rental.Status.CANCELLED
    assert len(wechat_gateway.calls(_close_path(charge))) == 1
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID  # WeChat Pay said paid: not CANCELLED
    [refund] = _refunds(booked_rental)
    assert (refund.refund_of_id, refund.amount) == (charge.pk, Decimal("2900.00"))
    assert_ledger(booked_rental)


def test_a_counter_payment_closes_the_open_wechat_order(booked_rental, customer, wechat_gateway, staff_user):
    charge = _wechat_charge(booked_rental, customer)

    services.record_counter_payment(rental=booked_rental, amount=Decimal("2900"), method="CASH", by_user=staff_user)

    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert wechat_gateway.orders[charge.transaction_id].state == "CLOSED"


def test_a_charge_replaced_by_another_method_is_closed_at_its_provider(
    booked_rental, customer, wechat_gateway, fake_alipay
):
    old = _wechat_charge(booked_rental, customer)

    new = _alipay_charge(booked_rental, customer)

    old.refresh_from_db()
    assert new.pk != old.pk and new.status == Payment.Status.PENDING
    assert old.status == Payment.Status.CANCELLED
    assert wechat_gateway.orders[old.transaction_id].state == "CLOSED"


def test_a_replaced_charge_left_closing_is_closed_by_the_next_sync_however_young(
    booked_rental, customer, wechat_gateway, fake_alipay
):
    old = _wechat_charge(booked_rental, customer)
    wechat_gateway.mode = "error"

    new = _alipay_charge(booked_rental, customer)  # the customer switches to Alipay; WeChat Pay is down

    old.refresh_from_db()
    assert old.status == Payment.Status.PENDING
    assert old.closing_as == Payment.Status.CANCELLED
    assert new.status == Payment.Status.PENDING and new.is_open
    wechat_gateway.mode = "ok"

    lines = services.sync_payments()  # a minute later, not five

    assert [(line.transaction_id, line.action) for line in lines] == [(old.transaction_id, "closed")]
    old.refresh_from_db()
    assert old.status == Payment.Status.CANCELLED
    assert wechat_gateway.orders[old.transaction_id].state == "CLOSED"


def test_a_trade_closed_notice_finishes_a_closing_charge(client, booked_rental, customer, fake_alipay, frozen_clock):
    charge = _alipay_charge(booked_rental, customer)
    fake_alipay.open_trade(charge.transaction_id, "2900.00")
    _past_window(frozen_clock, charge)
    fake_alipay.behave("5xx", "alipay.trade.close")  # our close gets no answer, but Alipay acted
    services.expire_stale_payments()
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PENDING
    assert charge.is_closing

    response = client.post(
        "/api/payments/callback/alipay/",
        data=fake_alipay.notify(charge.transaction_id, "2900.00", trade_status="TRADE_CLOSED"),
        content_type="application/x-www-form-urlencoded",
    )

    assert response.content == b"success"
    charge.refresh_from_db()
    assert charge.status == Payment.Status.EXPIRED  # what it was closing as, not CANCELLED
    assert not Notification.objects.filter(notification_type=Notification.Type.PAYMENT_FAILED).exists()


# --- the providers' own deadline ------------------------------------------------------


def test_the_alipay_pay_page_request_carries_time_expire_at_the_charges_deadline(booked_rental, customer, fake_alipay):
    charge = _alipay_charge(booked_rental, customer)

    params = dict(parse_qsl(urlsplit(charge.redirect_url).query))
    biz = json.loads(params["biz_content"])

    assert biz["time_expire"] == charge.expires_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")
    assert biz["time_expire"] == (NOW + timedelta(minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert "timeout_express" not in biz


def test_the_wechat_order_carries_time_expire_at_the_charges_deadline(booked_rental, customer, wechat_gateway):
    charge = _wechat_charge(booked_rental, customer)

    assert wechat_gateway.orders[charge.transaction_id].time_expire == "2026-03-01T09:30:00+08:00"
    assert charge.expires_at == NOW + timedelta(minutes=30)
