"""Unpaid bookings lapse and are capped per customer (SPEC §16).

A booking nothing has been paid for holds its car for BOOKING_PAYMENT_MINUTES
after it was made, never past its start; then the status refresh (pages, the
cron command) cancels it, frees the car and tells the customer. A customer
holds at most MAX_UNPAID_BOOKINGS unpaid bookings at once.
"""

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts import finance
from accounts.models import Notification, Payment, PaymentEvent
from accounts.services import start_payment
from accounts.tests.assertions import assert_ledger_consistent
from accounts.tests.payment_support import deliver, success_payload
from customers.tests.factories import CustomerFactory
from rentals.exceptions import RentalError
from rentals.models import Rental, RentalEvent
from rentals.services import lapse_unpaid_bookings, unpaid_bookings
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, paid
from rentals.tests.test_races import run_at_once
from vehicles.models import Vehicle
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


def _expire_rentals() -> str:
    out = StringIO()
    call_command("update_expired_rentals", stdout=out)
    return out.getvalue()


def test_an_unpaid_booking_is_released_after_the_payment_window(frozen_clock, customer, vehicle):
    rental = book(customer, vehicle)
    assert rental.payment_deadline == NOW + timedelta(minutes=30)

    frozen_clock.move_to(NOW + timedelta(minutes=29), tick=False)
    assert "Unpaid bookings released: 0" in _expire_rentals()
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING

    frozen_clock.move_to(NOW + timedelta(minutes=30), tick=False)
    assert "Unpaid bookings released: 1" in _expire_rentals()

    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.cancel_reason == "未按时支付"
    assert rental.cancellation_fee == Decimal("0.00")
    assert rental.cancelled_at == NOW + timedelta(minutes=30)
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    event = RentalEvent.objects.get(rental=rental, event="lapsed")
    assert (event.from_status, event.to_status, event.payload["reason"]) == ("PENDING", "CANCELLED", "not_paid_in_time")
    notice = Notification.objects.get(rental=rental)
    assert notice.notification_type == Notification.Type.ORDER_CANCELLED
    assert notice.title_text == f"Order #{rental.pk} cancelled: not paid in time"
    assert not Payment.objects.filter(rental=rental).exists()
    assert_ledger_consistent(rental)

    # the car is free for the same period again, for anyone
    again = book(CustomerFactory(), vehicle)
    assert again.status == Rental.Status.PENDING
    # a second run finds nothing more to release
    assert "Unpaid bookings released: 0" in _expire_rentals()


def test_the_hold_never_lasts_past_the_start(frozen_clock, customer, vehicle):
    rental = book(customer, vehicle, start=NOW + timedelta(minutes=10), end=NOW + timedelta(days=1))
    assert rental.payment_deadline == NOW + timedelta(minutes=10)

    frozen_clock.move_to(NOW + timedelta(minutes=10), tick=False)
    assert lapse_unpaid_bookings() == 1

    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert Vehicle.objects.get(pk=vehicle.pk).status == Vehicle.Status.AVAILABLE


def test_a_never_paid_booking_is_not_treated_as_a_car_on_the_road(frozen_clock, customer, vehicle, client, staff_user):
    """The finding: an unpaid booking never picked up moved to ONGOING, then
    OVERDUE, marked the car RENTED, sent an overdue notice, could not be
    cancelled by the customer and showed as debt on the finance dashboard."""
    rental = book(customer, vehicle)

    frozen_clock.move_to(END + timedelta(days=1), tick=False)
    _expire_rentals()

    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert Vehicle.objects.get(pk=vehicle.pk).status == Vehicle.Status.AVAILABLE
    assert not Notification.objects.filter(notification_type=Notification.Type.RENTAL_OVERDUE).exists()
    assert not RentalEvent.objects.filter(rental=rental, event="status_by_time").exists()
    assert rental.pk not in {r.pk for r in finance.outstanding_balances()}
    client.force_login(staff_user)
    dashboard = client.get("/admin/accounts/payment/dashboard/")
    assert dashboard.status_code == 200
    assert f'data-rental="{rental.pk}"' not in dashboard.content.decode()


def test_a_paid_booking_keeps_its_car_and_moves_by_time(frozen_clock, customer, vehicle):
    rental = paid(book(customer, vehicle), Decimal("100.00"))

    frozen_clock.move_to(START, tick=False)
    _expire_rentals()

    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING
    assert Vehicle.objects.get(pk=vehicle.pk).status == Vehicle.Status.RENTED


def test_the_order_page_view_releases_a_lapsed_booking(frozen_clock, customer, vehicle, client):
    rental = book(customer, vehicle)
    client.force_login(customer.user)

    frozen_clock.move_to(NOW + timedelta(minutes=31), tick=False)
    response = client.get(reverse("accounts:order_detail", args=[rental.pk]))

    assert response.status_code == 200
    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.CANCELLED


def test_an_open_charge_is_closed_and_a_late_success_refunded(frozen_clock, customer, vehicle, client):
    rental = book(customer, vehicle)
    charge = start_payment(rental=rental, method=Payment.Method.ALIPAY, user=customer.user)

    frozen_clock.move_to(NOW + timedelta(minutes=30), tick=False)
    assert lapse_unpaid_bookings() == 1
    charge.refresh_from_db()
    assert charge.status == Payment.Status.CANCELLED
    assert PaymentEvent.objects.filter(payment=charge, event="charge_cancelled").exists()

    # the customer had paid at the provider after all: the money is taken and given back
    response = deliver(client, success_payload(charge, event_id="late-1"))

    assert response.status_code == 200
    charge.refresh_from_db()
    assert charge.status == Payment.Status.PAID
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert (refund.amount, refund.payment_method, refund.refund_of_id) == (charge.amount, "ALIPAY", charge.pk)
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)


def test_a_payment_arriving_first_keeps_the_booking(frozen_clock, customer, vehicle, client):
    rental = book(customer, vehicle)
    charge = start_payment(rental=rental, method=Payment.Method.WECHAT, user=customer.user)
    deliver(client, success_payload(charge, event_id="paid-in-time"))

    frozen_clock.move_to(NOW + timedelta(hours=2), tick=False)
    assert lapse_unpaid_bookings() == 0

    assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING


# --- at most MAX_UNPAID_BOOKINGS --------------------------------------------------------


def _cars(location, n):
    return [VehicleFactory(location=location) for _ in range(n)]


def test_a_customer_holds_at_most_three_unpaid_bookings(frozen_clock, customer, location, settings):
    assert settings.MAX_UNPAID_BOOKINGS == 3
    cars = _cars(location, 5)
    first, *_ = [book(customer, car) for car in cars[:3]]

    with pytest.raises(RentalError) as excinfo:
        book(customer, cars[3])

    assert excinfo.value.code == "too_many_unpaid"
    assert excinfo.value.messages == [
        "You already have 3 unpaid bookings. Please pay for one or cancel it before booking another car "
        "(unpaid bookings are released 30 minutes after they are made)."
    ]
    assert Rental.objects.filter(customer=customer).count() == 3
    # other customers are not affected
    book(CustomerFactory(), cars[3])
    # paying for one frees a place
    paid(first, Decimal("100.00"))
    book(customer, cars[4])
    assert unpaid_bookings(customer=customer).count() == 3


def test_lapsed_bookings_no_longer_count(frozen_clock, customer, location):
    cars = _cars(location, 4)
    for car in cars[:3]:
        book(customer, car)

    frozen_clock.move_to(NOW + timedelta(minutes=30), tick=False)
    assert unpaid_bookings(customer=customer).count() == 0
    book(customer, cars[3])


def test_the_booking_page_says_why_the_fourth_booking_is_refused(frozen_clock, customer, location, client):
    cars = _cars(location, 4)
    for car in cars[:3]:
        book(customer, car)
    client.force_login(customer.user)

    response = client.post(
        reverse("rentals:new", args=[cars[3].pk]),
        {
            "start_time": "2026-03-02T09:00",
            "end_time": "2026-03-05T09:00",
            "pickup_location": location.pk,
            "return_location": location.pk,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "You already have 3 unpaid bookings." in response.content.decode()
    assert Rental.objects.filter(customer=customer).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_bookings_of_one_customer_stop_at_the_cap(location):
    customer = CustomerFactory()
    cars = _cars(location, 6)
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)

    results = run_at_once([lambda car=car: book(customer, car, start, start + timedelta(days=2)) for car in cars])

    booked = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(booked) == 3
    assert len(refused) == 3 and all(getattr(e, "code", None) == "too_many_unpaid" for e in refused), refused
    assert Rental.objects.filter(customer=customer).count() == 3
