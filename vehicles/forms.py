"""The car search form (GET)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from vehicles import selectors

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATETIME_LOCAL)


class VehicleFilterForm(forms.Form):
    city = forms.ChoiceField(label=_("City"), required=False)
    start_time = forms.DateTimeField(
        label=_("Pick-up time"), required=False, widget=DateTimeLocalInput(), input_formats=[DATETIME_LOCAL]
    )
    end_time = forms.DateTimeField(
        label=_("Return time"), required=False, widget=DateTimeLocalInput(), input_formats=[DATETIME_LOCAL]
    )
    min_price = forms.DecimalField(
        label=_("Min. price per day"), required=False, min_value=0, max_digits=12, decimal_places=2
    )
    max_price = forms.DecimalField(
        label=_("Max. price per day"), required=False, min_value=0, max_digits=12, decimal_places=2
    )
    seats = forms.TypedChoiceField(
        label=_("Seats"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Any")), (4, _("4+")), (5, _("5+")), (6, _("6+")), (7, _("7+"))],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["city"].choices = [("", _("All cities"))] + [(c, c) for c in selectors.cities()]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start_time"), cleaned.get("end_time")
        if (start is None) != (end is None):
            raise forms.ValidationError(_("Give both a pick-up and a return time to see free cars."))
        if start is not None and end is not None and end <= start:
            raise forms.ValidationError(_("The return time must be after the pick-up time."))
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            raise forms.ValidationError(_("The minimum price is above the maximum price."))
        return cleaned

    def search_kwargs(self) -> dict:
        """Filters for selectors.search_vehicles (valid form only)."""
        data = self.cleaned_data
        return {
            "city": data.get("city") or "",
            "start_time": data.get("start_time"),
            "end_time": data.get("end_time"),
            "min_price": data.get("min_price"),
            "max_price": data.get("max_price"),
            "seats": data.get("seats"),
        }
