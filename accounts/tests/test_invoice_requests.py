"""E-invoice requests by the customer (SPEC §20): which orders may ask, the
amount (what the company kept), the form's checks, one request per order,
editable until issued."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import InvoiceRequest, Payment
from accounts.services import invoices
from accounts.tests.factories import RefundFactory
from accounts.tests.invoice_support import (
    CREDIT_CODE,
    cancelled_with_fee,
    company_form,
    completed_with_fees,
    net_of_refunds,
)
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.tests.admin_support import NOW, pay
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db


def invoice_url(rental) -> str:
    return reverse("accounts:invoice_request", args=[rental.pk])


@pytest.fixture
def completed(frozen, vehicle, customer, staff_user):
    return completed_with_fees(vehicle=vehicle, customer=customer, staff=staff_user)


@pytest.fixture
def customer_client(client, customer):
    client.force_login(customer.user)
    return client


# --- the amount: what the company kept ----------------------------------------------


def test_a_completed_order_with_fees_invoices_rent_and_fees_not_the_deposit(customer_client, completed):
    response = customer_client.post(invoice_url(completed), company_form())

    assert response.status_code == 302
    invoice = InvoiceRequest.objects.get(rental=completed)
    # ¥600 rent + ¥450 overdue + ¥200 damage; the ¥1,350 rest of the deposit went back
    assert invoice.amount == Decimal("1250.00") == net_of_refunds(completed)
    assert (invoice.status, invoice.tax_id, invoice.title_type) == ("REQUESTED", CREDIT_CODE, "COMPANY")


def test_a_cancelled_order_with_a_partial_refund_invoices_the_fee(
    frozen, customer_client, vehicle, customer, staff_user
):
    rental = cancelled_with_fee(vehicle=vehicle, customer=customer, staff=staff_user, fee="300.00")

    customer_client.post(invoice_url(rental), company_form())

    assert InvoiceRequest.objects.get(rental=rental).amount == Decimal("300.00") == net_of_refunds(rental)


def test_a_refund_in_flight_is_not_kept(frozen, settings, customer_client, vehicle, customer, staff_user):
    settings.PAYMENT_SANDBOX_REFUND_OUTCOME = "hold"
    rental = cancelled_with_fee(vehicle=vehicle, customer=customer, staff=staff_user, fee="250.00")
    assert rental.payments.filter(transaction_type="REFUND", status__in=Payment.OPEN_STATUSES).exists()

    customer_client.post(invoice_url(rental), company_form())

    assert InvoiceRequest.objects.get(rental=rental).amount == Decimal("250.00")


def test_a_refund_still_due_is_not_kept(frozen, customer_client, customer, vehicle):
    # a cancelled order whose ¥2,900 was paid and nothing refunded yet, fee ¥100
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    pay(rental, rental.order_total)
    Rental.objects.filter(pk=rental.pk).update(status="CANCELLED", cancellation_fee=Decimal("100.00"))
    rental.refresh_from_db()

    customer_client.post(invoice_url(rental), company_form())

    assert InvoiceRequest.objects.get(rental=rental).amount == Decimal("100.00")


def test_the_amount_is_read_again_at_each_save(customer_client, completed):
    customer_client.post(invoice_url(completed), company_form())
    RefundFactory(rental=completed, amount=Decimal("250.00"), goodwill_amount=Decimal("250.00"))
    completed.refresh_financials()

    customer_client.post(invoice_url(completed), company_form(email="other@example.com"))

    invoice = InvoiceRequest.objects.get(rental=completed)
    assert (invoice.amount, invoice.email) == (Decimal("1000.00"), "other@example.com")


# --- which orders may ask ------------------------------------------------------------


def test_an_open_order_has_no_invoice_card_and_no_form(frozen, customer_client, customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    pay(rental, rental.order_total)

    page = customer_client.get(rental.get_absolute_url())
    assert 'id="invoice"' not in page.content.decode()
    response = customer_client.post(invoice_url(rental), company_form())

    assert response.status_code == 302
    assert not InvoiceRequest.objects.exists()


def test_a_cancelled_order_with_nothing_kept_cannot_ask(frozen, customer_client, vehicle, customer, staff_user):
    rental = cancelled_with_fee(vehicle=vehicle, customer=customer, staff=staff_user, fee="0")
    assert net_of_refunds(rental) == 0

    page = customer_client.get(rental.get_absolute_url())
    assert 'id="invoice"' not in page.content.decode()
    assert customer_client.post(invoice_url(rental), company_form()).status_code == 302
    assert not InvoiceRequest.objects.exists()
    with pytest.raises(ValidationError, match="已完成或已取消"):
        invoices.request_invoice(rental=rental, details=invoices.InvoiceDetails("PERSONAL", "张三", "", "a@b.cn"))


def test_the_order_page_links_the_form_and_then_shows_the_state(customer_client, completed):
    page = customer_client.get(completed.get_absolute_url()).content.decode()
    assert f'href="{invoice_url(completed)}"' in page
    assert 'data-invoice-status="NONE"' in page

    customer_client.post(invoice_url(completed), company_form())

    page = customer_client.get(completed.get_absolute_url()).content.decode()
    assert 'data-invoice-status="REQUESTED"' in page
    assert "已申请" in page and "¥1,250.00" in page and CREDIT_CODE in page


def test_another_customers_order_is_a_404(client, completed):
    client.force_login(CustomerFactory().user)

    assert client.get(invoice_url(completed)).status_code == 404
    assert client.post(invoice_url(completed), company_form()).status_code == 404
    assert not InvoiceRequest.objects.exists()


def test_the_form_needs_its_csrf_token(customer, completed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer.user)

    assert client.post(invoice_url(completed), company_form()).status_code == 403
    assert not InvoiceRequest.objects.exists()


# --- the form ------------------------------------------------------------------------


def test_a_personal_invoice_needs_no_tax_id_and_drops_one_given(customer_client, completed):
    response = customer_client.post(
        invoice_url(completed), {"title_type": "PERSONAL", "title": "张三", "tax_id": "whatever", "email": "z@ex.cn"}
    )

    assert response.status_code == 302
    invoice = InvoiceRequest.objects.get(rental=completed)
    assert (invoice.title_type, invoice.title, invoice.tax_id) == ("PERSONAL", "张三", "")


def test_a_lower_case_code_is_stored_upper_case(customer_client, completed):
    customer_client.post(invoice_url(completed), company_form(tax_id=" 91350100m000100y43 "))

    assert InvoiceRequest.objects.get(rental=completed).tax_id == CREDIT_CODE


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (company_form(tax_id=""), "tax_id"),
        (company_form(tax_id="91350100M000100Y44"), "tax_id"),  # wrong check character
        (company_form(tax_id="91350100M000100Y4"), "tax_id"),  # 17 characters
        (company_form(tax_id="91350100M000100O43"), "tax_id"),  # O is not used
        (company_form(title="A" * 101), "title"),
        (company_form(title=" "), "title"),
        (company_form(title="公司\x00名"), "title"),
        (company_form(email="not an email"), "email"),
        (company_form(title_type="GOVERNMENT"), "title_type"),
    ],
)
def test_absurd_input_is_refused_with_the_form_errors(customer_client, completed, data, field):
    response = customer_client.post(invoice_url(completed), data)

    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not InvoiceRequest.objects.exists()


def test_the_credit_code_error_names_the_check_character(customer_client, completed):
    response = customer_client.post(invoice_url(completed), company_form(tax_id="91350100M000100Y44"))

    assert "校验码" in response.content.decode()


# --- one per order, editable until issued ------------------------------------------------


def test_one_request_per_order_in_the_database(completed):
    details = invoices.InvoiceDetails("PERSONAL", "张三", "", "z@ex.cn")
    invoices.request_invoice(rental=completed, details=details)
    invoices.request_invoice(rental=completed, details=details)
    assert InvoiceRequest.objects.filter(rental=completed).count() == 1

    with pytest.raises(IntegrityError), transaction.atomic():
        InvoiceRequest.objects.create(
            rental=completed, title_type="PERSONAL", title="李四", email="l@ex.cn", amount=Decimal("1.00")
        )


def test_a_requested_invoice_can_be_changed(customer_client, completed):
    customer_client.post(invoice_url(completed), company_form())
    response = customer_client.post(
        invoice_url(completed), {"title_type": "PERSONAL", "title": "张三", "email": "z@ex.cn"}
    )

    assert response.status_code == 302
    invoice = InvoiceRequest.objects.get(rental=completed)
    assert (invoice.title_type, invoice.tax_id, invoice.status) == ("PERSONAL", "", "REQUESTED")


def test_an_issued_invoice_is_read_only(customer_client, completed, staff_user):
    customer_client.post(invoice_url(completed), company_form())
    invoice = InvoiceRequest.objects.get(rental=completed)
    invoices.issue_invoice(
        invoice_id=invoice.pk, invoice_number="26310000000012345678", issued_at=NOW, by_user=staff_user
    )

    page = customer_client.get(invoice_url(completed))
    assert page.status_code == 200
    assert 'id="invoice-form"' not in page.content.decode()
    assert 'id="invoice-issued"' in page.content.decode()
    response = customer_client.post(invoice_url(completed), company_form(title="别的公司"))

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.title, invoice.status) == ("福州某某科技有限公司", "ISSUED")
    order_page = customer_client.get(completed.get_absolute_url()).content.decode()
    assert 'data-invoice-status="ISSUED"' in order_page and "26310000000012345678" in order_page
    assert 'id="invoice-button"' not in order_page
    with pytest.raises(ValidationError, match="发票已开具"):
        invoices.request_invoice(rental=completed, details=invoices.InvoiceDetails("PERSONAL", "张三", "", "z@ex.cn"))


def test_a_rejected_invoice_can_be_corrected_and_asked_again(customer_client, completed, staff_user):
    customer_client.post(invoice_url(completed), company_form(title="错的抬头"))
    invoice = InvoiceRequest.objects.get(rental=completed)
    invoices.reject_invoice(invoice_id=invoice.pk, reason="抬头与税号不符", by_user=staff_user)
    page = customer_client.get(completed.get_absolute_url()).content.decode()
    assert 'data-invoice-status="REJECTED"' in page and "抬头与税号不符" in page

    response = customer_client.post(invoice_url(completed), company_form())

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.reject_reason, invoice.title) == ("REQUESTED", "", "福州某某科技有限公司")


def test_the_form_starts_with_the_customers_name(customer_client, completed, customer):
    response = customer_client.get(invoice_url(completed))

    assert response.status_code == 200
    assert response.context["form"].initial["title"] == customer.name
    assert "¥1,250.00" in response.content.decode()


def test_the_model_checks_a_company_code(completed):
    invoice = InvoiceRequest(
        rental=completed, title_type="COMPANY", title="某公司", tax_id="91350100M000100Y44", email="a@b.cn", amount=1
    )
    with pytest.raises(ValidationError, match="tax_id"):
        invoice.full_clean()
    assert timezone.now() - invoice.created_at < timedelta(seconds=5)
