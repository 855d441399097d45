"""E-invoice requests at once on PostgreSQL (row locks are a no-op on SQLite):
a request is issued once, never both issued and rejected, and two first
requests of one order make one row."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import InvoiceRequest, Notification
from accounts.services import invoices
from accounts.tests.invoice_support import CREDIT_CODE
from accounts.tests.test_payment_races import _run_at_once
from rentals.models import Rental
from rentals.tests.admin_support import ensure_finance_group, pay, staff_in_group
from rentals.tests.factories import RentalFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _finance_group(db):
    ensure_finance_group()


COMPANY = invoices.InvoiceDetails("COMPANY", "福州某某科技有限公司", CREDIT_CODE, "fin@example.com")


@pytest.fixture
def closed_order(customer, vehicle):
    """A cancelled order that kept a ¥300 fee of the ¥2,900 paid (nothing refunded yet)."""
    rental = RentalFactory(customer=customer, vehicle=vehicle, start_time=timezone.now() + timedelta(days=1))
    pay(rental, rental.order_total)
    Rental.objects.filter(pk=rental.pk).update(status=Rental.Status.CANCELLED, cancellation_fee=300)
    rental.refresh_from_db()
    return rental


def _outcome(call):
    try:
        call()
    except ValidationError as error:
        return error.code or "refused"
    return "done"


def test_four_clerks_issuing_one_request_at_once_issue_it_once(closed_order):
    invoice = invoices.request_invoice(rental=closed_order, details=COMPANY)
    clerks = [staff_in_group("finance", username=f"fin{i}") for i in range(4)]

    def work(i):
        return _outcome(
            lambda: invoices.issue_invoice(
                invoice_id=invoice.pk,
                invoice_number=f"2635200000000000000{i}",
                issued_at=timezone.now(),
                by_user=clerks[i],
            )
        )

    results, errors = _run_at_once(4, work)

    assert errors == []
    assert sorted(results) == ["done", "not_pending", "not_pending", "not_pending"]
    invoice.refresh_from_db()
    winner = results.index("done")
    assert (invoice.status, invoice.invoice_number) == ("ISSUED", f"2635200000000000000{winner}")
    assert invoice.handled_by == clerks[winner]
    assert Notification.objects.filter(notification_type=Notification.Type.INVOICE_ISSUED).count() == 1


def test_an_issue_and_a_rejection_at_once_do_one_of_them(closed_order):
    invoice = invoices.request_invoice(rental=closed_order, details=COMPANY)
    clerk = staff_in_group("finance")

    def work(i):
        if i % 2:
            return _outcome(lambda: invoices.reject_invoice(invoice_id=invoice.pk, reason="不符", by_user=clerk))
        return _outcome(
            lambda: invoices.issue_invoice(
                invoice_id=invoice.pk, invoice_number=f"N{i}", issued_at=timezone.now(), by_user=clerk
            )
        )

    results, errors = _run_at_once(4, work)

    assert errors == []
    assert results.count("done") == 1
    invoice.refresh_from_db()
    assert invoice.status in ("ISSUED", "REJECTED")
    assert Notification.objects.filter(kind__startswith="invoice_").count() == 1
    assert (invoice.status == "ISSUED") == (invoice.reject_reason == "")


def test_two_first_requests_at_once_make_one_row(closed_order):
    results, errors = _run_at_once(3, lambda i: invoices.request_invoice(rental=closed_order, details=COMPANY).pk)

    assert errors == []
    assert len(set(results)) == 1
    assert InvoiceRequest.objects.filter(rental=closed_order).count() == 1
    assert InvoiceRequest.objects.get(rental=closed_order).amount == 300
