"""The e-invoice card of the order page (SPEC §20)."""

from django import template

from accounts.models import InvoiceRequest
from accounts.services.invoices import INVOICE_STATUSES, kept_amount
from car_rental_system.money import ZERO

register = template.Library()


@register.inclusion_tag("accounts/_invoice_status.html")
def invoice_status(rental):
    """The request's state and the link to request or change it; nothing for
    an open order (and no query), nor for a closed one with nothing kept."""
    if rental.status not in INVOICE_STATUSES:
        return {"show": False}
    try:
        invoice = rental.invoice_request  # no query when loaded with the rental (the order page)
    except InvoiceRequest.DoesNotExist:
        invoice = None
    can_request = invoice is None and kept_amount(rental) > ZERO
    return {"show": invoice is not None or can_request, "rental": rental, "invoice": invoice}
