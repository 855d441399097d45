"""Forms of the staff pages on a rental. They validate input; the services write."""

from decimal import Decimal

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Payment
from accounts.services import COUNTER_METHODS
from car_rental_system.bounds import MoneyField
from car_rental_system.money import ZERO, format_cny, quantize_money
from car_rental_system.widgets import DATETIME_LOCAL, DateTimeLocalInput
from rentals.car_checks import FUEL_CHOICES, MAX_MILEAGE_KM
from rentals.services.car_checks import CheckInput
from vehicles.models import Location

MONEY_FIELD = {"max_digits": 12, "decimal_places": 2}


def local_now_input() -> str:
    """Now in the site's time zone (Asia/Shanghai), as a datetime-local value."""
    return timezone.localtime().strftime(DATETIME_LOCAL)


class CarReadingsForm(forms.Form):
    """The car's readings a clerk takes at hand-over and at return."""

    CHECK_FIELDS: tuple[str, ...] = ("mileage_km", "fuel_eighths", "condition_notes")

    mileage_km = forms.IntegerField(
        label=_("Mileage (km)"), min_value=0, max_value=MAX_MILEAGE_KM, help_text=_("As the odometer shows it.")
    )
    fuel_eighths = forms.TypedChoiceField(
        label=_("Fuel level"), choices=[("", "---------"), *FUEL_CHOICES], coerce=int, empty_value=None
    )
    condition_notes = forms.CharField(
        label=_("Condition of the car"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Scratches, dents, cleanliness, what is missing."),
    )

    @property
    def check_fields(self) -> list:
        return [self[name] for name in self.CHECK_FIELDS]

    @property
    def other_fields(self) -> list:
        return [field for field in self if field.name not in self.CHECK_FIELDS]

    def check_input(self) -> CheckInput:
        data = self.cleaned_data
        return CheckInput(
            mileage_km=data["mileage_km"],
            fuel_eighths=data["fuel_eighths"],
            condition_notes=data.get("condition_notes", ""),
            id_seen=data.get("id_seen", False),
            licence_seen=data.get("licence_seen", False),
            licence_valid_until=data.get("licence_valid_until"),
        )


class ReturnForm(CarReadingsForm):
    returned_at = forms.DateTimeField(
        label=_("Actual return time"),
        widget=DateTimeLocalInput(),
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"],
        help_text=_("Local time (Asia/Shanghai)."),
    )
    # No empty choice: the page starts with the planned return store selected.
    location = forms.ModelChoiceField(label=_("Returned at store"), queryset=Location.objects.all(), empty_label=None)
    damage_fee = MoneyField(label=_("Damage fee"), min_value=ZERO, initial=ZERO, required=False)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean_damage_fee(self) -> Decimal:
        return quantize_money(self.cleaned_data.get("damage_fee") or ZERO)


class PickupForm(CarReadingsForm):
    CHECK_FIELDS = ("id_seen", "licence_seen", "licence_valid_until", *CarReadingsForm.CHECK_FIELDS)
    field_order = ["location", *CHECK_FIELDS]

    location = forms.ModelChoiceField(
        label=_("Handed over at store"),
        queryset=Location.objects.all(),
        empty_label=None,
        required=False,
        help_text=_("The store where the car stands (the default); it becomes the order's pick-up store."),
    )
    # Not required here: the hand-over refuses unticked boxes with its own words.
    id_seen = forms.BooleanField(label=_("ID card seen"), required=False)
    licence_seen = forms.BooleanField(label=_("Driving licence seen"), required=False)
    licence_valid_until = forms.DateField(
        label=_("Licence valid until"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("The date on the driving licence; an expired licence is refused."),
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))
    cancellation_fee = MoneyField(
        label=_("Cancellation fee"),
        min_value=ZERO,
        required=False,
        help_text=_(
            "Kept from what was paid. The policy's fee is filled in; you may lower it (say why in the reason), "
            "raise it only for a no-show. Left empty, the policy's fee applies."
        ),
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Please give the reason for cancelling."))
        return reason

    def clean_cancellation_fee(self) -> Decimal | None:
        fee = self.cleaned_data.get("cancellation_fee")
        return None if fee is None else quantize_money(fee)


class CounterPaymentForm(forms.Form):
    method = forms.ChoiceField(
        label=_("Method"),
        choices=[(m.value, m.label) for m in COUNTER_METHODS],
        widget=forms.RadioSelect,
        initial=Payment.Method.CASH,
    )
    amount = MoneyField(label=_("Amount"), min_value=Decimal("0.01"))

    def __init__(self, *args, remaining: Decimal, **kwargs):
        super().__init__(*args, **kwargs)
        self.remaining = remaining
        self.fields["amount"].initial = remaining
        self.fields["amount"].help_text = _("Still owed: %(amount)s") % {"amount": format_cny(remaining)}

    def clean_amount(self) -> Decimal:
        amount = quantize_money(self.cleaned_data["amount"])
        if amount > self.remaining:
            raise forms.ValidationError(
                _("The amount can't be more than the %(amount)s still owed.") % {"amount": format_cny(self.remaining)}
            )
        return amount


class ManualRefundForm(forms.Form):
    amount = MoneyField(label=_("Amount"), min_value=Decimal("0.01"))
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}))
    goodwill = forms.BooleanField(
        label=_("Goodwill refund"),
        required=False,
        help_text=_("Tick to refund more than is due (at most what was actually paid)."),
    )
    method = forms.ChoiceField(
        label=_("Paid back by"),
        required=False,
        choices=[("", _("The way the money came in"))] + list(Payment.Method.choices),
    )

    def __init__(self, *args, refund_due: Decimal, net_paid: Decimal, **kwargs):
        super().__init__(*args, **kwargs)
        self.refund_due = refund_due
        self.net_paid = net_paid
        if refund_due > ZERO:
            self.fields["amount"].initial = refund_due

    def clean_amount(self) -> Decimal:
        return quantize_money(self.cleaned_data["amount"])

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Please give a reason for the refund."))
        return reason

    def clean(self):
        cleaned = super().clean()
        amount = cleaned.get("amount")
        if amount is None:
            return cleaned
        if amount > self.net_paid:
            self.add_error(
                "amount",
                _("A refund can't exceed the %(amount)s actually paid.") % {"amount": format_cny(self.net_paid)},
            )
        elif amount > self.refund_due and not cleaned.get("goodwill"):
            self.add_error(
                "amount",
                _('Only %(due)s is due back. Tick "Goodwill refund" to give back more.')
                % {"due": format_cny(self.refund_due)},
            )
        return cleaned
