"""E-invoice requests (SPEC §20): the customer requests and edits, finance
issues or rejects, the customer is told.

Every change runs in one transaction with the order's row locked first and the
request's row after it (the lock order of rentals/locks.py), so a request
and a refund, or two clerks issuing the same request, take turns: a request
is issued once. The amount is the order's ``kept`` figure (accounts.figures)
over its Payment rows, read again under the lock at every save and at issue.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts import figures
from accounts.models import InvoiceRequest, Notification
from accounts.services.notices import notify
from car_rental_system.money import ZERO
from rentals.locks import lock_rental
from rentals.models import Rental

INVOICE_STATUSES = (Rental.Status.COMPLETED, Rental.Status.CANCELLED)


@dataclass(frozen=True)
class InvoiceDetails:
    """What the customer fills in."""

    title_type: str
    title: str
    tax_id: str
    email: str


def kept_amount(rental: Rental) -> Decimal:
    """What the company kept of ``rental``, from its Payment rows."""
    sums = dict(zip(figures.SUM_NAMES, figures.ledger_sums(rental), strict=True))
    return figures.value_of("kept", rental, sums)


def can_request_invoice(rental: Rental) -> bool:
    """A closed order (completed or cancelled) with money kept."""
    return rental.status in INVOICE_STATUSES and kept_amount(rental) > ZERO


def _lock_request(rental_id: int) -> InvoiceRequest | None:
    return InvoiceRequest.objects.select_for_update().filter(rental_id=rental_id).first()


def request_invoice(*, rental: Rental, details: InvoiceDetails) -> InvoiceRequest:
    """Create the order's request, or change it while it is not issued (a
    rejected one is asked again: REQUESTED, its reason cleared)."""
    with transaction.atomic():
        locked = lock_rental(rental.pk)
        amount = kept_amount(locked)
        if locked.status not in INVOICE_STATUSES or amount <= ZERO:
            raise ValidationError(
                _("An invoice can be requested only for a completed or cancelled order with money paid.")
            )
        invoice = _lock_request(locked.pk) or InvoiceRequest(rental=locked)
        if invoice.pk and not invoice.is_editable:
            raise ValidationError(_("The invoice has been issued; it can no longer be changed."))
        invoice.title_type = details.title_type
        invoice.title = details.title
        invoice.tax_id = details.tax_id
        invoice.email = details.email
        invoice.amount = amount
        invoice.status = InvoiceRequest.Status.REQUESTED
        invoice.reject_reason = ""
        invoice.full_clean(exclude=["rental"])
        invoice.save()
        return invoice


def _lock_pending(invoice_id: int) -> tuple[Rental, InvoiceRequest]:
    rental_id = InvoiceRequest.objects.values_list("rental_id", flat=True).get(pk=invoice_id)
    rental = lock_rental(rental_id)
    invoice = InvoiceRequest.objects.select_for_update().get(pk=invoice_id)
    if invoice.status != InvoiceRequest.Status.REQUESTED:
        raise ValidationError(
            _("This request is already %(status)s.") % {"status": invoice.get_status_display()}, code="not_pending"
        )
    return rental, invoice


def issue_invoice(*, invoice_id: int, invoice_number: str, issued_at: datetime, by_user: Any) -> InvoiceRequest:
    """Mark a REQUESTED request ISSUED with its number and date; the customer is told."""
    invoice_number = (invoice_number or "").strip()
    if not invoice_number:
        raise ValidationError(_("Enter the invoice number."), code="number_required")
    with transaction.atomic():
        rental, invoice = _lock_pending(invoice_id)
        if InvoiceRequest.objects.filter(invoice_number=invoice_number).exclude(pk=invoice.pk).exists():
            raise ValidationError(_("Invoice number %(number)s is already used.") % {"number": invoice_number})
        amount = kept_amount(rental)
        if amount <= ZERO:
            raise ValidationError(_("Nothing is kept of this order any more: there is nothing to invoice."))
        invoice.amount = amount
        invoice.status = InvoiceRequest.Status.ISSUED
        invoice.invoice_number = invoice_number
        invoice.issued_at = issued_at
        invoice.handled_by = by_user
        invoice.save()
        notify(
            user=rental.customer.user,
            rental=rental,
            notification_type=Notification.Type.INVOICE_ISSUED,
            kind="invoice_issued",
            params={"order": rental.pk, "number": invoice_number, "amount": str(amount), "email": invoice.email},
        )
        return invoice


def reject_invoice(*, invoice_id: int, reason: str, by_user: Any) -> InvoiceRequest:
    """Mark a REQUESTED request REJECTED with the reason; the customer is told and may ask again."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the request is rejected."), code="reason_required")
    with transaction.atomic():
        rental, invoice = _lock_pending(invoice_id)
        invoice.status = InvoiceRequest.Status.REJECTED
        invoice.reject_reason = reason
        invoice.handled_by = by_user
        invoice.save()
        notify(
            user=rental.customer.user,
            rental=rental,
            notification_type=Notification.Type.INVOICE_REJECTED,
            kind="invoice_rejected",
            params={"order": rental.pk, "reason": reason},
        )
        return invoice
