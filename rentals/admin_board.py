"""The counter's "today" board, an admin page: today's pick-ups and returns,
overdue cars and orders waiting for a manual refund, for one store or all.

Staff with ``rentals.view_rental`` may open it (403 otherwise). The chosen store
is remembered in the session; every row links to its action page when the
clerk may act, and its order number to the rental's change page.
"""

from django import forms
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.selectors import owed_so_far
from rentals import selectors
from rentals.admin_views import LABELS, PERMS
from rentals.models import Rental
from rentals.services import refresh_statuses_if_due
from vehicles.models import Location

BOARD_PERMISSION = "rentals.view_rental"
STORE_SESSION_KEY = "counter_board_store"
# Who books walk-ins (rentals.admin_walkin): counter staff add customers and
# hand cars over; finance staff do neither.
WALK_IN_PERMISSIONS = ("customers.add_customer", "rentals.pickup_rental")


class BoardStoreForm(forms.Form):
    store = forms.ModelChoiceField(
        queryset=Location.objects.all(),
        required=False,
        empty_label=gettext_lazy("All stores"),
        label=gettext_lazy("Store"),
    )


def _remembered_store(request) -> Location | None:
    store_id = request.session.get(STORE_SESSION_KEY)
    if not store_id:
        return None
    return Location.objects.filter(pk=store_id).first()


def _choose_store(request) -> tuple[BoardStoreForm, Location | None]:
    """``?store=`` chooses (and remembers) a store, empty for all stores; without
    it the remembered choice applies. An unknown store shows a form error and
    every store."""
    if "store" not in request.GET:
        store = _remembered_store(request)
        return BoardStoreForm(initial={"store": store}), store
    form = BoardStoreForm(request.GET)
    if not form.is_valid():
        return form, None
    store = form.cleaned_data["store"]
    request.session[STORE_SESSION_KEY] = store.pk if store else None
    return form, store


def _row(request, rental: Rental, action: str) -> dict:
    """One board row: the rental, its §4 figures from the stored sums (no query),
    what it owes so far and the page the clerk goes to next."""
    change_url = reverse("admin:rentals_rental_change", args=[rental.pk])
    if request.user.has_perm(PERMS[action]):
        url, label = reverse(f"admin:rentals_rental_{action}", args=[rental.pk]), str(LABELS[action])
    else:
        url, label = change_url, str(_("Open order"))
    figures = rental.stored_figures()
    return {
        "rental": rental,
        "figures": figures,
        # An overdue car owes its late fee so far, as the customer's page says (§16).
        "so_far": owed_so_far(rental=rental, figures=figures),
        "change_url": change_url,
        "action": action,
        "action_url": url,
        "action_label": label,
    }


def counter_board_view(request, *, model_admin):
    if not request.user.has_perm(BOARD_PERMISSION):
        raise PermissionDenied
    refresh_statuses_if_due()
    form, store = _choose_store(request)
    board = selectors.counter_board(store=store)
    sections = [
        {
            "key": "pickups",
            "title": _("Pick-ups today"),
            "empty": _("No pick-ups left today."),
            "time_label": _("Starts"),
            "rows": [_row(request, rental, "pickup") for rental in board.pickups],
        },
        {
            "key": "returns",
            "title": _("Returns today"),
            "empty": _("No returns expected today."),
            "time_label": _("Due back"),
            "rows": [_row(request, rental, "return") for rental in board.returns],
        },
        {
            "key": "overdue",
            "title": _("Overdue cars"),
            "empty": _("No car is overdue."),
            "time_label": _("Was due back"),
            "rows": [_row(request, rental, "return") for rental in board.overdue],
        },
        {
            "key": "manual-refunds",
            "title": _("Waiting for a manual refund"),
            "empty": _("No order is waiting for a manual refund."),
            "time_label": _("Booked for"),
            "rows": [_row(request, rental, "refund") for rental in board.manual_refunds],
        },
    ]
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Today at the counter"),
        "board": board,
        "sections": sections,
        "form": form,
        "can_walk_in": request.user.has_perms(WALK_IN_PERMISSIONS),
    }
    return TemplateResponse(request, "admin/rentals/rental/today.html", context)
