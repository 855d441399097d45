from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


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

    def __str__(self) -> str:
        return f"{self.name} ({self.phone})"
