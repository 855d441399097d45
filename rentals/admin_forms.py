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
from vehicles.models import Location

MONEY_FIELD = {"max_digits": 12, "decimal_places": 2}


def local_now_input() -> str:
    """Now in the site's time zone (Asia/Shanghai), as a datetime-local value."""
    return timezone.localtime().strftime(DATETIME_LOCAL)


class ReturnForm(forms.Form):
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


class PickupForm(forms.Form):
    location = forms.ModelChoiceField(
        label=_("Handed over at store"),
        queryset=Location.objects.all(),
        empty_label=None,
        required=False,
        help_text=_("The store where the car stands (the default); it becomes the order's pick-up store."),
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
