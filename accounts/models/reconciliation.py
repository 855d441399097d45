"""Reconciliation runs against the providers' statements and the discrepancies they found (SPEC §14)."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models.payments import Payment


class ReconciliationRun(models.Model):
    """One provider's statement of one day matched with the ledger (SPEC §14).

    One run per (provider, day): running that day again replaces it. A run
    never changes money; its figures are what each side said. Fees are the
    provider's, kept as information (they are never a difference).
    """

    provider = models.CharField(_("provider"), max_length=20)
    day = models.DateField(_("day"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=20, default="api")
    statement_sha256 = models.CharField(_("statement SHA-256"), max_length=64, blank=True, default="")
    statement_rows = models.PositiveIntegerField(_("statement rows"), default=0)
    statement_charge_count = models.PositiveIntegerField(_("charges on the statement"), default=0)
    statement_charge_total = models.DecimalField(
        _("charges on the statement (total)"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    statement_refund_count = models.PositiveIntegerField(_("refunds on the statement"), default=0)
    statement_refund_total = models.DecimalField(
        _("refunds on the statement (total)"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    ledger_charge_count = models.PositiveIntegerField(_("charges in the ledger"), default=0)
    ledger_charge_total = models.DecimalField(
        _("charges in the ledger (total)"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    ledger_refund_count = models.PositiveIntegerField(_("refunds in the ledger"), default=0)
    ledger_refund_total = models.DecimalField(
        _("refunds in the ledger (total)"), max_digits=14, decimal_places=2, default=Decimal("0.00")
    )
    matched_count = models.PositiveIntegerField(_("matched"), default=0)
    # The provider's fees as its statement gives them (WeChat Pay uses 5 decimals).
    fees_total = models.DecimalField(_("provider fees"), max_digits=16, decimal_places=5, default=Decimal("0"))
    # Statement rows matched with a ledger row of another day (money that moved
    # around midnight, or a refund accepted one day and confirmed the next): the
    # runs of those other days do not report them missing.
    matched_elsewhere = models.JSONField(_("matched on another day"), default=list, blank=True)

    class Meta:
        ordering = ["-day", "provider"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        constraints = [
            models.UniqueConstraint(fields=["provider", "day"], name="reconciliation_run_one_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.day.isoformat()}"


class Discrepancy(models.Model):
    """One difference between a provider's statement and the ledger."""

    class Kind(models.TextChoices):
        MISSING_HERE = "missing_here", _("Missing in the ledger")
        MISSING_THERE = "missing_there", _("Missing on the statement")
        AMOUNT_DIFFERS = "amount_differs", _("Amount differs")
        STATUS_DIFFERS = "status_differs", _("Status differs")

    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="discrepancies", verbose_name=_("run")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    transaction_type = models.CharField(
        _("type"), max_length=10, choices=Payment.TransactionType.choices, default=Payment.TransactionType.CHARGE
    )
    transaction_id = models.CharField(_("transaction id"), max_length=64)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="discrepancies",
        verbose_name=_("payment"),
    )
    our_amount = models.DecimalField(_("our amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    their_amount = models.DecimalField(_("their amount"), max_digits=14, decimal_places=2, null=True, blank=True)
    our_status = models.CharField(_("our status"), max_length=20, blank=True, default="")
    their_status = models.CharField(_("their status"), max_length=40, blank=True, default="")
    detail = models.CharField(_("detail"), max_length=255, blank=True, default="")
    resolved = models.BooleanField(_("resolved"), default=False)
    note = models.TextField(_("note"), blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)

    class Meta:
        ordering = ["run", "kind", "transaction_id"]
        verbose_name = _("discrepancy")
        verbose_name_plural = _("discrepancies")
        indexes = [models.Index(fields=["resolved", "kind"], name="discrepancy_resolved_kind")]

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.get_kind_display()}"

    def clean(self) -> None:
        """A difference is resolved only with a note saying how it was settled."""
        self.note = (self.note or "").strip()
        if self.resolved and not self.note:
            message = _("Say in the note how this difference was settled before marking it resolved.")
            raise ValidationError({"note": ValidationError(message, code="note_required")})
