"""An unpaid booking says how long it stays reserved and what happens then
(SPEC §16 "Unpaid bookings lapse"); a lapsed one says why it was cancelled."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.tests.factories import PaymentFactory
from rentals.models import Rental
from rentals.tests.admin_support import NOW
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


@pytest.fixture
def booking(time_machine, customer, vehicle, settings):
    """Booked at NOW (10:00 in Shanghai), starting tomorrow: held until 10:30.
    The clock then stands 10 minutes later: 20 minutes left."""
    settings.BOOKING_PAYMENT_MINUTES = 30
    time_machine.move_to(NOW, tick=False)
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=NOW + timedelta(days=1))
    time_machine.move_to(NOW + timedelta(minutes=10), tick=False)
    return rental


def test_order_page_counts_down_to_the_payment_deadline(customer_client, booking):
    body = customer_client.get(booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Reserved for you until 10:30" in body
    assert 'data-countdown-seconds="1200" data-expired-text="time is up">20:00</span>' in body
    assert "If unpaid by 10:30 the booking is cancelled and the car released." in body
    assert '<script src="/static/js/countdown.js"></script>' in body


def test_order_page_in_chinese(customer_client, booking):
    body = customer_client.get(booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "为您保留至 10:30" in body
    assert "如 10:30 前仍未支付，预订将被取消，车辆将释放给其他客人。" in body


def test_pay_page_counts_down_too(customer_client, booking):
    body = customer_client.get(reverse("accounts:pay", args=[booking.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-countdown-seconds="1200" data-expired-text="time is up">20:00</span>' in body
    assert "If unpaid by 10:30 the booking is cancelled and the car released." in body
    assert '<script src="/static/js/countdown.js"></script>' in body


def test_my_orders_shows_the_deadline(customer_client, booking):
    body = customer_client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Pay by 10:30 or the booking is cancelled" in body
    zh = customer_client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "请在 10:30 前支付，否则预订将被取消" in zh


def test_a_paid_booking_has_no_countdown(customer_client, booking):
    PaymentFactory(rental=booking, amount=booking.order_total)
    booking.refresh_financials()
    body = customer_client.get(booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "data-countdown-seconds" not in body and "countdown.js" not in body
    assert "Pay by" not in customer_client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_a_lapsed_booking_says_it_was_not_paid_in_time(customer_client, booking, time_machine):
    time_machine.move_to(NOW + timedelta(minutes=31), tick=False)
    body = customer_client.get(booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    booking.refresh_from_db()
    assert booking.status == Rental.Status.CANCELLED
    assert (
        "This booking was cancelled because it was not paid in time: it was held until 2026-03-10 10:30 and "
        "nothing had been paid by then, so the car was released." in body
    )
    assert "data-countdown-seconds" not in body
    zh = customer_client.get(booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "此预订因未按时支付已取消" in zh


def test_a_booking_cancelled_by_the_customer_does_not_say_it_lapsed(customer_client, booking):
    Rental.objects.filter(pk=booking.pk).update(status=Rental.Status.CANCELLED, cancel_reason="Plans changed")
    body = customer_client.get(booking.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "not paid in time" not in body


def test_countdown_script_is_a_static_file_and_the_pages_have_no_inline_script(customer_client, booking):
    script = Path(settings.BASE_DIR, "static", "js", "countdown.js").read_text()
    assert "data-countdown-seconds" in script and "data-expired-text" in script
    for url in (booking.get_absolute_url(), reverse("accounts:pay", args=[booking.pk])):
        body = customer_client.get(url).content.decode()
        assert "<script>" not in body
