from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.finance import local_today
from car_rental_system import bounds

MAX_EXPORT_DAYS = 366


class ExportForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("To"), widget=forms.DateInput(attrs={"type": "date"}))

    @classmethod
    def default_initial(cls) -> dict:
        today = local_today()
        return {"start": today.replace(day=1).isoformat(), "end": today.isoformat()}

    def clean_start(self):
        bounds.check_date(self.cleaned_data["start"])
        return self.cleaned_data["start"]

    def clean_end(self):
        bounds.check_date(self.cleaned_data["end"])
        return self.cleaned_data["end"]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError(_("The end date must not be before the start date."))
            if end - start > timedelta(days=MAX_EXPORT_DAYS):
                raise forms.ValidationError(_("Export at most %(days)s days at a time.") % {"days": MAX_EXPORT_DAYS})
        return cleaned


class AbnormalRefundForm(forms.Form):
    """How staff pay out a refund WeChat Pay holds as abnormal (SPEC §17). The
    card number and name are never shown again (not even after an error) and
    never stored: the service encrypts them for WeChat Pay."""

    RESOLUTIONS = [
        ("USER_BANK_CARD", _("To the customer's bank card")),
        ("MERCHANT_BANK_CARD", _("Back to our bank account (hand it over at the counter)")),
    ]

    resolution = forms.ChoiceField(label=_("Pay it out"), choices=RESOLUTIONS, widget=forms.RadioSelect)
    bank_type = forms.ChoiceField(label=_("Bank"), required=False)
    bank_account = forms.CharField(
        label=_("Card number"),
        required=False,
        max_length=32,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    real_name = forms.CharField(
        label=_("Card holder's name"),
        required=False,
        max_length=64,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, **kwargs):
        from accounts.providers.wechatpay_abnormal import BANK_TYPES

        super().__init__(*args, **kwargs)
        self.fields["bank_type"].choices = [("", "—"), *BANK_TYPES.items()]

    def clean_bank_account(self):
        number = "".join(self.cleaned_data.get("bank_account", "").split())
        if number and not (number.isascii() and number.isdigit() and 12 <= len(number) <= 30):
            raise forms.ValidationError(_("A card number is 12 to 30 digits."))
        return number

    def clean_real_name(self):
        return self.cleaned_data.get("real_name", "").strip()

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("resolution") == "USER_BANK_CARD":
            for name in ("bank_type", "bank_account", "real_name"):
                if not cleaned.get(name) and name not in self.errors:
                    self.add_error(name, _("Needed for a refund to the customer's card."))
        return cleaned
