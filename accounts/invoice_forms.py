"""The customer's e-invoice request form and finance's issue and reject forms."""

import unicodedata
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.credit_code import validate_credit_code
from accounts.models import InvoiceRequest
from accounts.services.invoices import InvoiceDetails


def _plain_text(value: str) -> str:
    """``value`` NFKC-normalised and stripped; control characters refused."""
    value = unicodedata.normalize("NFKC", value or "").strip()
    if any(unicodedata.category(character).startswith("C") for character in value):
        raise ValidationError(_("Remove the control characters from this text."), code="control_characters")
    return value


class InvoiceRequestForm(forms.Form):
    title_type = forms.ChoiceField(
        label=_("Invoice for"), choices=InvoiceRequest.TitleType.choices, widget=forms.RadioSelect
    )
    title = forms.CharField(
        label=_("Invoice title"),
        max_length=100,
        help_text=_("Your name for a personal invoice, the company's full registered name for a company."),
    )
    tax_id = forms.CharField(
        label=_("Unified social credit code"),
        max_length=40,
        required=False,
        help_text=_("18 characters, for a company invoice only."),
    )
    email = forms.EmailField(label=_("Email"), max_length=254, help_text=_("Where the e-invoice is sent."))

    def clean_title(self) -> str:
        title = _plain_text(self.cleaned_data["title"])
        if len(title) < 2:
            raise ValidationError(_("Enter the full title of the invoice."), code="title_short")
        return title

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("title_type") == InvoiceRequest.TitleType.COMPANY:
            code = cleaned.get("tax_id", "")
            if not code.strip():
                self.add_error("tax_id", _("A company invoice needs the company's unified social credit code."))
            else:
                try:
                    cleaned["tax_id"] = validate_credit_code(code)
                except ValidationError as error:
                    self.add_error("tax_id", error)
        else:
            cleaned["tax_id"] = ""
        return cleaned

    def details(self) -> InvoiceDetails:
        data = self.cleaned_data
        return InvoiceDetails(
            title_type=data["title_type"], title=data["title"], tax_id=data["tax_id"], email=data["email"]
        )

    @classmethod
    def initial_for(cls, invoice: InvoiceRequest | None, customer) -> dict:
        if invoice is None:
            email = getattr(customer.user, "email", "") if customer.user_id else ""
            return {"title_type": InvoiceRequest.TitleType.PERSONAL, "title": customer.name, "email": email}
        return {
            "title_type": invoice.title_type,
            "title": invoice.title,
            "tax_id": invoice.tax_id,
            "email": invoice.email,
        }


class IssueInvoiceForm(forms.Form):
    invoice_number = forms.CharField(label=_("Invoice number"), max_length=40)
    issued_on = forms.DateField(label=_("Date issued"), widget=forms.DateInput(attrs={"type": "date"}))

    def clean_invoice_number(self) -> str:
        number = _plain_text(self.cleaned_data["invoice_number"])
        if not number.isascii() or not number.replace("-", "").isalnum():
            raise ValidationError(_("An invoice number is made of digits and letters."), code="number_characters")
        return number

    def clean_issued_on(self):
        day = self.cleaned_data["issued_on"]
        today = timezone.localdate()
        if day > today:
            raise ValidationError(_("An invoice can't be dated in the future."), code="future")
        if (today - day).days > 366:
            raise ValidationError(_("That date is more than a year ago."), code="too_old")
        return day

    def issued_at(self) -> datetime:
        """Now when issued today, else local noon of the day issued."""
        if self.cleaned_data["issued_on"] == timezone.localdate():
            return timezone.now()
        return datetime.combine(self.cleaned_data["issued_on"], time(12), tzinfo=ZoneInfo(settings.TIME_ZONE))


class RejectInvoiceForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_reason(self) -> str:
        reason = unicodedata.normalize("NFKC", self.cleaned_data["reason"]).strip()
        if not reason:
            raise ValidationError(_("Say why the request is rejected."), code="reason_required")
        return reason
