from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, MinValueValidator, RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from car_rental_system import bounds

PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_EXTENSIONS = ["jpg", "jpeg", "png", "webp"]
PHONE_CHARACTERS = RegexValidator(
    r"^\+?[0-9(][0-9 ()-]{4,28}$",
    _("Enter a phone number of digits, spaces and hyphens, e.g. 021-6350 1234."),
)


def validate_photo_size(photo) -> None:
    """A car photo is at most ``PHOTO_MAX_BYTES``: larger uploads are refused with their size."""
    if photo.size > PHOTO_MAX_BYTES:
        raise ValidationError(
            _("The photo is %(size).1f MB; a photo may be at most %(limit)d MB."),
            code="photo_too_large",
            params={"size": photo.size / (1024 * 1024), "limit": PHOTO_MAX_BYTES // (1024 * 1024)},
        )


class Location(models.Model):
    """A store where cars are picked up and returned."""

    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=50, db_index=True)
    address = models.CharField(_("address"), max_length=255, blank=True, default="")
    opens_at = models.TimeField(_("opens at"), null=True, blank=True)
    closes_at = models.TimeField(
        _("closes at"), null=True, blank=True, help_text=_("The same time as the opening time: open 24 hours.")
    )
    phone = models.CharField(
        pgettext_lazy("store", "phone"), max_length=30, blank=True, default="", validators=[PHONE_CHARACTERS]
    )

    class Meta:
        ordering = ["city", "name"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        constraints = [
            models.UniqueConstraint(fields=["city", "name"], name="location_unique_city_name"),
        ]

    def __str__(self) -> str:
        return f"{self.city} · {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("vehicles:store", args=[self.pk])

    def clean(self) -> None:
        super().clean()
        if (self.opens_at is None) != (self.closes_at is None):
            raise ValidationError(_("Give both an opening and a closing time, or neither."))

    @property
    def opening_hours(self) -> str:
        """The hours in the reader's language: 每天 08:00–22:00, 24 小时营业, or 营业时间请致电门店."""
        if self.opens_at is None or self.closes_at is None:
            return gettext("Call the store for its hours")
        if self.opens_at == self.closes_at:
            return gettext("Open 24 hours")
        return gettext("Daily %(opens)s–%(closes)s") % {
            "opens": self.opens_at.strftime("%H:%M"),
            "closes": self.closes_at.strftime("%H:%M"),
        }

    @property
    def phone_uri(self) -> str:
        """The ``tel:`` link of the phone number (digits and a leading +), empty without a number."""
        digits = "".join(ch for ch in self.phone if ch.isdigit() or ch == "+")
        return f"tel:{digits}" if digits else ""


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
    photo = models.ImageField(
        _("photo"),
        upload_to="cars/",
        blank=True,
        validators=[FileExtensionValidator(PHOTO_EXTENSIONS), validate_photo_size],
        help_text=_("JPEG, PNG or WebP, at most 5 MB."),
    )

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
