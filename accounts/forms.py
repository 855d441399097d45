"""Forms of the customer pages. Forms validate; services write."""

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import UsernameField
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from accounts.models import Payment
from customers.models import ID_CARD_TAKEN, Customer
from customers.validators import (
    normalize_id_card_number,
    normalize_mobile_number,
    validate_id_card_number,
    validate_mobile_number,
    validate_username,
)

# Django 5.2's own Chinese catalogue has no entry for this message of its
# MinimumLengthValidator (it was re-worded with %d), so registration showed it
# in English. Naming it here puts it into this project's catalogue, which
# takes precedence.
PASSWORD_TOO_SHORT = ngettext_lazy(
    "This password is too short. It must contain at least %d character.",
    "This password is too short. It must contain at least %d characters.",
)


class MobileNumberField(forms.CharField):
    """An 11-digit mainland mobile number; spaces are dropped before checking."""

    default_validators = [validate_mobile_number]

    def to_python(self, value):
        return normalize_mobile_number(super().to_python(value))


class IdCardNumberField(forms.CharField):
    """An 18-character mainland resident ID number; spaces are dropped and a
    lower-case check character x becomes X before checking."""

    default_validators = [validate_id_card_number]

    def to_python(self, value):
        return normalize_id_card_number(super().to_python(value))


class RegistrationForm(forms.Form):
    """A login plus the Customer profile (name, phone, optional ID and licence)."""

    username = UsernameField(label=_("Username"), max_length=150, validators=[validate_username])
    email = forms.EmailField(label=_("Email"), required=False)
    name = forms.CharField(label=_("Full name"), max_length=100)
    phone = MobileNumberField(
        label=_("Mobile number"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    id_card_number = IdCardNumberField(
        label=_("ID card number"),
        max_length=22,
        required=False,
        help_text=_(
            "18 characters; the last one may be X. One person holds one account: "
            "an ID card number can be registered only once."
        ),
    )
    driver_license_number = forms.CharField(label=_("Driver licence number"), max_length=30, required=False)
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError(_("This username is already taken."), code="username_taken")
        return username

    def clean_id_card_number(self):
        number = self.cleaned_data["id_card_number"]
        if number and Customer.objects.filter(id_card_number=number).exists():
            raise forms.ValidationError(ID_CARD_TAKEN, code="id_card_taken")
        return number

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", _("The two passwords differ."))
        elif password1:
            user = get_user_model()(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(password1, user)
            except forms.ValidationError as error:
                self.add_error("password1", error)
                # The errors name the rules that failed; listing every rule
                # again under them would say the same thing twice.
                self["password1"].help_text = ""
        return cleaned


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=_("Rating"),
        choices=[(n, "★" * n) for n in range(5, 0, -1)],
        coerce=int,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4})
    )


class PaymentForm(forms.Form):
    """The customer's choice of payment method. ``expected_amount`` is the
    remaining amount the page showed; the server charges what it computes and
    refuses (AmountChanged) when the two differ."""

    METHOD_CHOICES = [
        (Payment.Method.ALIPAY, Payment.Method.ALIPAY.label),
        (Payment.Method.WECHAT, Payment.Method.WECHAT.label),
        (Payment.Method.BANK, Payment.Method.BANK.label),
    ]

    payment_method = forms.ChoiceField(
        label=_("Payment method"),
        choices=METHOD_CHOICES,
        initial=Payment.Method.ALIPAY,
        widget=forms.RadioSelect,
    )
    expected_amount = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args, methods=None, **kwargs):
        """``methods``: the methods to offer (``selectors.available_methods()``); all when None."""
        super().__init__(*args, **kwargs)
        if methods is not None:
            field = self.fields["payment_method"]
            field.choices = [choice for choice in self.METHOD_CHOICES if choice[0] in methods]
            if field.choices and field.initial not in methods:
                field.initial = field.choices[0][0]
