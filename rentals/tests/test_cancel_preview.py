"""Staff cancel: Preview (fee, refund, its split over the charges and to whom),
then Confirm; the fee and its reason reach the customer."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from accounts.models import Notification, Payment
from accounts.tests.factories import PaymentFactory
from rentals.models import Rental, RentalEvent
from rentals.tests.admin_support import NOW, admin_url, ledger_snapshot
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_booking(frozen, location, customer):
    """A 597 rental (¥199 × 3 days) with a ¥2,000 deposit, paid 2,597 by Alipay,
    whose customer never came: it started two hours ago, so staff may keep up
    to the no-show fee of one day's rent, ¥199 (SPEC §19)."""
    car = VehicleFactory(location=location, daily_rate=Decimal("199.00"), deposit_amount=Decimal("2000.00"))
    rental = RentalFactory(customer=customer, vehicle=car, start_time=NOW - timedelta(hours=2))
    PaymentFactory(rental=rental, amount=Decimal("2597.00"), paid_at=NOW - timedelta(minutes=5))
    rental.refresh_financials()
    return rental


def preview(client, rental, fee, reason="No-show", lang="en"):
    return client.post(
        admin_url("cancel", rental),
        {"reason": reason, "cancellation_fee": fee, "_preview": "1"},
        HTTP_ACCEPT_LANGUAGE=lang,
    )


def test_the_first_click_previews_and_writes_nothing(staff_client, paid_booking):
    before = ledger_snapshot(paid_booking)

    response = preview(staff_client, paid_booking, "199.00")

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="preview-cancellation-fee" data-amount="199.00">¥199.00</td>' in body
    assert 'id="preview-refund" data-amount="2398.00">¥2,398.00</td>' in body
    username = paid_booking.customer.user.get_username()
    assert f'<td>Back through Alipay to {username}</td><td class="num" data-amount="2398.00">¥2,398.00</td>' in body
    assert "The customer is told: a cancellation fee of ¥199.00 is kept from what was paid (reason: No-show)." in body
    assert 'name="_confirm" value="Confirm cancellation"' in body
    paid_booking.refresh_from_db()
    assert paid_booking.status == Rental.Status.PENDING
    assert ledger_snapshot(paid_booking) == before
    assert not RentalEvent.objects.filter(rental=paid_booking, event="cancelled").exists()
    assert not Notification.objects.filter(rental=paid_booking).exists()


def test_the_form_page_offers_only_preview(staff_client, paid_booking):
    body = staff_client.get(admin_url("cancel", paid_booking), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'name="_preview" value="Preview"' in body and 'name="_confirm"' not in body


def test_confirm_tells_the_customer_the_fee_and_its_reason(staff_client, paid_booking, customer, assert_ledger):
    response = staff_client.post(
        admin_url("cancel", paid_booking),
        {"reason": "No-show", "cancellation_fee": "199.00", "_confirm": "1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 302
    paid_booking.refresh_from_db()
    assert paid_booking.status == Rental.Status.CANCELLED
    assert paid_booking.cancellation_fee == Decimal("199.00")
    assert paid_booking.money_figures().refunded == Decimal("2398.00")
    assert_ledger(paid_booking)
    notice = Notification.objects.get(rental=paid_booking, notification_type=Notification.Type.ORDER_CANCELLED)
    with translation.override("en"):
        assert notice.title_text == f"Order #{paid_booking.pk} cancelled"
        assert notice.message_text == (
            "Reason: No-show. A cancellation fee of ¥199.00 is kept from what was paid. ¥2,398.00 will be refunded."
        )
    # stored in the default language for the admin
    assert notice.message == "原因：No-show。已从付款中扣除取消费 ¥199.00。将退款 ¥2,398.00。"

    client = staff_client
    client.force_login(customer.user)
    body = client.get(paid_booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Cancellation fee ¥199.00 (reason: No-show), kept from what you paid." in body
    zh = client.get(paid_booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "取消费 ¥199.00（原因：No-show），已从您的付款中扣除。" in zh


def test_preview_splits_the_refund_over_the_charges_and_names_the_counter_part(staff_client, paid_booking, customer):
    # given a second, newer charge of 300 in cash on top of the online 2,597 (overpaid)
    PaymentFactory(rental=paid_booking, amount=Decimal("300.00"), payment_method=Payment.Method.CASH, user=None)
    paid_booking.refresh_financials()

    body = preview(staff_client, paid_booking, "0").content.decode()

    assert 'id="preview-refund" data-amount="2897.00">¥2,897.00</td>' in body
    assert '<td>Cash: to hand back at the counter</td><td class="num" data-amount="300.00">¥300.00</td>' in body
    username = customer.user.get_username()
    assert f'<td>Back through Alipay to {username}</td><td class="num" data-amount="2597.00">¥2,597.00</td>' in body
    assert body.index("Cash: to hand back") < body.index("Back through Alipay")  # newest charge first


def test_a_walk_in_refund_is_handed_back_at_the_counter(staff_client, frozen, vehicle, walk_in_customer):
    rental = RentalFactory(customer=walk_in_customer, vehicle=vehicle, start_time=NOW + timedelta(days=1))
    PaymentFactory(rental=rental, amount=Decimal("2900.00"), payment_method=Payment.Method.BANK, user=None)
    rental.refresh_financials()

    body = preview(staff_client, rental, "0").content.decode()

    assert (
        '<td>Nobody to pay it to online: to hand back at the counter</td><td class="num" data-amount="2900.00">' in body
    )


def test_preview_refuses_what_the_service_refuses(staff_client, paid_booking):
    before = ledger_snapshot(paid_booking)

    response = preview(staff_client, paid_booking, "99999.00")

    body = response.content.decode()
    assert response.status_code == 200
    assert "The cancellation fee can&#x27;t exceed the order total of ¥2,597.00." in body
    assert 'id="cancel-preview"' not in body and 'name="_confirm"' not in body
    assert ledger_snapshot(paid_booking) == before


def test_preview_in_chinese(staff_client, paid_booking):
    body = preview(staff_client, paid_booking, "199.00", lang="zh-hans").content.decode()
    username = paid_booking.customer.user.get_username()
    assert f"<td>经支付宝退还给 {username}</td>" in body
    assert "确认取消" in body
