"""The form of the walk-in page (SPEC §20): the customer by ID card number
(found, or created from the name, phone and licence validated as at
registration), a car standing at the chosen store, and the times."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.forms import IdCardNumberField, MobileNumberField, RegistrationForm
from car_rental_system.widgets import DATETIME_LOCAL, DateTimeLocalInput
from customers.models import Customer
from rentals.services import validate_booking_times
from vehicles.models import Location, Vehicle
from vehicles.selectors import bookable_vehicles

TIME_FORMATS = [DATETIME_LOCAL, "%Y-%m-%d %H:%M"]
NEW_CUSTOMER_FIELDS = ("name", "phone", "driver_license_number")


class CarChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj} · {obj.location.name}"


class WalkInForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Location.objects.all())
    id_card_number = IdCardNumberField(
        label=_("ID card number"),
        max_length=22,
        help_text=_("18 characters; the last one may be X. A customer who holds this number is found."),
    )
    name = forms.CharField(label=_("Full name"), max_length=100, required=False)
    phone = MobileNumberField(
        label=_("Mobile number"), max_length=20, required=False, widget=forms.TextInput(attrs={"inputmode": "tel"})
    )
    driver_license_number = forms.CharField(label=_("Driver licence number"), max_length=30, required=False)
    vehicle = CarChoiceField(label=_("Car"), queryset=bookable_vehicles())
    start_time = forms.DateTimeField(label=_("Pick-up time"), widget=DateTimeLocalInput(), input_formats=TIME_FORMATS)
    end_time = forms.DateTimeField(label=_("Return time"), widget=DateTimeLocalInput(), input_formats=TIME_FORMATS)
    return_location = forms.ModelChoiceField(
        label=_("Return store"),
        queryset=Location.objects.all(),
        help_text=_("Returning the car to another store adds the one-way fee."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The same fields as registration: one wording, one set of rules.
        for name in NEW_CUSTOMER_FIELDS:
            self.fields[name].label = RegistrationForm.base_fields[name].label
        self.customer: Customer | None = None

    def clean(self):
        cleaned = super().clean()
        self._find_customer(cleaned)
        self._check_car(cleaned)
        start, end = cleaned.get("start_time"), cleaned.get("end_time")
        if start is not None and end is not None:
            try:
                validate_booking_times(start, end)
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from error
        return cleaned

    def _find_customer(self, cleaned: dict) -> None:
        """The customer holding the ID number, or the new customer's fields, all required."""
        number = cleaned.get("id_card_number")
        if not number:
            return
        self.customer = Customer.objects.filter(id_card_number=number).first()
        if self.customer is not None:
            return
        for name in NEW_CUSTOMER_FIELDS:
            if name not in self.errors and not cleaned.get(name):
                self.add_error(
                    name, _("Nobody holds this ID card number yet: this field is needed to add the customer.")
                )

    def _check_car(self, cleaned: dict) -> None:
        vehicle: Vehicle | None = cleaned.get("vehicle")
        store = cleaned.get("store")
        if vehicle is not None and store is not None and vehicle.location_id != store.pk:
            self.add_error(
                "vehicle",
                _("%(car)s stands at %(where)s, not at %(store)s.")
                % {"car": vehicle, "where": vehicle.location, "store": store},
            )

    def new_customer_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in NEW_CUSTOMER_FIELDS}
        data["id_card_number"] = self.cleaned_data["id_card_number"]
        return data
