"""A rental's audit trail (RentalEvent) and the labels of stored status codes."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


def status_label(choices, code: str) -> str:
    """The display label of a stored status code of ``choices``; "—" for none,
    the code itself when it is not one of them."""
    if not code:
        return "—"
    try:
        return str(choices(code).label)
    except ValueError:
        return code


class RentalEvent(models.Model):
    """Append-only audit trail of a rental's status changes and staff actions."""

    class Code(models.TextChoices):
        """Every event code the flows write, with what it means for staff."""

        CREATED = "created", pgettext_lazy("rental event", "Booked")
        STATUS_CHANGED = "status_changed", _("Status changed")
        STATUS_BY_TIME = "status_by_time", _("Status moved by time")
        LAPSED = "lapsed", _("Not paid in time")
        PICKED_UP = "picked_up", _("Car handed over")
        RETURNED = "returned", _("Car returned")
        CANCELLED = "cancelled", _("Order cancelled")
        MANUAL_REFUND_REQUIRED = "manual_refund_required", _("Needs a manual refund")
        REFUND_FAILED = "refund_failed", _("Refund failed")
        EXTENDED = "extended", _("Order extended")

    # What the stored codes mean (the admin's filter lists them); an older
    # code missing here is shown as stored.
    LABELS = dict(Code.choices)

    rental = models.ForeignKey(
        "rentals.Rental", on_delete=models.CASCADE, related_name="events", verbose_name=_("rental")
    )
    event = models.CharField(_("event"), max_length=40)
    from_status = models.CharField(_("from"), max_length=12, blank=True, default="")
    to_status = models.CharField(_("to"), max_length=12, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("rental event")
        verbose_name_plural = _("rental events")

    def __str__(self) -> str:
        from rentals.models import Rental

        RENTAL_STATUS = Rental.Status
        label = self.event_label
        if self.from_status or self.to_status:
            label += (
                f": {status_label(RENTAL_STATUS, self.from_status)} → {status_label(RENTAL_STATUS, self.to_status)}"
            )
        return label

    @property
    def event_label(self) -> str:
        return str(self.LABELS.get(self.event, self.event))
