"""Staff pages on a rental, driven through the admin's HTTP views."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Payment, PaymentEvent
from rentals.models import Rental, RentalEvent
from rentals.tests.admin_support import NOW, PICKUP_CHECK, RETURN_CHECK, admin_url, ledger_snapshot, ongoing_rental, pay
from rentals.tests.factories import RentalFactory
from vehicles.models import Vehicle

pytestmark = pytest.mark.django_db


def local_input(dt) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def late_rental(frozen, vehicle, customer):
    """Three days from NOW − 3 days − 26 h: returning at NOW is 26 h late. Paid 2,900."""
    return ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3, hours=26))


# --- return ------------------------------------------------------------------------


def test_return_form_defaults_to_now_in_shanghai_and_the_planned_store(staff_client, late_rental):
    response = staff_client.get(admin_url("return", late_rental), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["returned_at"] == "2026-03-10T10:00"
    assert form.initial["location"] == late_rental.return_location_id
    assert b'name="_confirm"' not in response.content  # confirm only after a preview


def test_return_preview_shows_the_fees_and_writes_nothing(staff_client, late_rental, other_location, assert_ledger):
    before = ledger_snapshot(late_rental)

    response = staff_client.post(
        admin_url("return", late_rental),
        {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": other_location.pk,
            "damage_fee": "300.00",
            "note": "scratch on the rear door",
            "_preview": "1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    preview = response.context["preview"]
    assert preview.overdue_fee == Decimal("900.00")  # 2 started days × 300 × 1.5
    assert preview.cross_location_fee == Decimal("200.00")
    assert preview.damage_fee == Decimal("300.00")
    assert preview.deposit_refund == Decimal("600.00")  # 2,900 − (900 + 900 + 200 + 300)
    assert preview.still_owed == Decimal("0.00")
    assert b'id="preview-deposit-refund" data-amount="600.00"' in response.content
    assert b'name="_confirm"' in response.content
    assert ledger_snapshot(late_rental) == before
    assert_ledger(late_rental)


def test_return_with_late_one_way_and_damage_fees(staff_client, staff_user, late_rental, other_location, assert_ledger):
    response = staff_client.post(
        admin_url("return", late_rental),
        {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": other_location.pk,
            "damage_fee": "300.00",
            "note": "scratch on the rear door",
            "_confirm": "1",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"/admin/rentals/rental/{late_rental.pk}/change/"
    late_rental.refresh_from_db()
    assert late_rental.status == Rental.Status.COMPLETED
    assert late_rental.actual_return_time == NOW
    assert late_rental.actual_return_location == other_location
    assert late_rental.overdue_fee == Decimal("900.00")
    assert late_rental.cross_location_fee == Decimal("200.00")
    assert late_rental.damage_fee == Decimal("300.00")
    assert late_rental.return_note == "scratch on the rear door"
    refund = Payment.objects.get(rental=late_rental, transaction_type=Payment.TransactionType.REFUND)
    assert (refund.amount, refund.status) == (Decimal("600.00"), Payment.Status.REFUNDED)
    assert late_rental.settlement_status == Rental.SettlementStatus.SETTLED
    vehicle = Vehicle.objects.get(pk=late_rental.vehicle_id)
    assert (vehicle.status, vehicle.location_id) == (Vehicle.Status.AVAILABLE, other_location.pk)
    event = RentalEvent.objects.get(rental=late_rental, event="returned")
    assert event.actor == staff_user
    assert_ledger(late_rental)


def test_return_that_leaves_money_owed(staff_client, frozen, vehicle, vip_customer, assert_ledger):
    # given a VIP (no deposit) who paid 765 and is 26 h late
    rental = ongoing_rental(vehicle=vehicle, customer=vip_customer, start=NOW - timedelta(days=3, hours=26))
    assert rental.amount_paid == Decimal("765.00")

    response = staff_client.post(
        admin_url("return", rental),
        {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": rental.pickup_location_id,
            "damage_fee": "0",
            "_confirm": "1",
        },
    )

    assert response.status_code == 302
    rental.refresh_from_db()
    assert rental.status == Rental.Status.COMPLETED
    assert rental.money_figures().remaining == Decimal("900.00")
    assert rental.settlement_status == Rental.SettlementStatus.PARTIAL
    assert not rental.payments.filter(transaction_type=Payment.TransactionType.REFUND).exists()
    assert_ledger(rental)


def test_return_service_error_is_shown_and_nothing_changes(staff_client, late_rental, assert_ledger):
    before = ledger_snapshot(late_rental)
    before_pickup = late_rental.picked_up_at - timedelta(hours=1)

    response = staff_client.post(
        admin_url("return", late_rental),
        {
            **RETURN_CHECK,
            "returned_at": local_input(before_pickup),
            "location": late_rental.pickup_location_id,
            "damage_fee": "0",
            "_confirm": "1",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "The return time can&#x27;t be before the pick-up." in response.content.decode()
    assert ledger_snapshot(late_rental) == before
    assert_ledger(late_rental)


def test_negative_damage_fee_is_a_form_error(staff_client, late_rental):
    before = ledger_snapshot(late_rental)

    response = staff_client.post(
        admin_url("return", late_rental),
        {
            **RETURN_CHECK,
            "returned_at": "2026-03-10T10:00",
            "location": late_rental.pickup_location_id,
            "damage_fee": "-5",
            "_confirm": "1",
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["damage_fee"]
    assert ledger_snapshot(late_rental) == before


def test_return_page_is_offered_only_for_cars_on_the_road(staff_client, frozen, vehicle, customer):
    pending = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))

    response = staff_client.get(admin_url("return", pending))
    change = staff_client.get(f"/admin/rentals/rental/{pending.pk}/change/")

    assert response.status_code == 302
    assert [a["key"] for a in change.context["rental_actions"]] == ["pickup", "payment", "cancel"]
    pending.refresh_from_db()
    assert pending.status == Rental.Status.PENDING


# --- pick-up -----------------------------------------------------------------------


def test_pickup_hands_the_car_over(staff_client, staff_user, frozen, vehicle, customer, assert_ledger):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(minutes=30))
    pay(rental, rental.order_total)

    confirm_page = staff_client.get(admin_url("pickup", rental))
    response = staff_client.post(admin_url("pickup", rental), {**PICKUP_CHECK, "_confirm": "1"})

    assert confirm_page.status_code == 200
    assert response.status_code == 302
    rental.refresh_from_db()
    assert rental.status == Rental.Status.ONGOING
    assert rental.picked_up_at == NOW
    assert Vehicle.objects.get(pk=vehicle.pk).status == Vehicle.Status.RENTED
    assert RentalEvent.objects.get(rental=rental, event="picked_up").actor == staff_user
    assert_ledger(rental)


def test_pickup_refused_when_the_car_is_out_on_another_rental(staff_client, frozen, vehicle, customer):
    ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=1))
    later = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=5))
    before = ledger_snapshot(later)

    response = staff_client.post(
        admin_url("pickup", later), {**PICKUP_CHECK, "_confirm": "1"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    assert "This car is still out on another rental." in response.content.decode()
    assert ledger_snapshot(later) == before


# --- staff cancel ------------------------------------------------------------------


def test_staff_cancels_an_ongoing_rental_with_a_no_show_fee(
    staff_client, staff_user, frozen, vehicle, customer, assert_ledger
):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))

    response = staff_client.post(
        admin_url("cancel", rental), {"reason": "Customer never came", "cancellation_fee": "300.00", "_confirm": "1"}
    )

    assert response.status_code == 302
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    assert rental.cancel_reason == "Customer never came"
    assert rental.cancellation_fee == Decimal("300.00")
    refund = rental.payments.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("2600.00")  # 2,900 paid − 300 fee
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert Vehicle.objects.get(pk=vehicle.pk).status == Vehicle.Status.AVAILABLE
    assert RentalEvent.objects.get(rental=rental, event="cancelled").actor == staff_user
    assert_ledger(rental)


def test_cancel_needs_a_reason(staff_client, frozen, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))
    before = ledger_snapshot(rental)

    response = staff_client.post(
        admin_url("cancel", rental), {"reason": "   ", "cancellation_fee": "0", "_confirm": "1"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    assert ledger_snapshot(rental) == before


def test_cancel_fee_above_the_order_total_is_refused_by_the_service(
    staff_client, frozen, vehicle, customer, assert_ledger
):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))
    before = ledger_snapshot(rental)

    response = staff_client.post(
        admin_url("cancel", rental),
        {"reason": "No-show", "cancellation_fee": "99999.00", "_confirm": "1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "can&#x27;t exceed the order total" in response.content.decode()
    assert ledger_snapshot(rental) == before
    assert_ledger(rental)


# --- counter payment ---------------------------------------------------------------


def test_counter_payment_defaults_to_the_remaining_amount(staff_client, frozen, vehicle, customer):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))
    pay(rental, Decimal("900.00"))

    response = staff_client.get(admin_url("payment", rental))

    assert response.status_code == 200
    assert response.context["form"].fields["amount"].initial == Decimal("2000.00")


def test_counter_payment_records_a_paid_charge(staff_client, staff_user, frozen, vehicle, customer, assert_ledger):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))

    response = staff_client.post(admin_url("payment", rental), {"method": "CASH", "amount": "2900.00"})

    assert response.status_code == 302
    charge = rental.payments.get()
    assert (charge.status, charge.amount, charge.payment_method) == (
        Payment.Status.PAID,
        Decimal("2900.00"),
        Payment.Method.CASH,
    )
    assert charge.user == customer.user
    assert PaymentEvent.objects.get(payment=charge, event="counter_payment").actor == staff_user
    rental.refresh_from_db()
    assert rental.amount_paid == Decimal("2900.00")
    assert rental.money_figures().remaining == Decimal("0.00")
    assert_ledger(rental)


def test_counter_payment_by_card_terminal_for_part_of_the_amount(
    staff_client, frozen, vehicle, walk_in_customer, assert_ledger
):
    rental = RentalFactory(vehicle=vehicle, customer=walk_in_customer, start_time=NOW + timedelta(days=1))

    response = staff_client.post(admin_url("payment", rental), {"method": "BANK", "amount": "1000"})

    assert response.status_code == 302
    charge = rental.payments.get()
    assert (charge.payment_method, charge.amount, charge.user) == (Payment.Method.BANK, Decimal("1000.00"), None)
    assert_ledger(rental)


def test_counter_payment_above_the_remaining_amount_is_refused(staff_client, frozen, vehicle, customer, assert_ledger):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))
    before = ledger_snapshot(rental)

    response = staff_client.post(admin_url("payment", rental), {"method": "CASH", "amount": "2900.01"})
    online = staff_client.post(admin_url("payment", rental), {"method": "ALIPAY", "amount": "10"})

    assert response.status_code == 200 and response.context["form"].errors["amount"]
    assert online.status_code == 200 and online.context["form"].errors["method"]
    assert ledger_snapshot(rental) == before
    assert_ledger(rental)


# --- manual refund -----------------------------------------------------------------


def test_manual_refund_closes_a_walk_in_order_that_needs_manual_handling(
    staff_client, staff_user, frozen, vehicle, walk_in_customer, assert_ledger
):
    # given a walk-in who paid cash at the counter and cancelled: nobody to refund online
    rental = RentalFactory(vehicle=vehicle, customer=walk_in_customer, start_time=NOW + timedelta(days=1))
    staff_client.post(admin_url("payment", rental), {"method": "CASH", "amount": "2900.00"})
    staff_client.post(
        admin_url("cancel", rental), {"reason": "Plans changed", "cancellation_fee": "0", "_confirm": "1"}
    )
    rental.refresh_from_db()
    assert rental.requires_manual_refund
    assert rental.money_figures().refund_due == Decimal("2900.00")

    form_page = staff_client.get(admin_url("refund", rental))
    response = staff_client.post(
        admin_url("refund", rental), {"amount": "2900.00", "reason": "Cash handed back at the counter"}
    )

    assert form_page.context["form"].fields["amount"].initial == Decimal("2900.00")
    assert response.status_code == 302
    rental.refresh_from_db()
    refund = rental.payments.get(transaction_type=Payment.TransactionType.REFUND)
    assert (refund.amount, refund.status, refund.payment_method, refund.user) == (
        Decimal("2900.00"),
        Payment.Status.REFUNDED,
        Payment.Method.CASH,
        None,
    )
    assert PaymentEvent.objects.get(payment=refund, event="manual_refund").actor == staff_user
    assert not rental.requires_manual_refund
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger(rental)


def test_goodwill_refund_above_what_is_due_needs_the_goodwill_box(
    staff_client, frozen, vehicle, customer, assert_ledger
):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))
    before = ledger_snapshot(rental)

    refused = staff_client.post(admin_url("refund", rental), {"amount": "100.00", "reason": "Dirty car"})
    assert refused.status_code == 200 and refused.context["form"].errors["amount"]
    assert ledger_snapshot(rental) == before

    response = staff_client.post(
        admin_url("refund", rental), {"amount": "100.00", "reason": "Dirty car", "goodwill": "on"}
    )

    assert response.status_code == 302
    refund = rental.payments.get(transaction_type=Payment.TransactionType.REFUND)
    assert refund.amount == Decimal("100.00")
    assert refund.user == customer.user
    assert refund.goodwill_amount == Decimal("100.00")
    rental.refresh_from_db()
    # goodwill lowers what the order owes: it never turns into a debt
    assert rental.money_figures().remaining == Decimal("0.00")
    assert_ledger(rental)


def test_refund_above_net_paid_is_refused_even_as_goodwill(staff_client, frozen, vehicle, customer, assert_ledger):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))
    before = ledger_snapshot(rental)

    response = staff_client.post(
        admin_url("refund", rental), {"amount": "2900.01", "reason": "Too much", "goodwill": "on"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    assert ledger_snapshot(rental) == before
    assert_ledger(rental)


# --- the change page -----------------------------------------------------------------


def test_change_page_shows_read_only_money_and_the_ledger(staff_client, late_rental, django_assert_max_num_queries):
    url = f"/admin/rentals/rental/{late_rental.pk}/change/"

    # session + user, rental, its figures for the buttons, inline payments and
    # events, related choices for the read-only FK displays, permission checks
    with django_assert_max_num_queries(25):
        response = staff_client.get(url, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="amount_paid"' not in content and 'name="total_amount"' not in content
    assert late_rental.payments.get().transaction_id in content
    assert [a["key"] for a in response.context["rental_actions"]] == ["return", "refund", "cancel"]


def test_changelist_search_and_filters(staff_client, late_rental, frozen, vehicle, customer):
    tx = late_rental.payments.get().transaction_id
    other = RentalFactory(customer=customer, start_time=NOW + timedelta(days=1))

    by_tx = staff_client.get("/admin/rentals/rental/", {"q": tx})
    by_plate = staff_client.get("/admin/rentals/rental/", {"q": vehicle.plate_number})
    by_phone = staff_client.get("/admin/rentals/rental/", {"q": customer.phone})
    overdue = staff_client.get("/admin/rentals/rental/", {"overdue": "yes"})
    settled = staff_client.get("/admin/rentals/rental/", {"settlement_status__exact": "UNSETTLED"})
    store = staff_client.get("/admin/rentals/rental/", {"pickup_location__id__exact": other.pickup_location_id})

    def ids(response):
        assert response.status_code == 200
        return {r.pk for r in response.context["cl"].result_list}

    assert ids(by_tx) == {late_rental.pk}
    assert ids(by_plate) == {late_rental.pk}
    assert ids(by_phone) == {late_rental.pk, other.pk}
    assert ids(overdue) == {late_rental.pk}
    assert ids(settled) == {other.pk}
    assert ids(store) == {other.pk}


def test_changelist_query_count_does_not_grow_with_rentals(staff_client, frozen, django_assert_max_num_queries):
    for _ in range(12):
        rental = RentalFactory(start_time=NOW + timedelta(days=1))
        pay(rental, Decimal("100.00"))

    # session + user, count ×2 (filtered and total), the page of rentals with
    # customer/car/store joined, the store filter's choices, date hierarchy
    with django_assert_max_num_queries(10):
        response = staff_client.get("/admin/rentals/rental/")

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 12


@pytest.mark.parametrize("action", ["return", "cancel", "refund"])
def test_staff_pages_render_in_chinese(staff_client, late_rental, action):
    response = staff_client.get(admin_url(action, late_rental), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 200
    assert response.context["LANGUAGE_CODE"] == "zh-hans"
