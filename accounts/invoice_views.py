"""The customer's e-invoice request page (SPEC §20), reached from the order page.

Scoped to the signed-in customer (another customer's order is a 404). Shown
for a completed or cancelled order with money kept; the form changes the
request until it is issued, then the page only shows it.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import selectors
from accounts.invoice_forms import InvoiceRequestForm
from accounts.models import InvoiceRequest
from accounts.services import invoices
from customers.decorators import customer_required


@customer_required
@require_http_methods(["GET", "POST"])
def invoice_request(request, pk: int):
    rental = get_object_or_404(selectors.customer_rentals(customer=request.customer), pk=pk)
    invoice = InvoiceRequest.objects.filter(rental=rental).first()
    if invoice is None and not invoices.can_request_invoice(rental):
        messages.info(
            request, _("An invoice can be requested only for a completed or cancelled order with money paid.")
        )
        return redirect(rental.get_absolute_url())
    editable = invoice is None or invoice.is_editable
    if request.method == "POST" and not editable:
        messages.info(request, _("The invoice has been issued; it can no longer be changed."))
        return redirect(rental.get_absolute_url())
    form = InvoiceRequestForm(
        request.POST if request.method == "POST" else None,
        initial=InvoiceRequestForm.initial_for(invoice, request.customer),
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                invoices.request_invoice(rental=rental, details=form.details())
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                messages.success(request, _("Your invoice request has been sent. We'll email the e-invoice."))
                return redirect(rental.get_absolute_url())
        status = 400
    context = {
        "rental": rental,
        "invoice": invoice,
        "form": form,
        "editable": editable,
        "amount": invoice.amount if invoice and not editable else invoices.kept_amount(rental),
    }
    return render(request, "accounts/invoice_request.html", context, status=status)
