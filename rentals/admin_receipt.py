"""The staff's copy of an order's PDF receipt (SPEC §20), from the admin.

The receipt shows the order and every row of its ledger, so printing it asks
for what reading them in the admin asks: ``rentals.view_rental`` and
``accounts.view_payment`` (the "counter" and "finance" groups have both).
Anyone else on the staff gets 403; non-staff go to the admin login.
"""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse

from accounts import receipts
from rentals.models import Rental

RECEIPT_PERMISSIONS = ("rentals.view_rental", "accounts.view_payment")


def can_print_receipt(user) -> bool:
    return user.has_perms(RECEIPT_PERMISSIONS)


def receipt_url(request, rental: Rental) -> str:
    """The admin's "Print receipt" link for this user, or "" when they may not."""
    if not can_print_receipt(request.user):
        return ""
    return reverse("admin:rentals_rental_receipt", args=[rental.pk])


def receipt_view(request, pk, *, model_admin) -> HttpResponse:
    """The same PDF the customer gets, in the clerk's language."""
    if not can_print_receipt(request.user):
        raise PermissionDenied
    rental = get_object_or_404(receipts.receipt_rentals(), pk=pk)
    return receipts.receipt_response(rental=rental)
