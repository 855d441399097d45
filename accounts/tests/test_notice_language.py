"""Notices and ledger notes read in the reader's language, whatever language
they were written in: the rows store what happened (a code and params), and
pages render the words when shown."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from accounts.models import Notification, Payment
from accounts.services import notify, record_counter_payment
from accounts.tests.factories import PaymentFactory
from rentals.models import Rental
from rentals.services import cancel_rental, lapse_unpaid_bookings, process_return
from rentals.tests.admin_support import NOW, ongoing_rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def page(client, url, language) -> str:
    return client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()


def test_a_cancellation_written_in_english_reads_in_chinese(customer_client, customer, frozen, vehicle):
    # given an order cancelled while the customer read English
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=NOW + timedelta(days=1))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    with translation.override("en"):
        cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)

    # then the notices read in the language of the page
    zh = page(customer_client, reverse("accounts:notifications"), "zh-hans")
    en = page(customer_client, reverse("accounts:notifications"), "en")
    assert f"订单 #{rental.pk} 已取消" in zh and "原因：Plans changed。将退款 ¥2,900.00。" in zh
    assert f"订单 #{rental.pk}：取消订单退款：Plans changed。款项将原路退回您的支付宝。" in zh
    assert "Order #" not in zh and "The money goes back" not in zh
    assert f"Order #{rental.pk} cancelled" in en and "Reason: Plans changed. ¥2,900.00 will be refunded." in en
    assert f"Order #{rental.pk}: Refund on cancellation: Plans changed. The money goes back to your Alipay." in en
    assert "已取消" not in en and "原路退回" not in en

    # and the rows keep the default language for the admin
    notice = Notification.objects.get(rental=rental, notification_type=Notification.Type.ORDER_CANCELLED)
    assert (notice.kind, notice.title) == ("cancelled", f"订单 #{rental.pk} 已取消")
    assert notice.params == {
        "order": rental.pk,
        "reason": "Plans changed",
        "fee": "0.00",
        "refunded": "2900.00",
        "manual": "0.00",
        "store": rental.pickup_location.name,
    }


def test_ledger_notes_follow_the_page_language(customer_client, customer, staff_user, frozen, vehicle):
    # given a deposit refund less a late fee, written while staff read Chinese
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3, hours=2))
    with translation.override("zh-hans"):
        process_return(rental=rental, returned_at=NOW, location=rental.return_location, by_user=staff_user)
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.description_code == "refund_deposit"

    en = page(customer_client, rental.get_absolute_url(), "en")
    zh = page(customer_client, rental.get_absolute_url(), "zh-hans")
    assert '<div class="small">Deposit refund, less overdue fee ¥450.00</div>' in en
    assert "退还押金" not in en
    assert '<div class="small">退还押金，扣除超时费 ¥450.00</div>' in zh
    assert "Deposit refund" not in zh


def test_charge_notes_follow_the_page_language(customer_client, customer, staff_user, frozen, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=NOW + timedelta(days=1))
    PaymentFactory(rental=rental, amount=Decimal("100.00"), description="线上支付", description_code="online_payment")
    with translation.override("zh-hans"):
        record_counter_payment(rental=rental, amount=Decimal("200.00"), method=Payment.Method.CASH, by_user=staff_user)

    en = page(customer_client, rental.get_absolute_url(), "en")
    zh = page(customer_client, rental.get_absolute_url(), "zh-hans")
    assert '<div class="small">Online payment</div>' in en and '<div class="small">Paid at the counter</div>' in en
    assert "线上支付" not in en
    assert '<div class="small">线上支付</div>' in zh and '<div class="small">门店柜台付款</div>' in zh
    notes = page(customer_client, reverse("accounts:notifications"), "en")
    assert f"Order #{rental.pk} was paid at the counter." in notes


def test_a_lapse_notice_reads_in_both_languages(customer_client, customer, vehicle, time_machine, settings):
    settings.BOOKING_PAYMENT_MINUTES = 30
    time_machine.move_to(NOW, tick=False)
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=NOW + timedelta(days=1))
    time_machine.move_to(NOW + timedelta(minutes=31), tick=False)
    with translation.override("en"):
        lapse_unpaid_bookings(rental_ids=[rental.pk])
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.CANCELLED

    en = page(customer_client, reverse("accounts:notifications"), "en")
    zh = page(customer_client, reverse("accounts:notifications"), "zh-hans")
    assert f"Order #{rental.pk} cancelled: not paid in time" in en
    assert "The booking was held until 2026-03-10 10:30 and nothing had been paid by then" in en
    assert f"订单 #{rental.pk} 已取消：未按时支付" in zh
    assert "预订保留至 2026-03-10 10:30，届时仍未支付，车辆已释放。" in zh
    # the order page names the reason in the reader's language too
    assert "Not paid in time" in page(customer_client, rental.get_absolute_url(), "en")


def test_old_notices_without_a_kind_are_shown_as_stored(customer_client, customer):
    notify(
        user=customer.user,
        notification_type=Notification.Type.ORDER_CANCELLED,
        title="Order #7 cancelled",
        message="Reason: old row.",
    )
    for language in ("en", "zh-hans"):
        body = page(customer_client, reverse("accounts:notifications"), language)
        assert "Order #7 cancelled" in body and "Reason: old row." in body


def test_old_ledger_notes_without_a_code_are_shown_as_stored(customer_client, customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    PaymentFactory(rental=rental, amount=Decimal("100.00"), description="Deposit refund (older row)")
    for language in ("en", "zh-hans"):
        assert '<div class="small">Deposit refund (older row)</div>' in page(
            customer_client, rental.get_absolute_url(), language
        )
