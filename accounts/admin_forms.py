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
