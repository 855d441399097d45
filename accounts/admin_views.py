"""Finance pages in the admin: the dashboard, the payments CSV export and the
resolution of an abnormal refund.

All are wrapped in ``admin_site.admin_view`` (non-staff → admin login) and
check their own permission (403 otherwise). The first two only read.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters

from accounts import finance, finance_holds
from accounts.admin_forms import AbnormalRefundForm, ExportForm
from accounts.models import Payment

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
        # Deposit holds (SPEC §18): held by provider, releases due, expiring.
        **finance_holds.dashboard_holds(),
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


ABNORMAL_REFUND_PERMISSION = "accounts.record_manual_refund"


@sensitive_post_parameters("bank_account", "real_name")
def abnormal_refund_view(request, pk, *, model_admin):
    """Staff resolve a refund WeChat Pay holds as abnormal (SPEC §17): the form,
    then the service, which asks WeChat Pay after commit. Needs the
    manual-refund permission."""
    from accounts.services import request_abnormal_refund_resolution

    if not request.user.has_perm(ABNORMAL_REFUND_PERMISSION):
        raise PermissionDenied
    refund = get_object_or_404(Payment, pk=pk, transaction_type=Payment.TransactionType.REFUND)
    change_url = reverse("admin:accounts_payment_change", args=[refund.pk])
    if not refund.is_abnormal:
        messages.error(request, _("This refund is not waiting for an abnormal-refund resolution."))
        return HttpResponseRedirect(change_url)
    form = AbnormalRefundForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            request_abnormal_refund_resolution(refund=refund, by_user=request.user, **form.cleaned_data)
        except ValidationError as err:
            form.add_error(None, " ".join(err.messages))
        else:
            refund.refresh_from_db()
            messages.success(request, _abnormal_outcome(refund))
            return HttpResponseRedirect(change_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Resolve abnormal refund %(tx)s") % {"tx": refund.transaction_id},
        "refund": refund,
        "form": form,
        "change_url": change_url,
    }
    return TemplateResponse(request, "admin/accounts/payment/abnormal_refund.html", context)


def _abnormal_outcome(refund: Payment) -> str:
    if refund.status == Payment.Status.REFUNDED:
        return _("WeChat Pay paid the refund to the customer's card.")
    if refund.abnormal == Payment.Abnormal.MERCHANT_BANK_CARD:
        return _("WeChat Pay returned the refund to our bank account: hand it back at the counter.")
    if refund.abnormal == Payment.Abnormal.USER_BANK_CARD:
        return _("WeChat Pay accepted: the refund goes to the customer's card; its confirmation completes it.")
    if refund.abnormal == Payment.Abnormal.WAITING:
        return _("WeChat Pay refused the resolution; see the refund's events and try again.")
    return _("Sent to WeChat Pay; the refund's page shows its answer.")
