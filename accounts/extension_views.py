"""The customer's page that extends an order (SPEC §19): the new return
time, a preview of the price difference, then Confirm, which leads to the pay
page for the difference. The rules are the service's (``extension_preview``,
``extend_rental``); another customer's order is a 404."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import selectors
from car_rental_system.money import ZERO, format_cny
from car_rental_system.widgets import DATETIME_LOCAL
from customers.decorators import customer_required
from rentals.extension_forms import ExtendForm
from rentals.models import Rental
from rentals.services import _local, extend_rental, extension_preview, refresh_statuses_if_due


def can_extend(rental: Rental) -> bool:
    """Whether the order page offers an extension: the order is PENDING,
    ONGOING or OVERDUE by the clock (the service checks the rest)."""
    return rental.status_by_time() in Rental.ACTIVE_STATUSES


def _confirmed(request, rental: Rental):
    """After the extension: to the pay page when a difference is owed."""
    remaining = rental.stored_figures().remaining
    end = _local(rental.end_time)
    if remaining > ZERO:
        text = _("Your order now ends at %(end)s. Please pay the %(amount)s that remains.") % {
            "end": end,
            "amount": format_cny(remaining),
        }
    else:
        text = _("Your order now ends at %(end)s.") % {"end": end}
    messages.success(request, text)
    if remaining > ZERO:
        return redirect("accounts:pay", pk=rental.pk)
    return redirect(rental.get_absolute_url())


@customer_required
@require_http_methods(["GET", "POST"])
def extend(request, pk: int):
    """The new return time (GET), its preview (POST ``_preview``) and the
    extension itself (POST ``_confirm``)."""
    refresh_statuses_if_due()
    rental = get_object_or_404(selectors.customer_rentals(customer=request.customer), pk=pk)
    if not can_extend(rental):
        messages.info(
            request, _("This order is %(status)s and can't be extended.") % {"status": rental.get_status_display()}
        )
        return redirect(rental.get_absolute_url())
    preview = None
    if request.method == "POST":
        form = ExtendForm(request.POST)
        if form.is_valid():
            new_end_time = form.cleaned_data["new_end_time"]
            try:
                if "_confirm" in request.POST:
                    extend_rental(rental=rental, new_end_time=new_end_time, by_user=request.user)
                    return _confirmed(request, rental)
                preview = extension_preview(rental=rental, new_end_time=new_end_time)
            except ValidationError as error:
                for message in error.messages:
                    form.add_error("new_end_time", message)
    else:
        suggested = timezone.localtime(max(rental.end_time, timezone.now()) + timedelta(days=1))
        form = ExtendForm(initial={"new_end_time": suggested.strftime(DATETIME_LOCAL)})
    return render(
        request,
        "accounts/extend.html",
        {"rental": rental, "form": form, "preview": preview, "figures": rental.money_figures()},
    )
