"""Extending an order (SPEC §19): the rules of ``extend_rental``, its figures
at the booked rate and discount, the audit row and the notice, and the
refusals that change nothing.

Car: ¥300 a day, ¥2,000 deposit; booked for three days from START.
"""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from accounts.models import Notification
from accounts.tests.assertions import assert_ledger_consistent
from accounts.wording import notice_text
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals.exceptions import BookingConflict, RentalError
from rentals.models import Rental, RentalEvent
from rentals.services import cancel_rental, extend_rental, extension_preview, max_rental_days, process_return
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield


@pytest.fixture
def gold(db):
    return CustomerFactory(member_level=Customer.MemberLevel.GOLD)


def _snapshot(rental: Rental) -> tuple:
    rental.refresh_from_db()
    return (
        rental.end_time,
        rental.status,
        rental.total_amount,
        rental.discount_amount,
        rental.events.count(),
        Notification.objects.filter(rental=rental).count(),
    )


def test_an_ongoing_gold_order_extended_two_days_at_the_booked_rate(gold, vehicle, time_machine):
    rental = book(gold, vehicle)
    pay(rental)  # 3 × 300 = 900, −10 % = 810, + 2,000 deposit = 2,810
    time_machine.move_to(START + timedelta(days=1), tick=False)
    rental.auto_update_status()
    # Prices and levels that change after booking don't touch the order.
    vehicle.daily_rate = Decimal("500.00")
    vehicle.save()
    gold.member_level = Customer.MemberLevel.REGULAR
    gold.save()

    preview = extension_preview(rental=rental, new_end_time=END + timedelta(days=2))
    assert (preview.days, preview.base_rent, preview.discount_amount) == (5, Decimal("1500.00"), Decimal("150.00"))
    assert (preview.old_total_amount, preview.total_amount) == (Decimal("810.00"), Decimal("1350.00"))
    assert (preview.difference, preview.remaining) == (Decimal("540.00"), Decimal("540.00"))

    extend_rental(rental=rental, new_end_time=END + timedelta(days=2), by_user=gold.user)

    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING
    assert rental.end_time == END + timedelta(days=2)
    assert (rental.daily_rate, rental.discount_rate) == (Decimal("300.00"), Decimal("0.1000"))
    assert (rental.total_amount, rental.discount_amount) == (Decimal("1350.00"), Decimal("150.00"))
    assert rental.order_total == Decimal("3350.00")
    assert rental.outstanding_amount == Decimal("540.00")
    assert (rental.amount_paid, rental.settlement_status) == (Decimal("2810.00"), Rental.SettlementStatus.PARTIAL)
    event = rental.events.get(event=RentalEvent.Code.EXTENDED)
    assert (event.from_status, event.to_status, event.actor) == ("ONGOING", "ONGOING", gold.user)
    assert event.payload["difference"] == "540.00"
    assert datetime.fromisoformat(event.payload["old_end_time"]) == END
    notice = Notification.objects.get(rental=rental, notification_type=Notification.Type.ORDER_EXTENDED)
    assert notice.kind == "extended"
    title, message = notice_text(notice.kind, notice.params)
    assert title == f"Order #{rental.pk} extended"
    assert "2026-03-07 09:00" in message and "¥540.00" in message
    with translation.override("zh-hans"):
        assert notice_text(notice.kind, notice.params)[0] == f"订单 #{rental.pk} 已续租"
    assert_ledger_consistent(rental)


def test_an_extension_within_the_last_started_day_costs_nothing(customer, vehicle):
    rental = book(customer, vehicle, START, END - timedelta(hours=5))  # 2 days 19 h: three days billed
    pay(rental)

    extend_rental(rental=rental, new_end_time=END, by_user=customer.user)

    rental.refresh_from_db()
    assert (rental.end_time, rental.total_amount, rental.outstanding_amount) == (END, Decimal("900.00"), Decimal("0"))
    assert rental.events.get(event="extended").payload["difference"] == "0.00"


def test_an_overdue_order_extended_past_now_is_on_time_again(customer, vehicle, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    time_machine.move_to(END + timedelta(hours=3), tick=False)
    rental.auto_update_status()
    assert rental.status == Rental.Status.OVERDUE

    extend_rental(rental=rental, new_end_time=END + timedelta(days=1), by_user=customer.user)

    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING
    assert (rental.total_amount, rental.outstanding_amount) == (Decimal("1200.00"), Decimal("300.00"))
    event = rental.events.get(event="extended")
    assert (event.from_status, event.to_status) == ("OVERDUE", "ONGOING")
    # Back on time: no late fee when the car comes back by the new end.
    time_machine.move_to(END + timedelta(hours=20), tick=False)
    process_return(rental=rental, returned_at=END + timedelta(hours=20), location=rental.pickup_location)
    rental.refresh_from_db()
    assert (rental.status, rental.overdue_fee) == (Rental.Status.COMPLETED, Decimal("0.00"))


def test_a_following_booking_refuses_it_naming_the_next_free_time(customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental)
    other = CustomerFactory()
    pay(book(other, vehicle, END + timedelta(days=2), END + timedelta(days=4)))
    pay(book(CustomerFactory(), vehicle, END + timedelta(days=4), END + timedelta(days=5)))  # right after it
    before = _snapshot(rental)

    with pytest.raises(BookingConflict) as refused:
        extend_rental(rental=rental, new_end_time=END + timedelta(days=3), by_user=customer.user)

    assert refused.value.messages == [
        "The car is booked for another order from 2026-03-07 09:00, so this order can be extended until "
        "2026-03-07 09:00 at the latest. The car is free again from 2026-03-10 09:00."
    ]
    assert _snapshot(rental) == before
    # Up to the next booking's start it goes through.
    extend_rental(rental=rental, new_end_time=END + timedelta(days=2), by_user=customer.user)
    rental.refresh_from_db()
    assert rental.end_time == END + timedelta(days=2)


@pytest.mark.parametrize("closing", ["cancelled", "completed"])
def test_a_closed_order_is_not_extended(customer, vehicle, time_machine, closing):
    rental = book(customer, vehicle)
    pay(rental)
    if closing == "cancelled":
        cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
    else:
        time_machine.move_to(START + timedelta(hours=1), tick=False)
        rental.auto_update_status()
        process_return(rental=rental, returned_at=START + timedelta(hours=1), location=rental.pickup_location)
    before = _snapshot(rental)

    with pytest.raises(RentalError) as refused:
        extend_rental(rental=rental, new_end_time=END + timedelta(days=1), by_user=customer.user)

    assert refused.value.code == "not_extendable"
    assert _snapshot(rental) == before


def test_an_unpaid_booking_past_its_payment_deadline_is_not_extended(customer, vehicle, time_machine):
    rental = book(customer, vehicle)
    time_machine.move_to(rental.payment_deadline + timedelta(seconds=1), tick=False)

    with pytest.raises(RentalError) as refused:
        extend_rental(rental=rental, new_end_time=END + timedelta(days=1), by_user=customer.user)

    assert refused.value.code == "not_extendable"


@pytest.mark.parametrize(
    ("new_end", "code"),
    [
        (None, "times_required"),
        (datetime(2026, 3, 6, 9, 0), "naive_time"),
        (END, "not_later"),
        (END - timedelta(hours=1), "not_later"),
        (START + timedelta(days=max_rental_days(), minutes=1), "too_long"),
    ],
)
def test_bad_new_ends_are_refused(customer, vehicle, new_end, code):
    rental = book(customer, vehicle)
    pay(rental)
    before = _snapshot(rental)

    with pytest.raises(RentalError) as refused:
        extend_rental(rental=rental, new_end_time=new_end, by_user=customer.user)

    assert refused.value.code == code
    assert _snapshot(rental) == before


def test_the_whole_rental_may_last_max_rental_days(customer, vehicle):
    rental = book(customer, vehicle)
    pay(rental)

    extend_rental(rental=rental, new_end_time=START + timedelta(days=max_rental_days()), by_user=customer.user)

    rental.refresh_from_db()
    assert rental.days == max_rental_days()
    assert rental.total_amount == Decimal("27000.00")


def test_an_overdue_order_needs_a_new_end_after_now(customer, vehicle, time_machine):
    rental = book(customer, vehicle)
    pay(rental)
    time_machine.move_to(END + timedelta(hours=5), tick=False)
    rental.auto_update_status()

    with pytest.raises(RentalError) as refused:
        extend_rental(rental=rental, new_end_time=END + timedelta(hours=4), by_user=customer.user)

    assert refused.value.code == "end_in_past"


def test_the_order_total_bound_applies(customer, vehicle, settings):
    settings.MAX_ORDER_TOTAL = Decimal("5000")
    rental = book(customer, vehicle)  # 2,900
    pay(rental)
    before = _snapshot(rental)

    with pytest.raises(RentalError) as refused:
        extend_rental(rental=rental, new_end_time=END + timedelta(days=8), by_user=customer.user)  # 5,300

    assert refused.value.code == "order_total_too_large"
    assert _snapshot(rental) == before
