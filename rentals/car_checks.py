"""What the clerk checked when a car went out and when it came back: the
driver's papers at hand-over, the mileage, the fuel and the car's condition
each time. One row per order and moment, kept with the order; the same check
is in the order's history (the ``picked_up`` / ``returned`` RentalEvent, with
the clerk and the time). Written by ``rentals.services.car_checks``."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Fuel gauge in eighths, as on the car's dashboard.
FUEL_EIGHTHS = 8
MAX_MILEAGE_KM = 9_999_999


FUEL_CHOICES: list = [
    (0, _("Empty (0/8)")),
    *((level, f"{level}/{FUEL_EIGHTHS}") for level in range(1, FUEL_EIGHTHS)),
    (FUEL_EIGHTHS, _("Full (8/8)")),
]


def fuel_label(eighths: int | None) -> str:
    if eighths is None:
        return "—"
    return str(dict(FUEL_CHOICES).get(eighths, eighths))


class CarCheck(models.Model):
    class Stage(models.TextChoices):
        PICKUP = "pickup", _("At hand-over")
        RETURN = "return", _("At return")

    rental = models.ForeignKey(
        "rentals.Rental", on_delete=models.CASCADE, related_name="car_checks", verbose_name=_("rental")
    )
    stage = models.CharField(_("when"), max_length=10, choices=Stage.choices)
    # The driver's papers, checked at hand-over only.
    id_seen = models.BooleanField(_("ID card seen"), default=False)
    licence_seen = models.BooleanField(_("driving licence seen"), default=False)
    licence_valid_until = models.DateField(_("licence valid until"), null=True, blank=True)
    mileage_km = models.PositiveIntegerField(_("mileage (km)"))
    fuel_eighths = models.PositiveSmallIntegerField(_("fuel level"), choices=FUEL_CHOICES)
    condition_notes = models.TextField(_("condition notes"), blank=True, default="")
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("checked by"),
    )
    checked_at = models.DateTimeField(_("checked at"), default=timezone.now)

    class Meta:
        ordering = ["rental", "checked_at", "id"]
        verbose_name = _("car check")
        verbose_name_plural = _("car checks")
        constraints = [
            models.UniqueConstraint(fields=["rental", "stage"], name="car_check_one_per_stage"),
            models.CheckConstraint(condition=Q(fuel_eighths__lte=FUEL_EIGHTHS), name="car_check_fuel_in_eighths"),
        ]

    def __str__(self) -> str:
        return f"#{self.rental_id} {self.get_stage_display()}"

    @property
    def fuel_display(self) -> str:
        return fuel_label(self.fuel_eighths)

    def as_payload(self) -> dict:
        """The check as the order's history keeps it (RentalEvent payload)."""
        payload: dict = {
            "mileage_km": self.mileage_km,
            "fuel_eighths": self.fuel_eighths,
            "condition_notes": self.condition_notes,
        }
        if self.stage == self.Stage.PICKUP:
            payload.update(
                id_seen=self.id_seen,
                licence_seen=self.licence_seen,
                licence_valid_until=self.licence_valid_until.isoformat() if self.licence_valid_until else None,
            )
        return payload
