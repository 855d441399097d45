"""E-invoice requests in the admin (SPEC §20): finance issues or rejects them
and downloads a month's requests as CSV. Rows are written by the services
only (accounts/services/invoices.py); the admin itself changes nothing."""

import csv
import io
from datetime import date, datetime

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.admin.payments import ReadOnlyAdmin, rental_link
from accounts.finance import _cell, day_start, site_tz
from accounts.invoice_forms import IssueInvoiceForm, RejectInvoiceForm
from accounts.models import InvoiceRequest
from accounts.services import invoices
from car_rental_system.admin_pages import staff_page
from rentals.admin import money_column

ISSUE_PERMISSION = "accounts.issue_invoice"
VIEW_PERMISSION = "accounts.view_invoicerequest"


class MonthForm(forms.Form):
    month = forms.RegexField(
        label=gettext_lazy("Month"),
        regex=r"^\d{4}-(0[1-9]|1[0-2])$",
        error_messages={"invalid": gettext_lazy("Enter a month as YYYY-MM.")},
        widget=forms.TextInput(attrs={"type": "month"}),
    )

    def first_day(self) -> date:
        year, month = self.cleaned_data["month"].split("-")
        return date(int(year), int(month), 1)


def month_range(first: date) -> tuple[datetime, datetime]:
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return day_start(first), day_start(following)


def _local(value: datetime | None) -> str:
    return timezone.localtime(value, site_tz()).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def csv_lines(first: date):
    """The requests made in the local month starting ``first``, as CSV text
    (byte-order mark and header in the active language first)."""
    start, end = month_range(first)
    rows = (
        InvoiceRequest.objects.filter(created_at__gte=start, created_at__lt=end)
        .select_related("rental__customer")
        .order_by("created_at", "id")
    )
    titles = dict(InvoiceRequest.TitleType.choices)
    statuses = dict(InvoiceRequest.Status.choices)
    header = [
        _("Order"),
        _("Customer"),
        _("Invoice for"),
        _("Invoice title"),
        _("Unified social credit code"),
        _("Email"),
        _("Amount"),
        _("Status"),
        _("Invoice number"),
        _("Date issued"),
        _("Reason for rejection"),
        _("Requested at"),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for invoice in rows:
        writer.writerow(
            [
                invoice.rental_id,
                _cell(invoice.rental.customer.name),
                str(titles.get(invoice.title_type, invoice.title_type)),
                _cell(invoice.title),
                invoice.tax_id,
                _cell(invoice.email),
                f"{invoice.amount:.2f}",
                str(statuses.get(invoice.status, invoice.status)),
                _cell(invoice.invoice_number),
                timezone.localtime(invoice.issued_at, site_tz()).strftime("%Y-%m-%d") if invoice.issued_at else "",
                _cell(invoice.reject_reason),
                _local(invoice.created_at),
            ]
        )
    return "\ufeff" + buffer.getvalue()


@admin.register(InvoiceRequest)
class InvoiceRequestAdmin(ReadOnlyAdmin):
    list_display = (
        "rental_display",
        "title_type",
        "title",
        "tax_id",
        "amount_display",
        "status",
        "invoice_number",
        "issued_at",
        "created_at",
    )
    list_filter = ("status", "title_type")
    search_fields = ("=rental__id", "=tax_id", "=invoice_number", "title")
    amount_display = money_column("amount", model=InvoiceRequest)
    fields = (
        "rental_display",
        "title_type",
        "title",
        "tax_id",
        "email",
        "amount_display",
        "status",
        "invoice_number",
        "issued_at",
        "reject_reason",
        "handled_by",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    change_form_template = "admin/accounts/invoicerequest/change_form.html"
    change_list_template = "admin/accounts/invoicerequest/change_list.html"

    @admin.display(description=gettext_lazy("rental"), ordering="rental_id")
    def rental_display(self, obj: InvoiceRequest):
        return rental_link(obj.rental_id)

    def get_urls(self):
        return [
            staff_page(self, "<int:pk>/issue/", issue_view, "issue"),
            staff_page(self, "<int:pk>/reject/", reject_view, "reject"),
            staff_page(self, "export/", export_view, "export"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_issue": request.user.has_perm(ISSUE_PERMISSION)}
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        today = timezone.localdate()
        extra_context = {**(extra_context or {}), "month_form": MonthForm(initial={"month": f"{today:%Y-%m}"})}
        return super().changelist_view(request, extra_context)


def _handle_page(request, model_admin, invoice: InvoiceRequest, form, action: str, title: str):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "invoice": invoice,
        "form": form,
        "action": action,
        "change_url": reverse("admin:accounts_invoicerequest_change", args=[invoice.pk]),
    }
    status = 400 if form.is_bound else 200
    return TemplateResponse(request, "admin/accounts/invoicerequest/handle.html", context, status=status)


def _handle(request, pk: int, model_admin, *, form_class, action: str, title: str, apply):
    """The issue or reject page: the form, then the service; finance only (403)."""
    if not request.user.has_perm(ISSUE_PERMISSION):
        raise PermissionDenied
    invoice = get_object_or_404(InvoiceRequest.objects.select_related("rental"), pk=pk)
    change_url = reverse("admin:accounts_invoicerequest_change", args=[invoice.pk])
    if invoice.status != InvoiceRequest.Status.REQUESTED:
        messages.error(request, _("This request is already %(status)s.") % {"status": invoice.get_status_display()})
        return HttpResponseRedirect(change_url)
    if request.method != "POST":
        return _handle_page(request, model_admin, invoice, form_class(), action, title)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            message = apply(invoice, form)
        except ValidationError as error:
            form.add_error(None, error.messages)
        else:
            messages.success(request, message)
            return HttpResponseRedirect(change_url)
    return _handle_page(request, model_admin, invoice, form, action, title)


def issue_view(request, pk: int, *, model_admin):
    def apply(invoice: InvoiceRequest, form: IssueInvoiceForm) -> str:
        invoices.issue_invoice(
            invoice_id=invoice.pk,
            invoice_number=form.cleaned_data["invoice_number"],
            issued_at=form.issued_at(),
            by_user=request.user,
        )
        return _("Invoice %(number)s issued; the customer has been told.") % {
            "number": form.cleaned_data["invoice_number"]
        }

    return _handle(
        request, pk, model_admin, form_class=IssueInvoiceForm, action="issue", title=_("Issue invoice"), apply=apply
    )


def reject_view(request, pk: int, *, model_admin):
    def apply(invoice: InvoiceRequest, form: RejectInvoiceForm) -> str:
        invoices.reject_invoice(invoice_id=invoice.pk, reason=form.cleaned_data["reason"], by_user=request.user)
        return _("Request rejected; the customer has been told why.")

    return _handle(
        request,
        pk,
        model_admin,
        form_class=RejectInvoiceForm,
        action="reject",
        title=_("Reject invoice request"),
        apply=apply,
    )


def export_view(request, *, model_admin):
    """CSV of the requests made in one local month (``?month=YYYY-MM``)."""
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    form = MonthForm(request.GET)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("month", [])))
        return HttpResponseRedirect(reverse("admin:accounts_invoicerequest_changelist"))
    first = form.first_day()
    response = HttpResponse(csv_lines(first), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="invoice_requests_{first:%Y%m}.csv"'
    return response
