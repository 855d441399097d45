"""What the customer reads about a refund (SPEC §11, §17 "Customers hear about
their money"): the banner after a cancel and the order page say what is true
now — in progress, refused (staff will contact them) or back — the order's
transaction list calls a refund in flight 退款中, never 待付款, and a refused
refund sends the customer a REFUND_DELAYED notice after staff are told."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Notification, Payment
from accounts.tests.factories import PaymentFactory
from rentals.models import RentalEvent
from rentals.tests.admin_support import NOW
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

BANNER = {
    "hold": {
        "zh-hans": "¥2,900.00 退款中，将退回您的支付宝，到账后我们会通知您。",
        "en": "A refund of ¥2,900.00 to your Alipay is in progress; we will tell you when it arrives.",
    },
    "refund_failed": {
        "zh-hans": "¥2,900.00 退款失败，客服将联系您，您也可以到门店柜台领取。",
        "en": "The refund of ¥2,900.00 did not go through; our staff will contact you, or you can collect it at the "
        "store counter.",
    },
    "refunded": {
        "zh-hans": "¥2,900.00 已退回您的支付宝。",
        "en": "¥2,900.00 has been refunded to your Alipay.",
    },
}
ROW_STATUS = {
    "hold": {"zh-hans": "退款中", "en": "Refund in progress"},
    "refund_failed": {"zh-hans": "退款失败", "en": "Refund failed"},
    "refunded": {"zh-hans": "已退款", "en": "Refunded"},
}
BACK = {"zh-hans": "已退回", "en": "has been refunded"}


@pytest.fixture
def paid_booking(frozen, customer, vehicle):
    """Tomorrow's three-day booking of the ¥300/day car, paid ¥2,900 by Alipay (sandbox)."""
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=NOW + timedelta(days=1))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"))
    rental.refresh_financials()
    return rental


def _transaction_badge(html: str, status: str) -> str:
    """The text of the status badge of the refund row with ``data-status``."""
    row = html.split(f'data-type="REFUND" data-status="{status}"')[1].split("</li>")[0]
    return row.split('<span class="badge')[1].split(">", 1)[1].split("</span>")[0]


@pytest.mark.parametrize("outcome", ["hold", "refund_failed", "refunded"])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_cancel_banner_and_the_order_page_say_where_the_refund_is(
    client, customer, paid_booking, settings, outcome, language
):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = outcome
    client.force_login(customer.user)
    rental = paid_booking

    response = client.post(
        reverse("rentals:cancel", args=[rental.pk]),
        {"reason": "行程有变"},
        HTTP_ACCEPT_LANGUAGE=language,
        follow=True,
    )

    html = response.content.decode()
    banner = [str(m) for m in response.context["messages"]]
    assert len(banner) == 1
    # sentences follow each other without a space in Chinese, with one in English
    head = f"订单 #{rental.pk} 已取消。" if language == "zh-hans" else f"Order #{rental.pk} is cancelled. "
    assert banner[0] == f"{head}{BANNER[outcome][language]}"
    # the order page itself keeps saying it, after the banner is gone
    again = client.get(rental.get_absolute_url(), HTTP_ACCEPT_LANGUAGE=language).content.decode()
    status = again.split('id="refund-status"')[1].split("</div>\n</div>")[0]
    assert BANNER[outcome][language] in status
    if outcome != "refunded":
        assert BACK[language] not in banner[0] and BACK[language] not in status
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert _transaction_badge(html, refund.status) == ROW_STATUS[outcome][language]
    assert "待付款" not in again and "Pending" not in again


def test_a_refused_refund_tells_staff_first_then_the_customer(client, customer, paid_booking, settings):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refund_failed"
    client.force_login(customer.user)
    rental = paid_booking

    client.post(reverse("rentals:cancel", args=[rental.pk]), {"reason": "行程有变"})

    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.status == Payment.Status.FAILED
    staff_told = RentalEvent.objects.get(rental=rental, event="refund_failed")
    notice = Notification.objects.get(rental=rental, notification_type=Notification.Type.REFUND_DELAYED)
    assert notice.user == customer.user and notice.created_at >= staff_told.created_at
    assert notice.kind == "refund_delayed" and notice.title == "¥2,900.00 退款延迟"
    assert not Notification.objects.filter(rental=rental, notification_type=Notification.Type.REFUND_ISSUED).exists()
    zh = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = client.get(reverse("accounts:notifications"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert (
        f"订单 #{rental.pk}：退回您支付宝的 ¥2,900.00 退款未成功。客服将联系您重新退款，您也可以到门店柜台领取。" in zh
    )
    assert (
        f"Order #{rental.pk}: the refund of ¥2,900.00 to your Alipay did not go through. Our staff will contact you "
        "to refund it again, or you can collect it at the store counter." in en
    )
    # the provider's own words are for staff
    assert refund.failure_reason and refund.failure_reason not in zh


def test_a_refund_that_goes_through_sends_no_delay_notice(client, customer, paid_booking, settings):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "refunded"
    client.force_login(customer.user)

    client.post(reverse("rentals:cancel", args=[paid_booking.pk]), {"reason": "行程有变"})

    types = set(Notification.objects.filter(rental=paid_booking).values_list("notification_type", flat=True))
    assert Notification.Type.REFUND_ISSUED in types and Notification.Type.REFUND_DELAYED not in types
