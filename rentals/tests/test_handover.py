"""SPEC §16: rates fixed at booking, the hand-over window and store, the return
preview's checks, and cars still on the road holding their car."""

import html
import importlib
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import Payment
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from rentals.exceptions import BookingConflict, RentalError
from rentals.models import Rental, RentalEvent
from rentals.services import advance_statuses, handover, pickup_rental, process_return
from rentals.tests.admin_support import PICKUP_CHECK, RETURN_CHECK, admin_url
from rentals.tests.clock import END, NOW, START
from rentals.tests.factories import book, pay
from vehicles.models import Vehicle
from vehicles.selectors import search_vehicles

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def clock(time_machine):
    """The clock stopped at NOW, messages in English (the assertions read them)."""
    time_machine.move_to(NOW, tick=False)
    with translation.override("en"):
        yield time_machine


def local_input(dt) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def hand_over(clock, rental, staff_user, at=None, **kwargs):
    clock.move_to(at or rental.start_time, tick=False)
    return pickup_rental(rental=rental, by_user=staff_user, **kwargs)


# --- 1. rates are fixed at booking ------------------------------------------------------


def test_a_booking_keeps_the_rate_and_discount_it_was_booked_at(vehicle):
    vehicle.daily_rate = Decimal("320.00")
    vehicle.save()
    silver = CustomerFactory(member_level=Customer.MemberLevel.SILVER)

    rental = book(silver, vehicle)
    vehicle.daily_rate = Decimal("3200.00")
    vehicle.save()
    rental = Rental.objects.select_related("vehicle").get(pk=rental.pk)

    assert (rental.daily_rate, rental.discount_rate) == (Decimal("320.00"), Decimal("0.0500"))
    breakdown = rental.get_order_amount_breakdown()
    assert breakdown["daily_rate"] == Decimal("320.00")
    assert breakdown["base_rent"] == Decimal("960.00")
    assert breakdown["total_amount"] == Decimal("912.00")


def test_a_row_created_from_the_named_fields_alone_gets_the_rates(vehicle, customer):
    rental = Rental.objects.create(
        customer=customer,
        vehicle=vehicle,
        pickup_location=vehicle.location,
        return_location=vehicle.location,
        start_time=START,
        end_time=END,
    )
    assert rental.daily_rate == Decimal("300.00") and rental.discount_rate == Decimal("0")


def test_return_preview_and_return_charge_the_booked_rate_after_a_rate_rise(
    staff_client, clock, vehicle, staff_user, assert_ledger
):
    # given: booked at 320, handed over, 26 h late when the car's rate is raised to 3,200
    vehicle.daily_rate = Decimal("320.00")
    vehicle.save()
    customer = CustomerFactory(member_level=Customer.MemberLevel.SILVER)
    rental = book(customer, vehicle)
    pay(rental)
    hand_over(clock, rental, staff_user)
    Vehicle.objects.filter(pk=vehicle.pk).update(daily_rate=Decimal("3200.00"))
    late = END + timedelta(hours=26)
    clock.move_to(late, tick=False)
    post = {**RETURN_CHECK, "returned_at": local_input(late), "location": vehicle.location_id, "damage_fee": "0"}

    # when
    preview = staff_client.post(admin_url("return", rental), {**post, "_preview": "1"})
    confirm = staff_client.post(admin_url("return", rental), {**post, "_confirm": "1"})

    # then: 2 started late days × 320 × 1.5
    assert preview.context["preview"].overdue_fee == Decimal("960.00")
    assert confirm.status_code == 302
    rental.refresh_from_db()
    assert rental.overdue_fee == Decimal("960.00")
    assert_ledger(rental)


def test_order_page_shows_the_booked_daily_rate(client, vehicle):
    vehicle.daily_rate = Decimal("320.00")
    vehicle.save()
    customer = CustomerFactory(member_level=Customer.MemberLevel.SILVER)
    rental = book(customer, vehicle)
    Vehicle.objects.filter(pk=vehicle.pk).update(daily_rate=Decimal("3200.00"))
    client.force_login(customer.user)

    body = client.get(reverse("accounts:order_detail", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "¥320.00" in body
    assert "¥3,200" not in body


def test_the_migration_fills_existing_rows_from_their_car_and_member_level(vehicle):
    migration = importlib.import_module("rentals.migrations.0002_rental_booked_rates")
    gold = CustomerFactory(member_level=Customer.MemberLevel.GOLD)
    regular = CustomerFactory(member_level=Customer.MemberLevel.REGULAR)
    gold_rental = book(gold, vehicle)
    regular_rental = book(regular, vehicle, start=END + timedelta(days=1), end=END + timedelta(days=2))
    # rows as they were before the migration: no stored rates
    Rental.objects.update(daily_rate=Decimal("0"), discount_rate=Decimal("0"))

    migration.fill_booked_rates(apps, None)

    gold_rental.refresh_from_db()
    regular_rental.refresh_from_db()
    assert (gold_rental.daily_rate, gold_rental.discount_rate) == (Decimal("300.00"), Decimal("0.1000"))
    assert (regular_rental.daily_rate, regular_rental.discount_rate) == (Decimal("300.00"), Decimal("0.0000"))


# --- 2. hand-over window ----------------------------------------------------------------


def test_hand_over_more_than_the_early_window_is_refused(clock, vehicle, customer, staff_user):
    rental = book(customer, vehicle, start=NOW + timedelta(days=2), end=NOW + timedelta(days=4))

    with pytest.raises(RentalError) as excinfo:
        pickup_rental(rental=rental, by_user=staff_user)

    assert excinfo.value.code == "pickup_too_early"
    assert "rebook" in excinfo.value.messages[0]
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING and rental.picked_up_at is None
    assert Vehicle.objects.get(pk=vehicle.pk).status == Vehicle.Status.AVAILABLE


@pytest.mark.parametrize(("minutes_early", "allowed"), [(60, True), (61, False)])
def test_hand_over_window_edge(clock, vehicle, customer, staff_user, minutes_early, allowed):
    rental = book(customer, vehicle)
    clock.move_to(START - timedelta(minutes=minutes_early), tick=False)

    if allowed:
        pickup_rental(rental=rental, by_user=staff_user)
        assert rental.status == Rental.Status.ONGOING
    else:
        with pytest.raises(RentalError):
            pickup_rental(rental=rental, by_user=staff_user)


def test_the_early_window_comes_from_the_setting(clock, settings, vehicle, customer, staff_user):
    settings.EARLY_PICKUP_MINUTES = 0
    rental = book(customer, vehicle)
    clock.move_to(START - timedelta(minutes=1), tick=False)

    with pytest.raises(RentalError):
        pickup_rental(rental=rental, by_user=staff_user)


def test_pickup_page_refuses_an_early_hand_over_and_says_to_rebook(staff_client, vehicle, customer):
    rental = book(customer, vehicle, start=NOW + timedelta(days=2), end=NOW + timedelta(days=4))

    page = staff_client.get(admin_url("pickup", rental), HTTP_ACCEPT_LANGUAGE="en")
    response = staff_client.post(
        admin_url("pickup", rental), {**PICKUP_CHECK, "_confirm": "1"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert page.status_code == 200
    assert "Please rebook the order" in page.content.decode()
    assert b'id="pickup-confirm-button"' not in page.content
    assert response.status_code == 200
    assert "Please rebook the order" in response.content.decode()
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING


# --- 3. the return preview applies the return's checks -------------------------------------


@pytest.fixture
def on_road(clock, vehicle, customer, staff_user):
    rental = book(customer, vehicle)
    pay(rental)
    hand_over(clock, rental, staff_user)
    clock.move_to(END, tick=False)
    return rental


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (START - timedelta(hours=1), "The return time can't be before the pick-up."),
        (datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI), "The return time can't be in the future."),
    ],
)
def test_return_preview_refuses_what_the_return_refuses(staff_client, on_road, when, message):
    response = staff_client.post(
        admin_url("return", on_road),
        {
            **RETURN_CHECK,
            "returned_at": local_input(when),
            "location": on_road.return_location_id,
            "damage_fee": "0",
            "_preview": "1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert response.context["preview"] is None
    assert html.escape(message) in response.content.decode()
    assert b'name="_confirm"' not in response.content
    with pytest.raises(RentalError) as excinfo:
        process_return(rental=on_road, returned_at=when, location=on_road.return_location)
    assert excinfo.value.messages == [message]


def test_preview_and_return_compute_with_the_same_function(staff_client, on_road, monkeypatch):
    calls = []
    real = handover.prepare_return

    def spy(**kwargs):
        calls.append(kwargs["rental"].pk)
        return real(**kwargs)

    monkeypatch.setattr(handover, "prepare_return", spy)
    post = {**RETURN_CHECK, "returned_at": local_input(END), "location": on_road.return_location_id, "damage_fee": "0"}

    staff_client.post(admin_url("return", on_road), {**post, "_preview": "1"})
    staff_client.post(admin_url("return", on_road), {**post, "_confirm": "1"})

    assert calls == [on_road.pk, on_road.pk]
    on_road.refresh_from_db()
    assert on_road.status == Rental.Status.COMPLETED


# --- 4. an overdue rental holds its car ---------------------------------------------------


@pytest.fixture
def overdue(clock, vehicle, customer, staff_user):
    """Rental A handed over and 23 h past its end, refreshed to OVERDUE."""
    rental = book(customer, vehicle)
    pay(rental)
    hand_over(clock, rental, staff_user)
    clock.move_to(END + timedelta(hours=23), tick=False)
    advance_statuses()
    rental.refresh_from_db()
    assert rental.status == Rental.Status.OVERDUE
    return rental


@pytest.mark.parametrize("starts_in", [timedelta(hours=1), timedelta(hours=23)])
def test_a_car_out_on_an_overdue_rental_cannot_be_booked_within_its_hold(overdue, vehicle, starts_in):
    other = CustomerFactory()
    start = timezone.now() + starts_in

    with pytest.raises(BookingConflict):
        book(other, vehicle, start=start, end=start + timedelta(days=1))

    assert Rental.objects.filter(vehicle=vehicle).count() == 1


def test_an_ongoing_rental_past_its_end_holds_the_car_before_any_refresh(clock, vehicle, customer, staff_user):
    rental = book(customer, vehicle)
    hand_over(clock, rental, staff_user)
    clock.move_to(END + timedelta(hours=5), tick=False)  # still ONGOING in the table
    start = timezone.now() + timedelta(hours=1)

    with pytest.raises(BookingConflict):
        book(CustomerFactory(), vehicle, start=start, end=start + timedelta(days=1))


def test_search_does_not_show_a_car_out_on_an_overdue_rental(overdue, vehicle):
    start = timezone.now() + timedelta(hours=1)

    assert vehicle not in search_vehicles(start_time=start, end_time=start + timedelta(days=1))


def test_the_car_is_bookable_again_once_returned(overdue, vehicle, staff_user):
    process_return(rental=overdue, returned_at=timezone.now(), location=vehicle.location, by_user=staff_user)
    start = timezone.now() + timedelta(hours=1)

    assert vehicle in search_vehicles(start_time=start, end_time=start + timedelta(days=1))
    assert book(CustomerFactory(), vehicle, start=start, end=start + timedelta(days=1)).status == Rental.Status.PENDING


def test_search_still_lists_a_car_whose_rentals_end_before_the_period(clock, vehicle, customer):
    book(customer, vehicle)

    start = END + timedelta(days=1)
    assert vehicle in search_vehicles(start_time=start, end_time=start + timedelta(days=1))
    assert vehicle not in search_vehicles(start_time=START, end_time=END)


# --- 5. the hand-over records the store where the car stands ------------------------------


def test_one_way_then_round_trip_ends_with_no_one_way_fee_for_the_round_trip(
    staff_client, clock, vehicle, other_location, staff_user, assert_ledger
):
    store_x, store_y = vehicle.location, other_location
    # A: X → Y; B (later): X → X
    a = book(CustomerFactory(), vehicle, return_location=store_y)
    b = book(CustomerFactory(), vehicle, start=END + timedelta(days=2), end=END + timedelta(days=4))
    pay(a)
    pay(b)
    assert (a.cross_location_fee, b.cross_location_fee) == (Decimal("200.00"), Decimal("0.00"))
    hand_over(clock, a, staff_user)
    clock.move_to(END, tick=False)
    process_return(rental=a, returned_at=END, location=store_y, by_user=staff_user)
    assert Vehicle.objects.get(pk=vehicle.pk).location == store_y

    # B's hand-over page says where the car is and what it does to the price
    clock.move_to(b.start_time, tick=False)
    page = staff_client.get(admin_url("pickup", b), HTTP_ACCEPT_LANGUAGE="en")
    body = page.content.decode()
    assert f"The car stands at {store_y}, not at the booked pick-up store {store_x}" in body
    assert 'id="pickup-new-fee" data-amount="200.00"' in body
    assert f'id="pickup-new-total" data-amount="{b.order_total + Decimal("200.00")}"' in body
    response = staff_client.post(admin_url("pickup", b), {**PICKUP_CHECK, "_confirm": "1"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302

    b.refresh_from_db()
    assert b.status == Rental.Status.ONGOING
    assert b.pickup_location == store_y
    assert b.cross_location_fee == Decimal("200.00")  # planned return X ≠ real pick-up Y
    event = RentalEvent.objects.get(rental=b, event="picked_up")
    assert event.payload["booked_pickup_location"] == store_x.pk
    assert event.payload["pickup_location"] == store_y.pk
    assert_ledger(b)

    # B comes back where it was handed over: a round trip, no one-way fee
    clock.move_to(b.end_time, tick=False)
    process_return(rental=b, returned_at=b.end_time, location=store_y, by_user=staff_user)
    b.refresh_from_db()
    assert b.cross_location_fee == Decimal("0.00")
    refund = Payment.objects.get(rental=b, transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == b.deposit
    assert_ledger(b)


def test_hand_over_at_a_store_where_the_car_is_not_is_refused(staff_client, clock, vehicle, customer, other_location):
    rental = book(customer, vehicle)
    clock.move_to(START, tick=False)

    response = staff_client.post(
        admin_url("pickup", rental),
        {**PICKUP_CHECK, "location": other_location.pk, "_confirm": "1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert f"The car stands at {vehicle.location}, not at {other_location}" in response.content.decode()
    rental.refresh_from_db()
    assert rental.status == Rental.Status.PENDING and rental.pickup_location == vehicle.location
    assert not RentalEvent.objects.filter(rental=rental, event="picked_up").exists()


def test_a_one_way_fee_that_no_longer_applies_is_refunded_at_the_hand_over(
    clock, vehicle, customer, other_location, staff_user, assert_ledger
):
    # booked X → Y and paid in full; the car has meanwhile come back to Y
    rental = book(customer, vehicle, return_location=other_location)
    pay(rental)
    Vehicle.objects.filter(pk=vehicle.pk).update(location=other_location)

    hand_over(clock, rental, staff_user)

    rental.refresh_from_db()
    assert rental.pickup_location == other_location
    assert rental.cross_location_fee == Decimal("0.00")
    refund = Payment.objects.get(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("200.00")
    assert rental.money_figures().refund_due == Decimal("0.00")
    assert_ledger(rental)


# --- 6. clerk and customer forms ----------------------------------------------------------


def test_return_form_starts_with_the_planned_return_store(staff_client, on_road, other_location):
    Rental.objects.filter(pk=on_road.pk).update(return_location=other_location)

    body = staff_client.get(admin_url("return", on_road)).content.decode()

    select = body[
        body.index('<select name="location"') : body.index("</select>", body.index('<select name="location"'))
    ]
    assert f'<option value="{other_location.pk}" selected>' in select
    assert 'value=""' not in select


def test_booking_page_shows_the_pick_up_store_as_text(client, vehicle, customer):
    client.force_login(customer.user)

    body = client.get(reverse("rentals:new", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert '<select name="pickup_location"' not in body
    assert f'<input type="hidden" name="pickup_location" value="{vehicle.location_id}"' in body
    assert f'id="pickup-store-name">{vehicle.location}</p>' in body
