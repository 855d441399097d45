"""Deposits held at the provider instead of paid (SPEC §18): an Alipay fund
authorisation (资金预授权) or a WeChat Pay Score service order (免押).

A hold is not money: the ledger's sums count Payment rows only. Money taken
from a hold is a CHARGE Payment row linked to it (``Payment.hold``); what goes
back is a HoldRelease with its own request id. Both are written, and their
amount reserved on the hold (``captured_amount``, ``released_amount``), in the
same transaction that locks the hold, before any provider is called; so the
database's ``captured + released ≤ amount`` keeps every yuan taken or released
once, whatever races or repeats.
"""

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from car_rental_system.money import ZERO, format_cny, quantize_money

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2}


class DepositHold(models.Model):
    """One deposit frozen (Alipay) or guaranteed (WeChat Pay Score) for a rental."""

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Waiting for the customer")
        HELD = "HELD", _("Held")
        RELEASED = "RELEASED", _("Released")
        FAILED = "FAILED", _("Refused")
        CANCELLED = "CANCELLED", _("Cancelled")
        EXPIRED = "EXPIRED", _("Expired")

    OPEN_STATUSES = (Status.PENDING, Status.HELD)
    CLOSED_STATUSES = (Status.RELEASED, Status.FAILED, Status.CANCELLED, Status.EXPIRED)
    TRANSITIONS = {
        Status.PENDING: {Status.HELD, Status.FAILED, Status.CANCELLED, Status.EXPIRED},
        # A HELD hold closes once nothing is left at the provider: released
        # (in full, or the rest after its takes), or expired there.
        Status.HELD: {Status.RELEASED, Status.EXPIRED},
        Status.RELEASED: set(),
        Status.FAILED: set(),
        Status.CANCELLED: set(),
        Status.EXPIRED: set(),
    }
    PREFIX = "HLD"

    rental = models.ForeignKey(
        "rentals.Rental", on_delete=models.PROTECT, related_name="holds", verbose_name=_("rental")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deposit_holds",
        verbose_name=_("user"),
    )
    provider = models.CharField(_("provider"), max_length=20)
    payment_method = models.CharField(_("method"), max_length=10)
    # The deposit and the violation part (VIOLATION_DEPOSIT) together.
    amount = models.DecimalField(_("amount held"), **MONEY)
    # Our id of the hold: Alipay out_order_no / out_request_no of the freeze,
    # WeChat Pay Score out_order_no (at most 32 letters and digits).
    transaction_id = models.CharField(_("hold id"), max_length=32, unique=True)
    # Alipay auth_no, WeChat Pay Score order_id.
    provider_reference = models.CharField(_("provider reference"), max_length=100, blank=True, default="")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    # Reserved by the takes written (CHARGE rows linked to this hold, PAID or
    # on their way) and by the releases written; a refused take or release
    # gives its amount back.
    captured_amount = models.DecimalField(_("taken"), default=Decimal("0.00"), **MONEY)
    released_amount = models.DecimalField(_("released"), default=Decimal("0.00"), **MONEY)
    held_at = models.DateTimeField(_("held at"), null=True, blank=True)
    # Return + VIOLATION_HOLD_DAYS: the violation part stays held until then.
    release_after = models.DateTimeField(_("release after"), null=True, blank=True)
    # When the provider itself ends the hold (an Alipay freeze lasts a year at
    # most, a Pay Score order as its service allows).
    expires_at = models.DateTimeField(_("provider expiry"), null=True, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("deposit hold")
        verbose_name_plural = _("deposit holds")
        permissions = [("record_traffic_fine", "Can record a traffic fine against a deposit hold")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="hold_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0)
                & Q(released_amount__gte=0)
                & Q(amount__gte=F("captured_amount") + F("released_amount")),
                name="hold_taken_and_released_within_amount",
            ),
            models.CheckConstraint(condition=Q(transaction_id__startswith="HLD"), name="hold_transaction_id_prefix"),
            models.UniqueConstraint(
                fields=["rental"], condition=Q(status__in=["PENDING", "HELD"]), name="hold_one_open_per_rental"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "release_after"], name="hold_status_release_after"),
            models.Index(fields=["status", "expires_at"], name="hold_status_expires"),
            models.Index(fields=["provider_reference"], name="hold_provider_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} {format_cny(self.amount)} {self.get_status_display()}"

    @property
    def rest(self) -> Decimal:
        """What is still frozen and neither taken nor released (nor on its way)."""
        return quantize_money(self.amount - self.captured_amount - self.released_amount)

    @property
    def held(self) -> Decimal:
        """The §18 figure ``held`` of this hold: its rest while HELD, else zero."""
        return self.rest if self.status == self.Status.HELD else ZERO

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.Status(self.status), set())


class HoldRelease(models.Model):
    """A part of a hold given back to the customer, or the hold's end at the
    provider: an Alipay unfreeze (its own out_request_no), a cancel, a Pay
    Score completion. Written with its request id before the call; a retry
    repeats the same id, so the provider acts on it once."""

    class Kind(models.TextChoices):
        RELEASE = "RELEASE", _("Release")
        CANCEL = "CANCEL", _("Cancel")
        COMPLETE = "COMPLETE", _("Completion")

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Sent")
        DONE = "DONE", _("Confirmed")
        FAILED = "FAILED", _("Refused")

    PREFIX = "HLR"

    hold = models.ForeignKey(DepositHold, on_delete=models.PROTECT, related_name="releases", verbose_name=_("hold"))
    request_id = models.CharField(_("request id"), max_length=32, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.RELEASE)
    amount = models.DecimalField(_("amount"), default=Decimal("0.00"), **MONEY)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    # Why: at return, after the violation window, a cancelled booking, staff.
    reason = models.CharField(_("reason"), max_length=40, blank=True, default="")
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("hold release")
        verbose_name_plural = _("hold releases")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="hold_release_amount_not_negative"),
            models.CheckConstraint(condition=Q(request_id__startswith="HLR"), name="hold_release_request_id_prefix"),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="hold_release_status_created")]

    def __str__(self) -> str:
        return f"{self.request_id} {self.get_kind_display()} {format_cny(self.amount)} {self.get_status_display()}"


class TakeReason(models.TextChoices):
    """What money taken from a hold pays for (``Payment.take_reason``); the
    WeChat Pay Score item each is completed as (SPEC §18's allowed names)."""

    RETURN_FEES = "RETURN_FEES", _("Fees found at return")
    OVERDUE = "OVERDUE", _("Late return fee")
    DAMAGE = "DAMAGE", _("Damage fee")
    ONE_WAY = "ONE_WAY", _("One-way fee")
    TRAFFIC_FINE = "TRAFFIC_FINE", _("Traffic fine")


class TrafficFine(models.Model):
    """A traffic fine (违章) found after return and recorded by staff: taken
    from the rental's hold while it holds enough, the rest owed as a fee."""

    rental = models.ForeignKey(
        "rentals.Rental", on_delete=models.PROTECT, related_name="traffic_fines", verbose_name=_("rental")
    )
    hold = models.ForeignKey(
        DepositHold, on_delete=models.PROTECT, null=True, blank=True, related_name="fines", verbose_name=_("hold")
    )
    # The take from the hold that pays it (None when nothing was held).
    take = models.OneToOneField(
        "accounts.Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="traffic_fine",
        verbose_name=_("taken as"),
    )
    amount = models.DecimalField(_("amount"), **MONEY)
    # What the traffic police's notice says (决定书编号); one fine per number per order.
    reference = models.CharField(_("reference"), max_length=64)
    note = models.TextField(_("note"), blank=True, default="")
    by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("recorded by")
    )
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("traffic fine")
        verbose_name_plural = _("traffic fines")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="traffic_fine_amount_positive"),
            models.UniqueConstraint(fields=["rental", "reference"], name="traffic_fine_one_per_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {format_cny(self.amount)}"
