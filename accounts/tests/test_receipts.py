"""PDF receipts (SPEC §20): every fee, figure and transaction of the order
page, read back out of the PDF; the customer's own orders only; staff print
them from the admin with the permission to read the ledger."""

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from accounts.models import Payment
from accounts.services import record_counter_payment
from car_rental_system.money import format_cny
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.services import cancel_rental, process_return
from rentals.tests.admin_support import NOW, admin_url, ongoing_rental, staff_in_group

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _weasyprint():
    """WeasyPrint loads Pango through cffi: without the system library the
    receipts can't render here (CI and `make test` install it)."""
    try:
        import weasyprint  # noqa: F401
    except OSError as error:
        pytest.skip(f"WeasyPrint can't load the Pango library (apt-get install libpango-1.0-0): {error}")


def pdf_text(response) -> str:
    """The text of a PDF response, pages joined (pypdf)."""
    import pypdf

    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def order_page_facts(client, rental) -> dict:
    """What the order page shows: its fees and figures by name, and its transaction ids."""
    body = client.get(reverse("accounts:order_detail", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    figures = dict(re.findall(r'data-(?:fee|summary)="(\w+)">([^<]+)<', body))
    return {"figures": figures, "transactions": re.findall(r'data-transaction-id="([^"]+)"', body)}


def ledger_figures(rental) -> dict[str, str]:
    """The same figures straight from the ledger, formatted as the pages format them."""
    figures = rental.money_figures()
    breakdown = rental.get_order_amount_breakdown()
    fees = {name: breakdown[name] for name in ("total_amount", "deposit", "cross_location_fee", "order_total")}
    for name in ("overdue_fee", "damage_fee", "cancellation_fee"):
        if breakdown[name]:
            fees[name] = breakdown[name]
    summary = {
        "order_total_amount": figures.order_total,
        "paid_amount": figures.paid,
        "refunded_amount": figures.refunded,
        "net_paid": figures.net_paid,
        "remaining_amount": figures.remaining,
        "refund_due": figures.refund_due,
    }
    if figures.refund_in_flight:
        summary["refund_in_flight"] = figures.refund_in_flight
    return {name: format_cny(value) for name, value in {**fees, **summary}.items()}


def assert_receipt_matches_order_page(client, rental, text: str) -> None:
    rental.refresh_from_db()
    page = order_page_facts(client, rental)
    assert page["figures"] == ledger_figures(rental)
    for name, shown in page["figures"].items():
        assert shown in text, f"{name} {shown} missing from the receipt"
    ledger_ids = list(rental.payments.order_by("created_at", "id").values_list("transaction_id", flat=True))
    assert page["transactions"] == ledger_ids and ledger_ids
    for payment in rental.payments.all():
        assert payment.transaction_id in text
        signed = ("−" if payment.transaction_type == Payment.TransactionType.REFUND else "") + format_cny(
            payment.amount
        )
        assert signed in text, f"{payment.transaction_id} {signed} missing"


def test_receipt_of_a_cancelled_order_with_a_refund(frozen, client, vehicle, customer, staff_user, settings):
    settings.COMPANY_NAME = "申城租车有限公司"
    settings.COMPANY_ADDRESS = "上海市黄浦区人民大道 1 号"
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=2))  # paid ¥2,900
    refund = cancel_rental(rental=rental, reason="No-show", by_user=staff_user, cancellation_fee=Decimal("300.00"))
    refund.refresh_from_db()
    assert refund.status == Payment.Status.REFUNDED and refund.amount == Decimal("2600.00")
    client.force_login(customer.user)

    response = client.get(reverse("accounts:receipt", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    text = pdf_text(response)
    assert response["Cache-Control"] == "private, no-store"
    assert_receipt_matches_order_page(client, rental, text)
    assert "¥300.00" in text  # the cancellation fee
    for fact in (
        "申城租车有限公司",
        "上海市黄浦区人民大道 1 号",
        f"订单 #{rental.pk} 收据",
        customer.name,
        vehicle.plate_number,
        str(rental.pickup_location),
        "取消费",
        "退款",
        "支付宝",
        "结算状态：已结清",
        "No-show",
        "2026-03-10 08:00",  # handed over
        "2026-03-10 10:00",  # cancelled, and the refund's time
    ):
        assert fact in text, fact


def test_receipt_of_a_completed_order_with_fees_in_english(
    frozen, client, vehicle, staff_user, other_location, assert_ledger
):
    customer = CustomerFactory(member_level="SILVER")
    # Three days from four days ago, returned a day late at another store with damage.
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=4), paid=Decimal("1000.00"))
    record_counter_payment(rental=rental, amount=Decimal("500.00"), method=Payment.Method.CASH, by_user=staff_user)
    process_return(
        rental=rental, returned_at=NOW, location=other_location, damage_fee=Decimal("150.00"), by_user=staff_user
    )
    rental.refresh_from_db()
    assert rental.discount_amount > 0 and rental.overdue_fee > 0 and rental.cross_location_fee > 0
    assert_ledger(rental)
    client.force_login(customer.user)

    text = pdf_text(client.get(reverse("accounts:receipt", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en"))

    assert_receipt_matches_order_page(client, rental, text)
    breakdown = rental.get_order_amount_breakdown()
    for amount in (breakdown["base_rent"], breakdown["discount_amount"], breakdown["overdue_fee"]):
        assert format_cny(amount) in text
    figures = rental.money_figures()
    label = Rental.SettlementStatus(figures.settlement_status).label
    for fact in (
        f"Receipt of order #{rental.pk}",
        "Member discount",
        "One-way fee",
        "Overdue fee",
        "Damage fee",
        "Cash",
        f"Settlement status: {label}",
        str(other_location),
    ):
        assert fact in text, fact
    assert "收据" not in text  # all in the reader's language


def test_another_customer_gets_404_and_anonymous_goes_to_login(client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW)
    url = reverse("accounts:receipt", args=[rental.pk])

    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("accounts:login"))

    client.force_login(CustomerFactory().user)
    assert client.get(url).status_code == 404
    assert client.get(reverse("accounts:receipt", args=[rental.pk + 1000])).status_code == 404


def test_order_page_links_to_its_receipt(client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW)
    client.force_login(customer.user)

    body = client.get(reverse("accounts:order_detail", args=[rental.pk])).content.decode()

    assert f'href="{reverse("accounts:receipt", args=[rental.pk])}"' in body
    assert "打印收据" in body


def test_counter_staff_print_the_receipt_from_the_admin(frozen, client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=1))
    clerk = staff_in_group("counter")
    client.force_login(clerk)

    change = client.get(reverse("admin:rentals_rental_change", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert change.status_code == 200
    url = admin_url("receipt", rental)
    assert f'href="{url}" id="rental-receipt"' in change.content.decode()
    assert "打印收据" in change.content.decode()

    text = pdf_text(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
    assert f"Receipt of order #{rental.pk}" in text
    assert rental.payments.get().transaction_id in text
    assert customer.name in text


def test_staff_without_the_ledger_permission_get_403_and_no_button(client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW)
    clerk = staff_in_group("counter")
    # This clerk may see orders but not the ledger (accounts.view_payment).
    clerk.user_permissions.add(*clerk.groups.get().permissions.exclude(codename="view_payment"))
    clerk.groups.clear()
    client.force_login(clerk)

    assert client.get(admin_url("receipt", rental)).status_code == 403
    change = client.get(reverse("admin:rentals_rental_change", args=[rental.pk]))
    assert change.status_code == 200 and 'id="rental-receipt"' not in change.content.decode()
    assert Permission.objects.filter(codename="view_payment", group__name="finance").exists()


def test_non_staff_go_to_the_admin_login(client, vehicle, customer):
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW)
    client.force_login(customer.user)

    response = client.get(admin_url("receipt", rental))

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_receipt_is_not_stored(client, vehicle, customer, tmp_path, settings):
    """Rendered on request: nothing is written to media, and two requests
    for the same order give the current figures each time."""
    settings.MEDIA_ROOT = str(tmp_path)
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW, paid=Decimal("100.00"))
    client.force_login(customer.user)
    url = reverse("accounts:receipt", args=[rental.pk])

    first = pdf_text(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))
    Payment.objects.create(
        rental=rental,
        amount=Decimal("250.00"),
        status=Payment.Status.PAID,
        transaction_type=Payment.TransactionType.CHARGE,
        transaction_id="PAYRECEIPT000000002",
        payment_method=Payment.Method.WECHAT,
        paid_at=NOW,
    )
    rental.refresh_financials()
    second = pdf_text(client.get(url, HTTP_ACCEPT_LANGUAGE="en"))

    assert "PAYRECEIPT000000002" not in first and "PAYRECEIPT000000002" in second
    assert "¥350.00" in second
    assert list(tmp_path.iterdir()) == []


def test_without_pango_the_receipt_says_it_cannot_be_printed(client, vehicle, customer, monkeypatch):
    """Where WeasyPrint can't load its system library, the URL answers 503 with the reason."""
    import builtins

    real_import = builtins.__import__

    def no_pango(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pango)
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW)
    client.force_login(customer.user)

    response = client.get(reverse("accounts:receipt", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert response.status_code == 503
    body = response.content.decode()
    assert "本服务器暂时无法打印收据" in body and "libpango-1.0-0" in body


def test_receipt_of_an_overdue_order_shows_the_fee_so_far_as_the_order_page_does(frozen, client, vehicle, customer):
    # 26 h late at ¥300 a day: two started days × 300 × 1.5 = ¥900 so far, paid ¥2,900 in full.
    rental = ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(days=3, hours=26))
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.OVERDUE)
    client.force_login(customer.user)

    text = pdf_text(client.get(reverse("accounts:receipt", args=[rental.pk]), HTTP_ACCEPT_LANGUAGE="en"))

    page = order_page_facts(client, rental)["figures"]
    # the ¥2,000 deposit covers it: taken from the deposit, nothing beyond
    assert (page["overdue_so_far"], page["overdue_from_deposit"], page["due_at_return_so_far"]) == (
        "¥900.00",
        "¥900.00",
        "¥0.00",
    )
    assert "Overdue fee so far ¥900.00" in text
    assert "Taken from the deposit so far ¥900.00" in text
    assert "Beyond the deposit so far ¥0.00" in text
    assert "Remaining to pay ¥" not in text
