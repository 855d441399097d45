"""The staff page that extends an order (SPEC §19): the new return time, a
preview of the rent over the whole period and the difference to pay, then
Confirm. Both steps run the service's own rules (``extension_preview``,
``extend_rental``); a refusal is shown on the form and nothing is written."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from car_rental_system.money import format_cny
from rentals.admin_views import _check_permission, _done, _load, _refuse, _render, _show_errors
from rentals.extension_forms import ExtendForm
from rentals.models import Rental
from rentals.services import _local, extend_rental, extension_preview


def extend_view(request, pk, *, model_admin):
    """Preview (new days, rent, the difference and what remains to pay), then Confirm."""
    _check_permission(request, "extend")
    rental = _load(pk)
    if rental.status not in Rental.ACTIVE_STATUSES:
        return _refuse(
            request,
            rental,
            _("This order is %(status)s and can't be extended.") % {"status": rental.get_status_display()},
        )
    preview = None
    form = ExtendForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        new_end_time = form.cleaned_data["new_end_time"]
        try:
            if "_confirm" in request.POST:
                extend_rental(rental=rental, new_end_time=new_end_time, by_user=request.user)
            else:
                preview = extension_preview(rental=rental, new_end_time=new_end_time)
        except ValidationError as err:
            _show_errors(request, form, err)
        else:
            if preview is None:
                figures = rental.money_figures()
                messages.success(
                    request,
                    _("Order #%(order)s now ends at %(end)s; %(remaining)s remains to pay.")
                    % {
                        "order": rental.pk,
                        "end": _local(rental.end_time),
                        "remaining": format_cny(figures.remaining),
                    },
                )
                return _done(request, rental)
    return _render(
        request,
        model_admin,
        rental,
        "admin/rentals/rental/extend.html",
        _("Extend order #%(order)s") % {"order": rental.pk},
        form=form,
        preview=preview,
    )
