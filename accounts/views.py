"""The customer's pages: sign-up and sign-in, my orders, order detail, reviews,
the consumption report and notifications.

Every page is scoped to the signed-in customer (another customer's order is a
404), refreshes rental statuses by time on view (throttled), and reads money
from the Payment ledger through ``accounts.selectors``.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import consumption, consumption_csv, extension_views, receipts, selectors, services
from accounts.forms import RegistrationForm, ReviewForm
from accounts.selectors import holds as hold_selectors
from car_rental_system.rate_limits import rate_limited_by_ip_and_username
from customers import services as customer_services
from customers.decorators import customer_required
from rentals import reviews
from rentals import selectors as rental_selectors
from rentals.models import Rental
from rentals.services import refresh_statuses_if_due

NOTIFICATIONS_PAGE_SIZE = 20
ORDERS_PAGE_SIZE = 20


class OrderFilterForm(forms.Form):
    """``?status=`` of my orders: empty for every order, else one of Rental.Status."""

    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", gettext_lazy("All orders"))] + list(Rental.Status.choices),
        error_messages={"invalid_choice": gettext_lazy("Unknown order status: %(value)s.")},
    )


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- sign-up, sign-in, sign-out -----------------------------------------------------


@rate_limited_by_ip_and_username("register")
@require_http_methods(["GET", "POST"])
def register(request):
    """Create the login and its Customer profile, sign in, continue to ``next``."""
    if request.user.is_authenticated:
        return redirect(_safe_next(request, "accounts:orders"))
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            customer = customer_services.register_customer(
                username=data["username"],
                password=data["password1"],
                name=data["name"],
                phone=data["phone"],
                email=data.get("email", ""),
                id_card_number=data.get("id_card_number", ""),
                driver_license_number=data.get("driver_license_number", ""),
            )
        except ValidationError as error:
            # A username error (taken meanwhile) lands on the username field.
            form.add_error(None, error if hasattr(error, "error_dict") else error.messages)
        else:
            login(request, customer.user, backend=settings.AUTHENTICATION_BACKENDS[0])
            messages.success(request, _("Welcome, %(name)s! Your account is ready.") % {"name": customer.name})
            return redirect(_safe_next(request, "vehicles:list"))
    return render(request, "accounts/register.html", {"form": form, "next": _safe_next(request, "")})


class SiteLoginView(LoginView):
    """Customers continue to ``next`` or their orders; staff, who have no
    customer pages, continue to ``next`` or the admin."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        if self.request.user.is_staff:
            return reverse("admin:index")
        return super().get_default_redirect_url()


login_view = rate_limited_by_ip_and_username("login")(SiteLoginView.as_view())
logout_view = LogoutView.as_view()


# --- orders -------------------------------------------------------------------------


@customer_required
@require_GET
def order_list(request):
    """My orders with status and payment badges and what to do next, newest
    first, ``ORDERS_PAGE_SIZE`` a page, optionally of one status."""
    refresh_statuses_if_due()
    form = OrderFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "accounts/order_list.html", {"form": form, "rows": [], "invalid": True}, status=400)
    orders = selectors.customer_rentals(customer=request.customer)
    if form.cleaned_data["status"]:
        orders = orders.filter(status=form.cleaned_data["status"])
    page = selectors.rentals_page(
        rentals=orders,
        number=request.GET.get("page"),
        per_page=ORDERS_PAGE_SIZE,
        all_of=None if form.cleaned_data["status"] else request.customer.pk,
    )
    now = timezone.now()
    rows = [selectors.order_row(rental=rental, now=now) for rental in page.object_list]
    return render(request, "accounts/order_list.html", {"form": form, "rows": rows, "page": page})


@customer_required
@require_GET
def order_detail(request, pk: int):
    """Breakdown, ledger figures, every charge and refund, allowed actions."""
    refresh_statuses_if_due()
    rental = selectors.order_page_rental(customer=request.customer, pk=pk)
    if rental is None:
        raise Http404("no such order of this customer")
    row = selectors.order_row(rental=rental)
    return render(
        request,
        "accounts/order_detail.html",
        {
            "row": row,
            "rental": rental,
            "summary": selectors.get_payment_summary(rental=rental),
            "lapsed": selectors.lapsed_unpaid(rental=rental),
            "can_extend": extension_views.can_extend(rental),
            "deposit_holds": hold_selectors.deposit_holds(rental),
            # While the customer may cancel: the policy and what it costs now (SPEC §19).
            "cancel_terms": rental_selectors.cancel_terms(rental=rental, figures=row.figures)
            if row.can_cancel
            else None,
        },
    )


@customer_required
@require_GET
def order_receipt(request, pk: int):
    """The order's PDF receipt in the reader's language, rendered now (SPEC §20)."""
    refresh_statuses_if_due()
    rental = get_object_or_404(selectors.customer_rentals(customer=request.customer), pk=pk)
    return receipts.receipt_response(rental=rental)


@customer_required
@require_http_methods(["GET", "POST"])
def review(request, pk: int):
    """One review per completed order."""
    rental = get_object_or_404(selectors.customer_rentals(customer=request.customer), pk=pk)
    if not selectors.can_review(rental=rental):
        messages.info(request, _("This order can't be reviewed (not completed yet, or already reviewed)."))
        return redirect(rental.get_absolute_url())
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reviews.create_review(
                rental=rental,
                rating=form.cleaned_data["rating"],
                comment=form.cleaned_data["comment"],
                by_user=request.user,
            )
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, _("Thank you for your review!"))
            return redirect(rental.get_absolute_url())
    return render(request, "accounts/review.html", {"rental": rental, "form": form})


@customer_required
@require_GET
def consumption_report(request):
    """Totals and monthly chart of the whole history or of a year or month, and
    one page of its orders with fees, paid, refunded, remaining and money flow
    (rules in accounts.consumption)."""
    refresh_statuses_if_due()
    form = consumption.PeriodForm(request.GET)
    if not form.is_valid():
        return render(
            request, "accounts/consumption_report.html", {"form": form, "report": None, "invalid": True}, status=400
        )
    report = consumption.report(request.customer, form.period(), request.GET.get("page"))
    return render(
        request,
        "accounts/consumption_report.html",
        {"form": form, "report": report, "page": report["page"], "csv_year": _csv_year(report)},
    )


def _csv_year(report) -> int | None:
    """The year the CSV link offers: the chosen one, else the newest with orders."""
    if report["period"].year:
        return report["period"].year
    return report["years"][0] if report["years"] else None


@customer_required
@require_GET
def consumption_report_csv(request):
    """Every order booked in ``?year=`` with the report's columns and a totals
    row, streamed (UTF-8 with a byte-order mark for spreadsheet programs)."""
    refresh_statuses_if_due()
    form = consumption.YearForm(request.GET)
    if not form.is_valid():
        message = " ".join(error for errors in form.errors.values() for error in errors)
        return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
    year = form.cleaned_data["year"]
    response = StreamingHttpResponse(
        consumption_csv.csv_lines(request.customer, year, get_language()), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="consumption-{year}.csv"'
    return response


# --- notifications ------------------------------------------------------------------


@customer_required
@require_GET
def notifications(request):
    refresh_statuses_if_due()  # overdue notices come from the status refresh
    page = Paginator(selectors.notifications_for(user=request.user), NOTIFICATIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(request, "accounts/notifications.html", {"page": page, "notifications": page.object_list})


@customer_required
@require_POST
def notification_read(request, pk: int):
    notification = get_object_or_404(selectors.notifications_for(user=request.user), pk=pk)
    services.mark_notification_read(notification=notification)
    fallback = notification.rental.get_absolute_url() if notification.rental_id else "accounts:notifications"
    return redirect(_safe_next(request, fallback))


@customer_required
@require_POST
def notifications_read_all(request):
    count = services.mark_all_notifications_read(user=request.user)
    if count:
        messages.success(request, _("All notifications are marked as read."))
    return redirect("accounts:notifications")
