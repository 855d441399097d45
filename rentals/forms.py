"""Booking and cancelling forms (SPEC §8 field names)."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from car_rental_system.widgets import DATETIME_LOCAL, DateTimeLocalInput
from rentals.services import validate_booking_times
from vehicles.models import Location


class BookingForm(forms.Form):
    start_time = forms.DateTimeField(
        label=_("Pick-up time"), widget=DateTimeLocalInput(), input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"]
    )
    end_time = forms.DateTimeField(
        label=_("Return time"), widget=DateTimeLocalInput(), input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"]
    )
    # One possible value (the car's store): shown as text, sent as a hidden input.
    pickup_location = forms.ModelChoiceField(
        label=_("Pick-up store"), queryset=Location.objects.none(), widget=forms.HiddenInput
    )
    return_location = forms.ModelChoiceField(
        label=_("Return store"),
        queryset=Location.objects.all(),
        help_text=_("Returning the car to another store adds the one-way fee."),
    )

    def __init__(self, *args, vehicle, **kwargs):
        super().__init__(*args, **kwargs)
        self.vehicle = vehicle
        # A car is picked up where it stands (README, "Pick-up store").
        self.fields["pickup_location"].queryset = Location.objects.filter(pk=vehicle.location_id)
        self.fields["pickup_location"].empty_label = None
        self.fields["return_location"].empty_label = None
        if not self.is_bound:
            self.initial.setdefault("pickup_location", vehicle.location_id)
            self.initial.setdefault("return_location", vehicle.location_id)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start_time"), cleaned.get("end_time")
        if start is not None and end is not None:
            try:
                validate_booking_times(start, end)
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from error
        return cleaned


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Why are you cancelling?"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Please tell us why you are cancelling.")},
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Please tell us why you are cancelling."), code="required")
        return reason
