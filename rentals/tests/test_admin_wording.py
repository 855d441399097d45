"""What staff read in the admin: day plurals, audit labels instead of stored
codes, one money format, "paid, order open", and matching action buttons."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import PaymentEvent
from accounts.services import record_payment_event
from rentals.models import Rental
from rentals.services import pickup_rental
from rentals.tests.admin_support import NOW, RETURN_CHECK, admin_url, ongoing_rental, pay, staff_in_group
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/rentals/rental/"


@pytest.fixture
def clerk(time_machine):
    time_machine.move_to(NOW, tick=False)
    return staff_in_group("counter", username="desk")


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


def cell(content: str, rental: Rental, column: str) -> str:
    """The text of one changelist cell of ``rental``'s row."""
    row_start = content.index(f'href="/admin/rentals/rental/{rental.pk}/change/')
    row = content[content.rindex("<tr", 0, row_start) : content.index("</tr>", row_start)]
    match = re.search(rf'<t[dh] class="field-{column}[^"]*">(.*?)</t[dh]>', row, re.S)
    assert match, f"no {column} cell"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


@pytest.mark.parametrize(
    "days, language, text",
    [(1, "en", "(1 day)"), (3, "en", "(3 days)"), (1, "zh-hans", "(1 天)"), (3, "zh-hans", "(3 天)")],
)
def test_rental_length_is_a_proper_plural(clerk_client, vehicle, customer, days, language, text):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=5), days=days)

    content = clerk_client.get(admin_url("return", rental), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    days_text = re.search(r'\(<span id="rental-days">(.*?)</span>\)', content).group(1)
    assert f"({days_text})" == text


def test_money_columns_share_one_format(clerk_client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=5))  # pays 2,900

    content = clerk_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert cell(content, rental, "order_total_display") == "¥2,900.00"
    assert cell(content, rental, "amount_paid_display") == "¥2,900.00"
    assert cell(content, rental, "amount_refunded_display") == "¥0.00"
    assert "2900.00" not in content


def test_money_in_the_change_page_and_its_ledger_inline_is_formatted(clerk_client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=5))

    content = clerk_client.get(reverse("admin:rentals_rental_change", args=[rental.pk])).content.decode()

    assert "¥2,900.00" in content
    assert "2900.00" not in content


def test_a_fully_paid_open_booking_reads_paid_order_open(clerk_client, vehicle, customer):
    paid = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))
    pay(paid, paid.order_total)
    part = RentalFactory(customer=customer, start_time=NOW + timedelta(days=2))
    pay(part, Decimal("100.00"))
    paid.refresh_from_db()

    en = clerk_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    zh = clerk_client.get(CHANGELIST, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert paid.settlement_status == Rental.SettlementStatus.PARTIAL  # the stored value stays
    assert cell(en, paid, "settlement_display") == "Paid, order open"
    assert cell(zh, paid, "settlement_display") == "已付清，订单未结束"
    assert cell(en, part, "settlement_display") == "Partially settled"


def test_events_show_labels_instead_of_codes(clerk_client, clerk, vehicle, customer):
    rental = RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(hours=1))
    pay(rental, rental.order_total)
    rental.events.create(event="created", to_status=Rental.Status.PENDING)
    pickup_rental(rental=rental, by_user=clerk)
    record_payment_event(event="counter_payment", rental=rental, to_status="PAID", actor=clerk)

    content = clerk_client.get(
        reverse("admin:rentals_rental_change", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    events = re.findall(r'<td class="field-event_display">\s*<p>(.*?)</p>', content, re.S)
    assert events == ["Booked", "Car handed over"]
    to_statuses = re.findall(r'<td class="field-to_status_display">\s*<p>(.*?)</p>', content, re.S)
    assert to_statuses == ["Pending pick-up", "Ongoing"]
    actors = re.findall(r'<td class="field-actor_display">\s*<p>(.*?)</p>', content, re.S)
    assert actors == ["—", "desk"]
    assert "Done by" in content and ">Actor<" not in content
    assert ">picked_up<" not in content and ">PENDING<" not in content
    assert "picked_up PENDING" not in content and "→PENDING" not in content  # the rows' titles too

    zh = clerk_client.get(
        reverse("admin:rentals_rental_change", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert re.findall(r'<td class="field-event_display">\s*<p>(.*?)</p>', zh, re.S) == ["已预订", "已交车"]

    event_list = clerk_client.get("/admin/accounts/paymentevent/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Counter payment" in event_list and ">counter_payment<" not in event_list
    assert PaymentEvent.objects.filter(event="counter_payment").exists()


def test_rental_event_list_shows_labels(clerk_client, vehicle, customer):
    rental = RentalFactory(vehicle=vehicle, customer=customer)
    rental.events.create(event="manual_refund_required")

    content = clerk_client.get("/admin/rentals/rentalevent/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Needs a manual refund" in content
    assert ">manual_refund_required<" not in content


def test_preview_and_confirm_buttons_look_the_same(clerk_client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=5))
    post = {
        **RETURN_CHECK,
        "returned_at": "2026-03-10T10:00",
        "location": rental.pickup_location_id,
        "damage_fee": "0",
        "_preview": "1",
    }

    content = clerk_client.post(admin_url("return", rental), post).content.decode()

    preview = re.search(r'<input[^>]*id="return-preview-button"[^>]*>', content).group(0)
    confirm = re.search(r'<input[^>]*id="return-confirm-button"[^>]*>', content).group(0)
    assert re.search(r'class="([^"]*)"', preview).group(1) == re.search(r'class="([^"]*)"', confirm).group(1)
