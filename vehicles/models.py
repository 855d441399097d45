from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from car_rental_system import bounds


class Location(models.Model):
    """A store where cars are picked up and returned."""

    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=50, db_index=True)
    address = models.CharField(_("address"), max_length=255, blank=True, default="")

    class Meta:
        ordering = ["city", "name"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        constraints = [
            models.UniqueConstraint(fields=["city", "name"], name="location_unique_city_name"),
        ]

    def __str__(self) -> str:
        return f"{self.city} · {self.name}"


class Vehicle(models.Model):
    class Status(models.TextChoices):
        AVAILABLE = "AVAILABLE", _("Available")
        RENTED = "RENTED", _("Rented")
        MAINTENANCE = "MAINTENANCE", _("In maintenance")
        RETIRED = "RETIRED", _("Retired")

    plate_number = models.CharField(_("plate number"), max_length=20, unique=True)
    brand = models.CharField(_("brand"), max_length=50)
    model = models.CharField(_("model"), max_length=50)
    year = models.PositiveSmallIntegerField(_("year"), default=2024)
    seats = models.PositiveSmallIntegerField(_("seats"), default=5)
    daily_rate = models.DecimalField(
        _("daily rate"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    deposit_amount = models.DecimalField(
        _("deposit"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0.00"))],
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="vehicles", verbose_name=_("store"))
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.AVAILABLE, db_index=True
    )
    description = models.TextField(_("description"), blank=True, default="")

    class Meta:
        ordering = ["brand", "model", "plate_number"]
        verbose_name = _("car")
        verbose_name_plural = _("cars")
        constraints = [
            models.CheckConstraint(condition=models.Q(daily_rate__gt=0), name="vehicle_daily_rate_positive"),
            models.CheckConstraint(condition=models.Q(deposit_amount__gte=0), name="vehicle_deposit_not_negative"),
        ]
        indexes = [models.Index(fields=["location", "status"], name="vehicle_location_status")]

    def __str__(self) -> str:
        return f"{self.brand} {self.model} ({self.plate_number})"

    def get_absolute_url(self) -> str:
        return reverse("vehicles:detail", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        try:
            bounds.check_daily_rate(self.daily_rate)
        except ValidationError as error:
            raise ValidationError({"daily_rate": error.error_list}) from None

    @property
    def is_bookable(self) -> bool:
        """Cars in maintenance or retired can't be booked; a rented car can for a later period."""
        return self.status in {self.Status.AVAILABLE, self.Status.RENTED}
