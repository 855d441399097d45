"""WeChat Pay ABNORMAL refunds (SPEC §17) through the fake WeChat Pay gateway:
in flight, flagged for staff, resolved in the admin with the abnormal-refund
API (card details encrypted with the platform key, never stored or logged),
confirmed by a later SUCCESS."""

import io
import json
import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import call_command

from accounts import services
from accounts.exceptions import RefundError
from accounts.models import Notification, Payment
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.factories import RefundFactory
from accounts.tests.fake_wechatpay import PUBLIC_KEY_ID
from accounts.tests.payment_support import callback_url
from car_rental_system.money import ZERO
from rentals.admin_views import failed_refunds_to_retry
from rentals.services import cancel_rental
from rentals.tests.admin_support import plain_staff, staff_in_group
from rentals.tests.clock import NOW

pytestmark = pytest.mark.django_db

CARD = "6222020200112233445"
NAME = "张小三"
CHANGELIST = "/admin/accounts/payment/"
DASHBOARD = "/admin/accounts/payment/dashboard/"


def _post(client, headers, body):
    return client.generic(
        "POST", callback_url("wechatpay"), data=body, content_type="application/json", headers=headers
    )


def _form_url(refund):
    return f"/admin/accounts/payment/{refund.pk}/abnormal-refund/"


@pytest.fixture
def paid_charge(client, booked_rental, customer, wechat_gateway):
    charge = services.start_payment(rental=booked_rental, method=Payment.Method.WECHAT, user=customer.user)
    assert _post(client, *wechat_gateway.pay(charge.transaction_id)).status_code == 204
    charge.refresh_from_db()
    return charge


@pytest.fixture
def abnormal_refund(paid_charge, wechat_gateway):
    """The customer cancels; WeChat Pay answers the refund ABNORMAL (the card refused it)."""
    wechat_gateway.refund_status = "ABNORMAL"
    rental = paid_charge.rental
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    return Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)


@pytest.fixture
def finance_client(client):
    client.force_login(staff_in_group("finance"))
    return client


def test_an_abnormal_answer_keeps_the_refund_in_flight_so_no_retry_pays_twice(abnormal_refund, wechat_gateway):
    rental = abnormal_refund.rental
    assert abnormal_refund.status == Payment.Status.PROCESSING
    assert abnormal_refund.abnormal == Payment.Abnormal.WAITING
    assert "ABNORMAL" in abnormal_refund.failure_reason
    assert abnormal_refund.provider_reference == wechat_gateway.refunds[abnormal_refund.transaction_id].refund_id
    assert abnormal_refund.events.filter(event="refund_abnormal").count() == 1
    rental.refresh_from_db()
    assert rental.money_figures().refund_due == ZERO  # in flight, not due again

    with pytest.raises(RefundError):
        services.retry_failed_refund(refund=abnormal_refund, by_user=staff_in_group("finance"))
    assert services.refund_due_rows(rental=rental, reason="cancellation").refunds == []
    assert Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND).count() == 1
    assert len([c for c in wechat_gateway.calls("/v3/refund/domestic/refunds") if c[0] == "POST"]) == 1
    assert not Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).exists()
    assert_ledger_consistent(rental)


def test_staff_find_it_under_the_filter_and_on_the_dashboard(abnormal_refund, finance_client):
    other = RefundFactory(  # an ordinary refund in flight: not abnormal
        rental=abnormal_refund.rental, status=Payment.Status.PROCESSING, provider="wechatpay", amount=Decimal("1.00")
    )

    listed = finance_client.get(CHANGELIST, {"refund_abnormal": "yes"}).content.decode()
    assert abnormal_refund.transaction_id in listed and other.transaction_id not in listed
    assert "退款异常" in finance_client.get(CHANGELIST).content.decode()  # the filter's title
    page = finance_client.get(DASHBOARD).content.decode()
    assert 'id="abnormal-refunds-count" data-value="1"' in page
    assert 'id="abnormal-refunds-total"' in page and 'data-amount="2900.00"' in page
    change = finance_client.get(f"/admin/accounts/payment/{abnormal_refund.pk}/change/").content.decode()
    assert _form_url(abnormal_refund) in change


def test_a_later_refund_success_for_the_same_out_refund_no_confirms_it(client, abnormal_refund, wechat_gateway):
    headers, body = wechat_gateway.refund_notification(abnormal_refund.transaction_id, "REFUND.SUCCESS")

    assert _post(client, headers, body).status_code == 204

    abnormal_refund.refresh_from_db()
    assert abnormal_refund.status == Payment.Status.REFUNDED
    assert Notification.objects.filter(notification_type=Notification.Type.REFUND_ISSUED).count() == 1
    assert_ledger_consistent(abnormal_refund.rental)


def test_sync_flags_an_abnormal_query_answer_once_and_confirms_a_later_success(
    paid_charge, wechat_gateway, frozen_clock
):
    wechat_gateway.refund_status = "PROCESSING"
    rental = paid_charge.rental
    cancel_rental(rental=rental, reason="Plans changed", by_user=rental.customer.user)
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    wechat_gateway.refunds[refund.transaction_id].status = "ABNORMAL"  # its notification was lost
    frozen_clock.move_to(NOW + timedelta(minutes=6), tick=False)

    call_command("sync_payments", stdout=io.StringIO())
    refund.refresh_from_db()
    assert (refund.status, refund.abnormal) == (Payment.Status.PROCESSING, Payment.Abnormal.WAITING)
    events = refund.events.count()
    call_command("sync_payments", stdout=io.StringIO())  # asked again: nothing new to say
    assert refund.events.count() == events

    wechat_gateway.refunds[refund.transaction_id].status = "SUCCESS"
    call_command("sync_payments", stdout=io.StringIO())
    assert Payment.objects.get(pk=refund.pk).status == Payment.Status.REFUNDED
    assert_ledger_consistent(rental)


def _everything_stored() -> str:
    """Every row of every table, as text."""
    return json.dumps(
        [list(model._default_manager.values()) for model in apps.get_models()], default=str, ensure_ascii=False
    )


def test_staff_send_it_to_the_customers_card_encrypted_and_a_success_confirms_it(
    client, abnormal_refund, finance_client, wechat_gateway, caplog
):
    caplog.set_level(logging.DEBUG)
    assert finance_client.get(_form_url(abnormal_refund)).status_code == 200

    response = finance_client.post(
        _form_url(abnormal_refund),
        {"resolution": "USER_BANK_CARD", "bank_type": "ICBC_DEBIT", "bank_account": CARD, "real_name": NAME},
    )

    assert response.status_code == 302
    # WeChat Pay got the card encrypted with its platform public key, named in Wechatpay-Serial.
    assert wechat_gateway.abnormal_requests == [
        {
            "type": "USER_BANK_CARD",
            "serial": PUBLIC_KEY_ID,
            "bank_type": "ICBC_DEBIT",
            "bank_account": CARD,
            "real_name": NAME,
        }
    ]
    refund = Payment.objects.get(pk=abnormal_refund.pk)
    assert (refund.status, refund.abnormal) == (Payment.Status.PROCESSING, Payment.Abnormal.USER_BANK_CARD)
    assert refund.events.filter(event="abnormal_refund_requested").get().payload["bank_type"] == "ICBC_DEBIT"
    # A second submit can't send it twice.
    assert finance_client.post(_form_url(refund), {"resolution": "MERCHANT_BANK_CARD"}).status_code == 302
    assert len(wechat_gateway.abnormal_requests) == 1

    assert (
        _post(client, *wechat_gateway.refund_notification(refund.transaction_id, "REFUND.SUCCESS")).status_code == 204
    )
    assert Payment.objects.get(pk=refund.pk).status == Payment.Status.REFUNDED
    assert_ledger_consistent(refund.rental)
    # Never stored, never logged.
    stored = _everything_stored()
    assert CARD not in stored and NAME not in stored
    logged = " ".join(record.getMessage() + repr(record.args) for record in caplog.records)
    assert CARD not in logged and NAME not in logged


def test_staff_send_it_back_to_our_bank_account_and_it_is_due_at_the_counter(
    client, abnormal_refund, finance_client, wechat_gateway
):
    response = finance_client.post(_form_url(abnormal_refund), {"resolution": "MERCHANT_BANK_CARD"})

    assert response.status_code == 302
    assert wechat_gateway.abnormal_requests == [{"type": "MERCHANT_BANK_CARD", "serial": PUBLIC_KEY_ID}]
    refund = Payment.objects.get(pk=abnormal_refund.pk)
    assert (refund.status, refund.abnormal) == (Payment.Status.FAILED, Payment.Abnormal.MERCHANT_BANK_CARD)
    assert "bank account" in refund.failure_reason or "银行账户" in refund.failure_reason
    rental = refund.rental
    rental.refresh_from_db()
    assert rental.money_figures().refund_due == Decimal("2900.00")
    assert rental.requires_manual_refund
    # Paid at the counter, not sent to WeChat Pay again.
    with pytest.raises(RefundError):
        services.retry_failed_refund(refund=refund, by_user=staff_in_group("counter"))
    assert failed_refunds_to_retry(type("R", (), {"user": rental.customer.user})(), rental) == []
    # A later notification for the same out_refund_no changes nothing.
    _post(client, *wechat_gateway.refund_notification(refund.transaction_id, "REFUND.SUCCESS"))
    assert Payment.objects.get(pk=refund.pk).status == Payment.Status.FAILED
    assert_ledger_consistent(rental)


def test_a_refused_resolution_leaves_it_for_staff_again(abnormal_refund, finance_client, wechat_gateway):
    wechat_gateway.abnormal_refusal = "INVALID_REQUEST"

    finance_client.post(
        _form_url(abnormal_refund),
        {"resolution": "USER_BANK_CARD", "bank_type": "CMB_DEBIT", "bank_account": CARD, "real_name": NAME},
    )

    refund = Payment.objects.get(pk=abnormal_refund.pk)
    assert (refund.status, refund.abnormal) == (Payment.Status.PROCESSING, Payment.Abnormal.WAITING)
    assert "INVALID_REQUEST" in refund.events.get(event="abnormal_refund_refused").payload["reason"]
    listed = finance_client.get(CHANGELIST, {"refund_abnormal": "yes"}).content.decode()
    assert refund.transaction_id in listed


def test_the_resolution_needs_the_refund_permission_and_the_card_details(abnormal_refund, client, wechat_gateway):
    client.force_login(plain_staff())
    assert client.get(_form_url(abnormal_refund)).status_code == 403
    client.force_login(staff_in_group("finance", username="fin2"))

    page = client.post(_form_url(abnormal_refund), {"resolution": "USER_BANK_CARD", "bank_account": CARD})

    assert page.status_code == 200 and CARD not in page.content.decode()  # never shown back
    assert wechat_gateway.abnormal_requests == []
    assert Payment.objects.get(pk=abnormal_refund.pk).abnormal == Payment.Abnormal.WAITING


def test_a_resolution_wechat_pay_never_answered_goes_back_to_staff(
    abnormal_refund, finance_client, wechat_gateway, frozen_clock
):
    wechat_gateway.mode = "error"  # the request never takes
    finance_client.post(_form_url(abnormal_refund), {"resolution": "MERCHANT_BANK_CARD"})
    assert Payment.objects.get(pk=abnormal_refund.pk).abnormal == Payment.Abnormal.REQUESTED
    wechat_gateway.mode = "ok"

    frozen_clock.move_to(NOW + timedelta(minutes=10), tick=False)
    services.sync_payments()
    assert Payment.objects.get(pk=abnormal_refund.pk).abnormal == Payment.Abnormal.REQUESTED  # still waiting

    frozen_clock.move_to(NOW + timedelta(minutes=31), tick=False)
    services.sync_payments()
    refund = Payment.objects.get(pk=abnormal_refund.pk)
    assert (refund.status, refund.abnormal) == (Payment.Status.PROCESSING, Payment.Abnormal.WAITING)
    # The old request, retried late, sends nothing.
    assert services.send_abnormal_refund(refund_id=refund.pk, resolution="MERCHANT_BANK_CARD") == "PROCESSING"
    assert wechat_gateway.abnormal_requests == []
