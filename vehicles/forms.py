"""The car search form (GET)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from car_rental_system.widgets import DATETIME_LOCAL, DateTimeLocalInput
from vehicles import selectors
from vehicles.models import Vehicle, validate_photo_size


class CarPhotoField(forms.ImageField):
    """An uploaded car photo: its size is checked before Pillow opens it, so a
    file over the limit is refused with its size instead of being decoded; then
    it must be an image Pillow reads, with an allowed extension (the model's
    validators)."""

    def to_python(self, data):
        if data and getattr(data, "size", 0):
            validate_photo_size(data)
        return super().to_python(data)


class VehicleAdminForm(forms.ModelForm):
    class Meta:
        model = Vehicle
        fields = [
            "plate_number",
            "brand",
            "model",
            "year",
            "seats",
            "daily_rate",
            "deposit_amount",
            "location",
            "status",
            "description",
            "photo",
        ]
        field_classes = {"photo": CarPhotoField}
        widgets = {"photo": forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})}


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
        if (start is None) != (end is None) and not self._has_field_error("start_time", "end_time"):
            self._drop(_("Give both a pick-up and a return time to see free cars."), "start_time", "end_time")
        elif start is not None and end is not None and end <= start:
            self._drop(_("The return time must be after the pick-up time."), "start_time", "end_time")
        low, high = cleaned.get("min_price"), cleaned.get("max_price")
        if low is not None and high is not None and low > high:
            self._drop(_("The minimum price is above the maximum price."), "min_price", "max_price")
        return cleaned

    def _has_field_error(self, *names: str) -> bool:
        return any(name in self.errors for name in names)

    def _drop(self, message, *names: str) -> None:
        """A rule that ties two fields failed: say so and apply neither."""
        self.add_error(None, message)
        for name in names:
            self.cleaned_data.pop(name, None)

    def search_kwargs(self) -> dict:
        """Filters for selectors.search_vehicles: the valid ones only, so a bad
        filter leaves the list unfiltered by it while its error is shown."""
        data = self.cleaned_data if self.is_bound else {}
        has_period = data.get("start_time") is not None and data.get("end_time") is not None
        return {
            "city": data.get("city") or "",
            "start_time": data.get("start_time") if has_period else None,
            "end_time": data.get("end_time") if has_period else None,
            "min_price": data.get("min_price"),
            "max_price": data.get("max_price"),
            "seats": data.get("seats"),
        }
