from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.validators import normalize_id_card_number

ID_CARD_CONSTRAINT = "customers_customer_id_card_number_uniq"
ID_CARD_TAKEN = _(
    "An account with this ID card number already exists: one person holds one account. "
    "If it is yours, please sign in to it, or contact customer service."
)


class Customer(models.Model):
    class MemberLevel(models.TextChoices):
        REGULAR = "REGULAR", _("Regular")
        SILVER = "SILVER", _("Silver")
        GOLD = "GOLD", _("Gold")
        VIP = "VIP", _("VIP")

    # Walk-in customers created by counter staff have no login.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customer",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=20, db_index=True)
    id_card_number = models.CharField(_("ID card number"), max_length=18, blank=True, default="")
    driver_license_number = models.CharField(_("driver licence number"), max_length=30, blank=True, default="")
    member_level = models.CharField(
        _("member level"), max_length=10, choices=MemberLevel.choices, default=MemberLevel.REGULAR
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            # One identity, one account (SPEC §17); walk-ins without an ID
            # number (empty) are many.
            models.UniqueConstraint(
                fields=["id_card_number"],
                condition=~models.Q(id_card_number=""),
                name=ID_CARD_CONSTRAINT,
                violation_error_message=ID_CARD_TAKEN,
                violation_error_code="id_card_taken",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})"

    def clean(self) -> None:
        # The stored form (no spaces, check character X), so "…002x" and
        # "…002X" are one number for the constraint too.
        self.id_card_number = normalize_id_card_number(self.id_card_number)
