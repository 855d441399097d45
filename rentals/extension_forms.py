"""The form of an extension (SPEC §19): the new return time, for the
customer's page and the staff page alike. The rules are the service's
(``rentals.services.extension_preview``): the form only reads a time."""

from django import forms
from django.utils.translation import gettext_lazy as _

from car_rental_system.widgets import DATETIME_LOCAL, DateTimeLocalInput


class ExtendForm(forms.Form):
    new_end_time = forms.DateTimeField(
        label=_("New return time"),
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M"],
        error_messages={
            "required": _("Please choose the new return time."),
            "invalid": _("Enter a date and time such as 2026-03-05 18:00."),
        },
    )
