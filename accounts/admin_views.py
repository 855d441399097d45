"""Finance pages in the admin: the dashboard and the payments CSV export.

Both are wrapped in ``admin_site.admin_view`` (non-staff → admin login) and
check their own permission (403 otherwise). They only read.
"""

from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import finance
from accounts.admin_forms import ExportForm

DASHBOARD_PERMISSION = "accounts.view_finance_dashboard"
EXPORT_PERMISSION = "accounts.export_payments"


def finance_dashboard_view(request, *, model_admin):
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        raise PermissionDenied
    figures = finance.dashboard()
    chart = {
        "labels": [row["day"].strftime("%m-%d") for row in figures["daily"]],
        # Strings, not floats: Chart.js parses them; the ledger never sees a float.
        "net": [str(row["net"]) for row in figures["daily"]],
        "label": _("Net revenue (CNY)"),
    }
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Finance dashboard"),
        "can_export": request.user.has_perm(EXPORT_PERMISSION),
        "export_form": ExportForm(initial=ExportForm.default_initial()),
        "export_url": reverse("admin:accounts_payment_export"),
        "chart": chart,
        **figures,
    }
    return TemplateResponse(request, "admin/accounts/payment/dashboard.html", context)


def export_payments_view(request, *, model_admin):
    """CSV of the ledger rows of a date range (local days, inclusive), streamed.

    Without a range, or with a bad one (unreadable, reversed, too long, or
    outside the staff date bounds), the export form is shown again in the
    admin with the error (400 for a bad range)."""
    if not request.user.has_perm(EXPORT_PERMISSION):
        raise PermissionDenied
    if "start" not in request.GET and "end" not in request.GET:
        return _export_form_page(request, model_admin, ExportForm(initial=ExportForm.default_initial()))
    form = ExportForm(request.GET)
    if not form.is_valid():
        return _export_form_page(request, model_admin, form, status=400)
    first, last = form.cleaned_data["start"], form.cleaned_data["end"]
    response = StreamingHttpResponse(finance.export_rows(first, last), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="payments_{first:%Y%m%d}_{last:%Y%m%d}.csv"'
    return response


def _export_form_page(request, model_admin, form, status: int = 200):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Export payments (CSV)"),
        "export_form": form,
        "export_url": reverse("admin:accounts_payment_export"),
        "dashboard_url": reverse("admin:accounts_payment_dashboard"),
    }
    return TemplateResponse(request, "admin/accounts/payment/export.html", context, status=status)
