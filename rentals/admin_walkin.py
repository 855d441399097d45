"""The walk-in page of the counter (SPEC §20): a rental for a customer found
by ID card number or created without a login, a car standing at the chosen
store and the times; Preview shows the price, Confirm books through
``create_rental`` (the same rules and locks as online, the clerk recorded)
and goes on to the counter payment. A refusal writes nothing."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from car_rental_system.money import format_cny
from car_rental_system.widgets import DATETIME_LOCAL
from customers.models import Customer
from customers.services import walk_in_customer
from rentals.admin_board import STORE_SESSION_KEY, WALK_IN_PERMISSIONS
from rentals.admin_views import _show_errors
from rentals.models import Rental
from rentals.services import create_rental, refresh_statuses_if_due
from rentals.views import quote_payload
from rentals.walkin_forms import WalkInForm


def may_book_walk_ins(user) -> bool:
    return user.has_perms(WALK_IN_PERMISSIONS)


def _initial(request) -> dict:
    start = timezone.localtime() + timedelta(minutes=10)
    return {
        "store": request.session.get(STORE_SESSION_KEY),
        "return_location": request.session.get(STORE_SESSION_KEY),
        "start_time": start.strftime(DATETIME_LOCAL),
        "end_time": (start + timedelta(days=1)).strftime(DATETIME_LOCAL),
    }


@transaction.atomic
def _book(request, form: WalkInForm) -> Rental:
    """The customer (created if new, or added meanwhile by another clerk) and
    the rental together, or neither."""
    customer = form.customer or walk_in_customer(**form.new_customer_data())
    data = form.cleaned_data
    return create_rental(
        customer=customer,
        vehicle=data["vehicle"],
        start_time=data["start_time"],
        end_time=data["end_time"],
        pickup_location=data["store"],
        return_location=data["return_location"],
        by_user=request.user,
    )


def _preview(form: WalkInForm) -> dict | None:
    data = form.cleaned_data
    level = form.customer.member_level if form.customer else Customer.MemberLevel.REGULAR
    quote = quote_payload(data["vehicle"], {**data, "pickup_location": data["store"]}, level)
    return quote if quote["ok"] else None


def walk_in_view(request, *, model_admin):
    """Preview (the customer found or to add, the price, whether the car is free), then Confirm."""
    if not may_book_walk_ins(request.user):
        raise PermissionDenied
    refresh_statuses_if_due()
    form = WalkInForm(request.POST or None, initial=_initial(request))
    preview = None
    if request.method == "POST" and form.is_valid():
        if "_confirm" in request.POST:
            try:
                rental = _book(request, form)
            except ValidationError as err:
                _show_errors(request, form, err)
            else:
                messages.success(
                    request,
                    _("Order #%(order)s is booked for %(customer)s. Please take %(amount)s.")
                    % {"order": rental.pk, "customer": rental.customer.name, "amount": format_cny(rental.order_total)},
                )
                return HttpResponseRedirect(reverse("admin:rentals_rental_payment", args=[rental.pk]))
        preview = _preview(form)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Walk-in rental"),
        "form": form,
        "preview": preview,
        "customer": form.customer if form.is_bound else None,
    }
    return TemplateResponse(request, "admin/rentals/rental/walk_in.html", context)
