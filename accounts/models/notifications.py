"""What customers are told (notifications) and what they tell us (reviews)."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    class Type(models.TextChoices):
        PAYMENT_SUCCESS = "PAYMENT_SUCCESS", _("Payment succeeded")
        PAYMENT_FAILED = "PAYMENT_FAILED", _("Payment failed")
        REFUND_ISSUED = "REFUND_ISSUED", _("Refund issued")
        REFUND_DELAYED = "REFUND_DELAYED", _("Refund delayed")
        ORDER_CANCELLED = "ORDER_CANCELLED", _("Order cancelled")
        RENTAL_RETURNED = "RENTAL_RETURNED", _("Car returned")
        RENTAL_OVERDUE = "RENTAL_OVERDUE", _("Rental overdue")
        INVOICE_ISSUED = "INVOICE_ISSUED", _("Invoice issued")
        INVOICE_REJECTED = "INVOICE_REJECTED", _("Invoice request rejected")
        ORDER_EXTENDED = "ORDER_EXTENDED", _("Order extended")
        DEPOSIT_HELD = "DEPOSIT_HELD", _("Deposit frozen")
        DEPOSIT_TAKEN = "DEPOSIT_TAKEN", _("Taken from the deposit")
        DEPOSIT_RELEASED = "DEPOSIT_RELEASED", _("Deposit released")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("user")
    )
    rental = models.ForeignKey(
        "rentals.Rental",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
        verbose_name=_("rental"),
    )
    notification_type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    title = models.CharField(_("title"), max_length=200)
    message = models.TextField(_("message"), blank=True, default="")
    # What happened, as a code and params (accounts.wording): pages render the
    # words in the reader's language; title and message hold them in the
    # default language. Older rows have no kind and are shown as stored.
    kind = models.CharField(_("kind"), max_length=40, blank=True, default="")
    params = models.JSONField(_("details"), default=dict, blank=True)
    is_read = models.BooleanField(_("read"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["user", "is_read", "-created_at"], name="notification_user_unread")]

    def __str__(self) -> str:
        return self.title

    @property
    def text(self) -> tuple[str, str]:
        """(title, message) in the active language."""
        from accounts.wording import notice_text

        if not self.kind:
            return self.title, self.message
        return notice_text(self.kind, self.params, stored=(self.title, self.message))

    @property
    def title_text(self) -> str:
        return self.text[0]

    @property
    def message_text(self) -> str:
        return self.text[1]


class Review(models.Model):
    rental = models.OneToOneField(
        "rentals.Rental", on_delete=models.CASCADE, related_name="review", verbose_name=_("rental")
    )
    rating = models.PositiveSmallIntegerField(_("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(_("comment"), blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        constraints = [
            models.CheckConstraint(condition=Q(rating__gte=1) & Q(rating__lte=5), name="review_rating_1_to_5"),
        ]

    def __str__(self) -> str:
        return f"{self.rental_id}: {self.rating}★"
