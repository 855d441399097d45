"""E-invoice requests (电子发票, SPEC §20): one per closed order with money kept."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.credit_code import validate_credit_code
from car_rental_system.money import ZERO


class InvoiceRequest(models.Model):
    class TitleType(models.TextChoices):
        PERSONAL = "PERSONAL", _("Personal")
        COMPANY = "COMPANY", _("Company")

    class Status(models.TextChoices):
        REQUESTED = "REQUESTED", _("Requested")
        ISSUED = "ISSUED", _("Issued")
        REJECTED = "REJECTED", _("Rejected")

    rental = models.OneToOneField(
        "rentals.Rental", on_delete=models.PROTECT, related_name="invoice_request", verbose_name=_("rental")
    )
    title_type = models.CharField(_("title type"), max_length=10, choices=TitleType.choices)
    title = models.CharField(_("invoice title"), max_length=100)
    tax_id = models.CharField(_("tax ID"), max_length=18, blank=True, default="")
    email = models.EmailField(_("email"), max_length=254)
    # What the company kept of the order (accounts.figures "kept"), worked out
    # from the ledger each time the request is saved or issued.
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2, validators=[MinValueValidator(ZERO)])
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    invoice_number = models.CharField(_("invoice number"), max_length=40, blank=True, default="")
    issued_at = models.DateTimeField(_("issued at"), null=True, blank=True)
    reject_reason = models.TextField(_("reason for rejection"), blank=True, default="")
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("invoice request")
        verbose_name_plural = _("invoice requests")
        permissions = [("issue_invoice", _("Can issue or reject invoice requests"))]
        indexes = [models.Index(fields=["status", "-created_at"], name="invoice_request_status")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="invoice_request_amount_positive"),
            models.CheckConstraint(
                condition=~Q(title_type="COMPANY") | ~Q(tax_id=""), name="invoice_request_company_tax_id"
            ),
            models.CheckConstraint(
                condition=~Q(status="ISSUED") | (~Q(invoice_number="") & Q(issued_at__isnull=False)),
                name="invoice_request_issued_has_number",
            ),
            models.CheckConstraint(
                condition=~Q(status="REJECTED") | ~Q(reject_reason=""), name="invoice_request_rejected_has_reason"
            ),
            models.UniqueConstraint(
                fields=["invoice_number"], condition=~Q(invoice_number=""), name="invoice_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.rental_id} {self.title}"

    @property
    def is_editable(self) -> bool:
        """The customer may change it until it is issued."""
        return self.status != self.Status.ISSUED

    def clean(self) -> None:
        super().clean()
        if self.title_type == self.TitleType.COMPANY:
            try:
                self.tax_id = validate_credit_code(self.tax_id)
            except ValidationError as error:
                raise ValidationError({"tax_id": error.messages}) from None
        elif self.title_type == self.TitleType.PERSONAL:
            self.tax_id = ""
