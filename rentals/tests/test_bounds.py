"""Numbers and dates that used to reach the database unchecked (SPEC §16 Bounds).

A booking starts at most BOOKING_HORIZON_DAYS ahead; no staff fee and no order
total exceeds MAX_ORDER_TOTAL; staff money inputs are plain decimals; dates in
admin filters stay within bounds. Each is refused with a readable message (a
form error, a ValidationError), never a database error or a 500.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from accounts.exceptions import PaymentError, RefundError
from accounts.services import record_counter_payment, record_manual_refund
from car_rental_system.bounds import MoneyField
from rentals.exceptions import RentalError
from rentals.models import Rental
from rentals.services import cancel_rental, create_rental, process_return, validate_booking_times
from rentals.tests.admin_support import NOW, RETURN_CHECK, admin_url, ledger_snapshot, ongoing_rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
HUGE = "9999999999.99"
NOT_PLAIN = [
    "1e3",
    "1E3",
    "inf",
    "Infinity",
    "nan",
    "NaN",
    "12.345",
    "1,000",
    "0x10",
    "１２",
    "1_000",
    "+5",
    ".5",
    "5.",
]


@pytest.fixture
def on_road(frozen, vehicle, customer):
    """Handed over three hours ago, paid 2,900 in full."""
    return ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))


def _page_error(response) -> str:
    form = response.context["form"]
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


# --- the shared money field ---------------------------------------------------------


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_the_money_field_takes_plain_decimals_only(text):
    field = MoneyField(min_value=Decimal("0"))
    with pytest.raises(Exception) as caught:
        field.clean(text)
    assert caught.value.code in ("not_plain_money",) or "plain amount" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "value"), [("1000", Decimal("1000")), (" 12.5 ", Decimal("12.5")), ("0.01", Decimal("0.01"))]
)
def test_the_money_field_accepts_plain_amounts(text, value):
    assert MoneyField(min_value=Decimal("0")).clean(text) == value


def test_the_money_field_reads_the_ceiling_when_used(settings):
    field = MoneyField()
    assert field.clean("1000000.00") == Decimal("1000000.00")
    settings.MAX_ORDER_TOTAL = Decimal("500.00")
    with pytest.raises(Exception, match="500.00"):
        field.clean("500.01")


# --- damage fee -----------------------------------------------------------------------


@pytest.mark.parametrize("fee", [HUGE, "1000000.01", "99999999999999.99"])
def test_a_damage_fee_above_the_ceiling_is_a_form_error_over_http(staff_client, on_road, fee):
    before = ledger_snapshot(on_road)

    response = staff_client.post(
        admin_url("return", on_road),
        {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": on_road.pickup_location_id,
            "damage_fee": fee,
            "_confirm": "1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "The amount can't be more than ¥1,000,000.00." in _page_error(response)
    assert ledger_snapshot(on_road) == before


@pytest.mark.parametrize("fee", NOT_PLAIN)
def test_a_damage_fee_that_is_not_a_plain_decimal_is_a_form_error(staff_client, on_road, fee):
    before = ledger_snapshot(on_road)

    response = staff_client.post(
        admin_url("return", on_road),
        {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": on_road.pickup_location_id,
            "damage_fee": fee,
            "_confirm": "1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert response.context["form"].errors["damage_fee"]
    assert ledger_snapshot(on_road) == before


def test_the_service_refuses_a_damage_fee_above_the_ceiling(on_road, staff_user):
    with pytest.raises(RentalError) as caught:
        process_return(
            rental=on_road,
            returned_at=NOW,
            location=on_road.pickup_location,
            damage_fee=Decimal(HUGE),
            by_user=staff_user,
        )
    assert caught.value.code == "fee_too_large"
    on_road.refresh_from_db()
    assert on_road.status == Rental.Status.ONGOING and on_road.damage_fee == Decimal("0.00")


def test_the_service_refuses_a_damage_fee_that_lifts_the_order_total_above_the_ceiling(on_road, staff_user):
    # 2,900 already on the order; 999,000 of damage stays under the fee ceiling
    # but the order total would be 1,001,900.
    with pytest.raises(RentalError) as caught:
        process_return(
            rental=on_road,
            returned_at=NOW,
            location=on_road.pickup_location,
            damage_fee=Decimal("999000.00"),
            by_user=staff_user,
        )
    assert caught.value.code == "order_total_too_large"
    assert "¥1,000,000.00" in caught.value.messages[0]
    on_road.refresh_from_db()
    assert on_road.status == Rental.Status.ONGOING


def test_a_damage_fee_that_lifts_the_order_total_above_the_ceiling_is_shown_on_the_page(staff_client, on_road):
    before = ledger_snapshot(on_road)

    response = staff_client.post(
        admin_url("return", on_road),
        {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": on_road.pickup_location_id,
            "damage_fee": "999000.00",
            "_confirm": "1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "With these fees the order total would be more than ¥1,000,000.00." in response.content.decode()
    assert ledger_snapshot(on_road) == before


def test_a_damage_fee_up_to_the_ceiling_is_taken(on_road, staff_user, assert_ledger, time_machine):
    # back on time: an early return would lower the rent (§19) and the total with it
    time_machine.move_to(on_road.end_time, tick=False)
    process_return(
        rental=on_road,
        returned_at=on_road.end_time,
        location=on_road.pickup_location,
        damage_fee=Decimal("997100.00"),
        by_user=staff_user,
    )
    on_road.refresh_from_db()
    assert on_road.order_total == Decimal("1000000.00")
    # completed: owes the total less the 2,000 deposit; 2,900 was paid
    assert on_road.money_figures().remaining == Decimal("995100.00")
    assert_ledger(on_road)


def test_the_customer_pays_the_largest_allowed_damage_fee_by_callback(client, on_road, staff_user, assert_ledger):
    """The original failure: the charge for a huge damage fee got a signed
    success callback answered 500. At the ceiling it goes through."""
    from accounts.models import Payment
    from accounts.services import start_payment
    from accounts.tests.payment_support import deliver, success_payload

    process_return(
        rental=on_road,
        returned_at=NOW,
        location=on_road.pickup_location,
        damage_fee=Decimal("997100.00"),
        by_user=staff_user,
    )
    charge = start_payment(rental=on_road, method=Payment.Method.ALIPAY, user=on_road.customer.user)

    response = deliver(client, success_payload(charge))

    assert response.status_code == 200
    on_road.refresh_from_db()
    assert on_road.money_figures().remaining == Decimal("0.00")
    assert_ledger(on_road)


# --- cancellation fee ---------------------------------------------------------------------


def test_a_cancellation_fee_above_the_ceiling_is_a_form_error_over_http(staff_client, on_road):
    before = ledger_snapshot(on_road)
    response = staff_client.post(
        admin_url("cancel", on_road), {"reason": "No-show", "cancellation_fee": HUGE}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert response.context["form"].errors["cancellation_fee"]
    assert ledger_snapshot(on_road) == before


def test_a_cancellation_fee_written_with_an_exponent_is_a_form_error(staff_client, on_road):
    before = ledger_snapshot(on_road)
    response = staff_client.post(admin_url("cancel", on_road), {"reason": "No-show", "cancellation_fee": "1e3"})
    assert response.status_code == 200
    assert response.context["form"].errors["cancellation_fee"]
    assert ledger_snapshot(on_road) == before


def test_the_service_refuses_a_cancellation_fee_above_the_ceiling(on_road, staff_user):
    with pytest.raises(RentalError) as caught:
        cancel_rental(rental=on_road, reason="No-show", by_user=staff_user, cancellation_fee=Decimal(HUGE))
    assert caught.value.code == "fee_too_large"
    on_road.refresh_from_db()
    assert on_road.status == Rental.Status.ONGOING


# --- counter payment and manual refund ------------------------------------------------------


def test_a_counter_payment_above_the_ceiling_is_a_form_error_over_http(staff_client, frozen, vehicle, customer):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))
    before = ledger_snapshot(rental)
    for amount in (HUGE, "1e3", "nan", "1000.005"):
        response = staff_client.post(admin_url("payment", rental), {"method": "CASH", "amount": amount})
        assert response.status_code == 200, amount
        assert response.context["form"].errors["amount"], amount
    assert ledger_snapshot(rental) == before


def test_the_service_refuses_a_counter_payment_above_the_ceiling(frozen, vehicle, customer, staff_user):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))
    with pytest.raises(PaymentError) as caught:
        record_counter_payment(rental=rental, amount=Decimal(HUGE), method="CASH", by_user=staff_user)
    assert caught.value.code == "amount_too_large"
    assert not rental.payments.exists()


def test_a_manual_refund_above_the_ceiling_is_a_form_error_over_http(staff_client, on_road):
    before = ledger_snapshot(on_road)
    for amount in (HUGE, "1e3", "-inf"):
        response = staff_client.post(
            admin_url("refund", on_road), {"amount": amount, "reason": "Goodwill", "goodwill": "on"}
        )
        assert response.status_code == 200, amount
        assert response.context["form"].errors["amount"], amount
    assert ledger_snapshot(on_road) == before


def test_the_service_refuses_a_manual_refund_above_the_ceiling(on_road, staff_user):
    with pytest.raises(RefundError) as caught:
        record_manual_refund(rental=on_road, amount=Decimal(HUGE), reason="Goodwill", by_user=staff_user)
    assert caught.value.code == "amount_too_large"
    assert not on_road.payments.filter(transaction_type="REFUND").exists()


# --- booking horizon --------------------------------------------------------------------


def test_a_booking_far_in_the_future_is_refused_over_http(client, frozen, customer, vehicle):
    client.force_login(customer.user)
    start = datetime(9999, 12, 30, 10, 0, tzinfo=SHANGHAI)

    response = client.post(
        reverse("rentals:new", args=[vehicle.pk]),
        {
            "start_time": "9999-12-30T10:00",
            "end_time": "9999-12-31T10:00",
            "pickup_location": vehicle.location_id,
            "return_location": vehicle.location_id,
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "A booking can start at most 180 days ahead." in response.content.decode()
    assert not Rental.objects.filter(start_time=start).exists()
    assert not Rental.objects.exists()


def test_the_horizon_is_read_from_the_setting(frozen, customer, vehicle, settings):
    settings.BOOKING_HORIZON_DAYS = 10
    validate_booking_times(NOW + timedelta(days=10), NOW + timedelta(days=11))
    with pytest.raises(RentalError) as caught:
        create_rental(
            customer=customer,
            vehicle=vehicle,
            start_time=NOW + timedelta(days=10, minutes=1),
            end_time=NOW + timedelta(days=12),
            pickup_location=vehicle.location,
        )
    assert caught.value.code == "beyond_horizon"
    assert not Rental.objects.exists()


def test_a_booking_at_the_horizon_is_taken(frozen, customer, vehicle):
    rental = create_rental(
        customer=customer,
        vehicle=vehicle,
        start_time=NOW + timedelta(days=180),
        end_time=NOW + timedelta(days=182),
        pickup_location=vehicle.location,
    )
    assert rental.pk is not None


# --- admin date filters -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/admin/rentals/rental/?start_time__year=9999",
        "/admin/rentals/rental/?start_time__year=9999&start_time__month=12",
        "/admin/rentals/rental/?start_time__year=9999&start_time__month=12&start_time__day=31",
        "/admin/rentals/rental/?start_time__year=1",
        "/admin/rentals/rental/?start_time__gte=0001-01-01",
        "/admin/rentals/rental/?start_time__lt=9999-12-31+23:59:59",
        "/admin/rentals/rental/?payments__paid_at__gte=0001-01-01",
        "/admin/accounts/payment/?created_at__year=9999",
        "/admin/accounts/payment/?created_at__year=9999&created_at__month=12",
        "/admin/accounts/paymentevent/?created_at__year=9999",
        "/admin/accounts/callbackreceipt/?created_at__gte=0001-01-01",
        "/admin/rentals/rentalevent/?created_at__year=9999",
    ],
)
def test_an_out_of_range_date_in_an_admin_filter_is_ignored_with_a_message(staff_client, frozen, url):
    RentalFactory(start_time=NOW + timedelta(days=2))

    response = staff_client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("is outside 2000-01-01 – 2026-09-06 and was ignored" in m for m in shown), shown


def test_a_date_filter_within_bounds_still_filters(staff_client, frozen):
    soon = RentalFactory(start_time=NOW + timedelta(days=2))
    later = RentalFactory(start_time=datetime(2026, 8, 5, 10, 0, tzinfo=SHANGHAI))

    response = staff_client.get("/admin/rentals/rental/?start_time__year=2026&start_time__month=8")

    assert response.status_code == 200
    assert [r.pk for r in response.context["cl"].result_list] == [later.pk]
    assert not list(response.context["messages"])
    assert soon.pk not in [r.pk for r in response.context["cl"].result_list]


def test_a_booking_one_second_past_the_default_horizon_is_refused(frozen, customer, vehicle):
    """180 days ahead at most and 90 days long at most: every refund of the
    booking's money falls due inside WeChat Pay's 365-day refund window (SPEC §17)."""
    with pytest.raises(RentalError) as caught:
        create_rental(
            customer=customer,
            vehicle=vehicle,
            start_time=NOW + timedelta(days=180, seconds=1),
            end_time=NOW + timedelta(days=182),
            pickup_location=vehicle.location,
        )
    assert caught.value.code == "beyond_horizon"
    assert not Rental.objects.exists()


def test_the_longest_booking_is_read_from_the_setting(frozen, customer, vehicle, settings):
    start = NOW + timedelta(days=1)
    validate_booking_times(start, start + timedelta(days=90))
    with pytest.raises(RentalError) as caught:
        validate_booking_times(start, start + timedelta(days=90, seconds=1))
    assert caught.value.code == "too_long"
    settings.MAX_RENTAL_DAYS = 7
    with pytest.raises(RentalError) as caught:
        create_rental(
            customer=customer,
            vehicle=vehicle,
            start_time=start,
            end_time=start + timedelta(days=8),
            pickup_location=vehicle.location,
        )
    assert caught.value.code == "too_long"
    assert "7" in str(caught.value)
    assert not Rental.objects.exists()
