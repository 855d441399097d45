"""Retries keep their key when the provider asks (SPEC §17): a refund refused
because our merchant balance was short (WeChat Pay ``NOT_ENOUGH``, Alipay
``ACQ.SELLER_BALANCE_NOT_ENOUGH``) is FAILED with that reason, and the staff
retry sends the same row again under its own REF id, as both providers ask;
any other refused refund is retried as a new row with a new id. Through the
fake WeChat Pay and Alipay gateways on 127.0.0.1, the SDKs' own code running."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts import services
from accounts.exceptions import RefundError
from accounts.models import Payment, PaymentEvent
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.payment_support import callback_url
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.test_races import run_at_once

BALANCE_SHORT_REASON = {"wechatpay": "NOT_ENOUGH: 基本账户余额不足，请充值后重新发起", "alipay": "卖家余额不足"}


class Gateway:
    """One fake provider gateway, driven the same way for both providers."""

    def __init__(self, name: str, fake):
        self.name, self.fake = name, fake

    def pay(self, client, rental, customer) -> Payment:
        method = Payment.Method.WECHAT if self.name == "wechatpay" else Payment.Method.ALIPAY
        charge = services.start_payment(rental=rental, method=method, user=customer.user)
        if self.name == "wechatpay":
            headers, body = self.fake.pay(charge.transaction_id)
            response = client.generic(
                "POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers
            )
            assert response.status_code == 204
        else:
            self.fake.pay(charge.transaction_id, charge.amount)
            body = self.fake.notify(charge.transaction_id, f"{charge.amount:.2f}")
            response = client.post(callback_url("alipay"), data=body, content_type="application/x-www-form-urlencoded")
            assert response.content == b"success"
        charge.refresh_from_db()
        assert charge.status == Payment.Status.PAID
        return charge

    def refuse(self, code: str, message: str) -> None:
        if self.name == "wechatpay":
            self.fake.mode = "refuse"
            self.fake.refund_refusal = (403, code, message)
        else:
            self.fake.refusals["alipay.trade.refund"] = (code, message)
            self.fake.behave("refuse", "alipay.trade.refund")

    def refuse_for_balance(self) -> None:
        if self.name == "wechatpay":
            self.refuse("NOT_ENOUGH", "基本账户余额不足，请充值后重新发起")
        else:
            self.refuse("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")

    def refuse_otherwise(self) -> None:
        if self.name == "wechatpay":
            self.refuse("USER_ACCOUNT_ABNORMAL", "退款请求失败，用户账号注销")
        else:
            self.refuse("ACQ.BUYER_ERROR", "买家状态非法")

    def accept(self) -> None:
        if self.name == "wechatpay":
            self.fake.mode = "ok"
        else:
            self.fake.behave("ok", "alipay.trade.refund")

    def refunds_asked(self) -> list[str]:
        """The id of every refund request the provider received (out_refund_no / out_request_no)."""
        if self.name == "wechatpay":
            return list(self.fake.refund_requests)
        return [biz["out_request_no"] for biz in self.fake.calls_of("alipay.trade.refund")]


@pytest.fixture(params=["wechatpay", "alipay"])
def gateway(request) -> Gateway:
    fixture = "wechat_gateway" if request.param == "wechatpay" else "fake_alipay"
    return Gateway(request.param, request.getfixturevalue(fixture))


def _refunds(rental) -> list[Payment]:
    return list(Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).order_by("pk"))


def _retry(client, rental, refund):
    response = client.post(reverse("admin:rentals_rental_retry_refund", args=[rental.pk, refund.pk]))
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.django_db
def test_a_refund_refused_for_our_balance_is_sent_again_under_its_own_id(
    gateway, client, booked_rental, customer, staff_user
):
    rental = booked_rental
    gateway.pay(client, rental, customer)
    gateway.refuse_for_balance()
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    [refund] = _refunds(rental)
    assert (refund.status, refund.failure_reason) == (Payment.Status.FAILED, BALANCE_SHORT_REASON[gateway.name])
    assert rental.money_figures().refund_due == Decimal("2900.00")

    client.force_login(staff_user)
    # still short: refused again, the same row FAILED again with the reason
    messages = _retry(client, rental, refund)
    assert any(refund.transaction_id in m and "原退款单号" in m for m in messages), messages  # zh-hans admin
    assert _refunds(rental) == [refund]
    refund.refresh_from_db()
    assert (refund.status, refund.failure_reason) == (Payment.Status.FAILED, BALANCE_SHORT_REASON[gateway.name])

    # topped up: the same row, the same id, refunded once
    gateway.accept()
    _retry(client, rental, refund)
    _retry(client, rental, refund)  # a second click finds it no longer failed

    assert gateway.refunds_asked() == [refund.transaction_id] * 3
    assert _refunds(rental) == [refund]
    refund.refresh_from_db()
    assert (refund.status, refund.failure_reason) == (Payment.Status.REFUNDED, "")
    resent = PaymentEvent.objects.filter(payment=refund, event="refund_resent").order_by("pk")
    assert [(e.from_status, e.to_status, e.actor_id) for e in resent] == [
        (Payment.Status.FAILED, Payment.Status.PENDING, staff_user.pk)
    ] * 2
    assert resent[0].payload["reason"] == BALANCE_SHORT_REASON[gateway.name]
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert rental.money_figures().refunded == Decimal("2900.00")
    assert_ledger_consistent(rental)


@pytest.mark.django_db
def test_a_refund_refused_for_another_reason_is_retried_as_a_new_row(
    gateway, client, booked_rental, customer, staff_user
):
    rental = booked_rental
    gateway.pay(client, rental, customer)
    gateway.refuse_otherwise()
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    [failed] = _refunds(rental)
    assert failed.status == Payment.Status.FAILED

    gateway.accept()
    client.force_login(staff_user)
    _retry(client, rental, failed)

    old, retry = _refunds(rental)
    assert old == failed and retry.transaction_id != failed.transaction_id
    assert gateway.refunds_asked() == [failed.transaction_id, retry.transaction_id]
    old.refresh_from_db()
    assert old.status == Payment.Status.FAILED
    assert (retry.status, retry.amount, retry.refund_of_id) == (
        Payment.Status.REFUNDED,
        Decimal("2900.00"),
        failed.refund_of_id,
    )
    assert not PaymentEvent.objects.filter(event="refund_resent").exists()
    with pytest.raises(RefundError):
        services.retry_failed_refund(refund=old, by_user=staff_user)  # nothing of it is due any more
    assert_ledger_consistent(rental)


@pytest.mark.django_db
def test_a_balance_short_refund_of_which_only_part_is_due_is_retried_as_a_new_row(
    gateway, client, booked_rental, customer, staff_user
):
    rental = booked_rental
    gateway.pay(client, rental, customer)
    gateway.refuse_for_balance()
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    [failed] = _refunds(rental)
    # meanwhile staff hand ¥900 of it back by hand: the provider's same request (¥2,900) would pay too much
    services.record_manual_refund(
        rental=rental, amount=Decimal("900.00"), reason="Paid at the desk", by_user=staff_user
    )
    gateway.accept()

    retry = services.retry_failed_refund(refund=failed, by_user=staff_user)

    assert retry.pk != failed.pk and retry.amount == Decimal("2000.00")
    assert gateway.refunds_asked() == [failed.transaction_id, retry.transaction_id]
    failed.refresh_from_db()
    retry.refresh_from_db()
    assert (failed.status, retry.status) == (Payment.Status.FAILED, Payment.Status.REFUNDED)
    assert_ledger_consistent(rental)


def test_the_resend_is_a_transition_of_the_failed_refund_only(db):
    refund = Payment(transaction_type=Payment.TransactionType.REFUND, status=Payment.Status.FAILED)
    assert refund.can_transition_to(Payment.Status.PENDING)
    charge = Payment(transaction_type=Payment.TransactionType.CHARGE, status=Payment.Status.FAILED)
    assert not charge.can_transition_to(Payment.Status.PENDING)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_retrying_at_once_send_the_refund_once(gateway, client, booked_rental, customer, staff_user):
    rental = booked_rental
    gateway.pay(client, rental, customer)
    gateway.refuse_for_balance()
    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    [refund] = _refunds(rental)
    assert refund.status == Payment.Status.FAILED
    gateway.accept()

    results = run_at_once([lambda: services.retry_failed_refund(refund=refund, by_user=staff_user)] * 2)

    kinds = sorted(kind for kind, _value in results)
    assert kinds == ["error", "ok"], results
    [error] = [value for kind, value in results if kind == "error"]
    assert isinstance(error, RefundError)
    assert gateway.refunds_asked() == [refund.transaction_id] * 2  # refused once, sent again once
    assert _refunds(rental) == [refund]
    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED
    assert PaymentEvent.objects.filter(payment=refund, event="refund_resent").count() == 1
    assert_ledger_consistent(rental)
