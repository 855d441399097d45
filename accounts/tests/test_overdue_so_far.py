"""SPEC §16 "overdue so far": an overdue order shows the late fee accrued so
far as owed, with an overdue badge, on every page; nothing of it is stored."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from rentals.models import Rental
from rentals.tests.admin_support import NOW, ongoing_rental

pytestmark = pytest.mark.django_db

# Three days from NOW − 3 days − 26 h at ¥300 a day: at NOW the car is 26 h
# late, two started days × 300 × 1.5 = 900 so far. Paid 2,900 in full.
START = NOW - timedelta(days=3, hours=26)


@pytest.fixture
def overdue(frozen, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=START)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    rental.refresh_from_db()
    return rental


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


def test_fee_so_far_follows_the_section_4_rule_with_now_as_the_return_time(overdue):
    end = overdue.end_time
    assert overdue.overdue_fee_so_far() == Decimal("900.00")
    assert overdue.overdue_fee_so_far(now=end + timedelta(minutes=50)) == Decimal("0.00")  # within the grace
    assert overdue.overdue_fee_so_far(now=end + timedelta(minutes=61)) == Decimal("450.00")
    assert overdue.overdue_fee_so_far(now=end + timedelta(days=2, minutes=1)) == Decimal("1350.00")


def test_only_an_overdue_order_accrues_a_fee_so_far(frozen, vehicle, customer):
    ongoing = ongoing_rental(vehicle=vehicle, customer=customer, start=START)  # stored ONGOING
    assert ongoing.overdue_fee_so_far() == Decimal("0.00")


def test_nothing_of_the_fee_so_far_is_stored(overdue, time_machine):
    assert overdue.refresh_financials() is False
    time_machine.move_to(NOW + timedelta(days=5), tick=False)
    overdue.refresh_from_db()
    assert overdue.refresh_financials() is False
    assert overdue.overdue_fee == Decimal("0.00")
    assert overdue.settlement_status == Rental.SettlementStatus.PARTIAL


def test_order_page_shows_the_fee_so_far_and_an_overdue_badge(customer_client, overdue):
    body = customer_client.get(overdue.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<span class="badge text-bg-danger" data-payment-badge="overdue">Overdue: ¥900.00 so far</span>' in body
    assert "Paid in full" not in body
    assert '<td class="text-end" data-summary="overdue_so_far">¥900.00</td>' in body
    # the deposit in hand covers it: nothing beyond it is owed
    assert '<td class="text-end" data-summary="overdue_from_deposit">¥900.00</td>' in body
    assert '<td class="text-end" data-summary="due_at_return_so_far">¥0.00</td>' in body
    assert "The overdue fee so far is ¥900.00" in body
    assert 'id="pay-button"' not in body  # nothing is payable before the return


def test_order_page_in_chinese(customer_client, overdue):
    body = customer_client.get(overdue.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'data-payment-badge="overdue">已逾期：截至目前 ¥900.00</span>' in body
    assert "已付清" not in body
    assert "截至目前从押金扣除" in body and "截至目前待支付金额" not in body


def test_my_orders_shows_the_fee_so_far(customer_client, overdue):
    response = customer_client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="en")
    [row] = response.context["rows"]
    assert row.badge == "overdue"
    assert (row.overdue_so_far, row.remaining_so_far) == (Decimal("900.00"), Decimal("900.00"))
    body = response.content.decode()
    assert 'to pay so far <span class="fw-semibold text-danger" data-remaining-so-far="900.00">¥900.00</span>' in body
    assert "Overdue fee so far ¥900.00" in body


def test_consumption_report_counts_the_fee_so_far_as_still_to_pay(customer_client, overdue):
    response = customer_client.get(reverse("accounts:consumption_report"), HTTP_ACCEPT_LANGUAGE="en")
    totals = response.context["report"]["totals"]
    assert totals["remaining"] == Decimal("900.00")
    assert totals["overdue_so_far"] == Decimal("900.00")
    body = response.content.decode()
    assert "Still to pay so far" in body
    assert '<div class="fs-5 fw-semibold text-danger" data-total="remaining">¥900.00</div>' in body
    assert "incl. overdue fee so far ¥900.00" in body
    assert '<td class="text-end" data-figure="overdue_so_far">¥900.00</td>' in body


def test_admin_list_shows_still_owed_so_far(client, staff_user, overdue):
    client.force_login(staff_user)
    body = client.get(reverse("admin:rentals_rental_changelist"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<span class="owed-so-far">¥900.00</span><br><small>so far, incl. overdue fee ¥900.00</small>' in body


def test_a_partly_paid_overdue_order_owes_its_balance_plus_the_fee_so_far(customer_client, frozen, vip_customer):
    from vehicles.tests.factories import VehicleFactory

    # a VIP (no deposit) paid 700 of 765: 65 still owed, plus 900 so far
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    rental = ongoing_rental(vehicle=car, customer=vip_customer, start=START, paid=Decimal("700.00"))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    customer_client.force_login(vip_customer.user)
    row = customer_client.get(reverse("accounts:orders")).context["rows"][0]
    assert row.figures.remaining == Decimal("65.00")
    assert row.remaining_so_far == Decimal("965.00")


@pytest.mark.parametrize("overdue_orders", [1, 2, 3])
def test_report_totals_count_the_fee_so_far_of_every_overdue_order(
    customer_client, frozen, vehicle, customer, overdue_orders
):
    """One overdue order is read with the totals; several take one more query
    (one row each); the totals equal the rows either way."""
    from rentals.services import refresh_statuses_if_due

    for i in range(overdue_orders):
        rental = ongoing_rental(vehicle=vehicle, customer=customer, start=START - timedelta(days=i))
        Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=1))  # not late
    refresh_statuses_if_due()
    report = customer_client.get(reverse("accounts:consumption_report")).context["report"]
    fees = [row.overdue_so_far for row in report["rows"]]
    assert sum(1 for fee in fees if fee) == overdue_orders
    assert report["totals"]["overdue_so_far"] == sum(fees)
    assert report["totals"]["remaining"] == sum(row.remaining_so_far for row in report["rows"])
    # 900 for the first, then 900 + 450 a day more late each
    assert report["totals"]["overdue_so_far"] == sum(
        Decimal("900.00") + Decimal("450.00") * i for i in range(overdue_orders)
    )
