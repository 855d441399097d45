from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from car_rental_system.money import format_cny


class Payment(models.Model):
    """One row of the money ledger: a charge (money in) or a refund (money out).

    Rows are never deleted and their amount never changes; balances on the
    rental are derived from them (``Rental.refresh_financials``).
    """

    class Method(models.TextChoices):
        ALIPAY = "ALIPAY", _("Alipay")
        WECHAT = "WECHAT", _("WeChat Pay")
        BANK = "BANK", _("Bank card")
        CASH = "CASH", _("Cash")

    class TransactionType(models.TextChoices):
        CHARGE = "CHARGE", _("Charge")
        REFUND = "REFUND", _("Refund")

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        PROCESSING = "PROCESSING", _("Processing")
        PAID = "PAID", _("Paid")
        FAILED = "FAILED", _("Failed")
        CANCELLED = "CANCELLED", _("Cancelled")
        EXPIRED = "EXPIRED", _("Expired")
        REFUNDED = "REFUNDED", _("Refunded")

    OPEN_STATUSES = (Status.PENDING, Status.PROCESSING)
    # Refunds that take money from their charge: given back, or asked of the
    # provider and not refused (SPEC §11). A FAILED refund frees its amount.
    REFUND_TAKING_STATUSES = (Status.REFUNDED, Status.PENDING, Status.PROCESSING)
    # Refunds recorded as handed over by us (cash, the counter, staff): done at once.
    INTERNAL_PROVIDER = "internal"
    # Provider-final: nothing a provider says can move these again.
    FINAL_STATUSES = (Status.PAID, Status.FAILED, Status.REFUNDED)
    # Allowed moves per transaction type. CANCELLED and EXPIRED were closed on
    # our side only, so a provider's late success may still turn them PAID.
    TRANSITIONS = {
        TransactionType.CHARGE: {
            Status.PENDING: {Status.PROCESSING, Status.PAID, Status.FAILED, Status.CANCELLED, Status.EXPIRED},
            Status.PROCESSING: {Status.PAID, Status.FAILED, Status.CANCELLED, Status.EXPIRED},
            Status.CANCELLED: {Status.PAID},
            Status.EXPIRED: {Status.PAID},
            Status.PAID: set(),
            Status.FAILED: set(),
            Status.REFUNDED: set(),
        },
        TransactionType.REFUND: {
            Status.PENDING: {Status.PROCESSING, Status.REFUNDED, Status.FAILED},
            Status.PROCESSING: {Status.REFUNDED, Status.FAILED},
            Status.REFUNDED: set(),
            Status.FAILED: set(),
        },
    }

    rental = models.ForeignKey(
        "rentals.Rental", on_delete=models.PROTECT, related_name="payments", verbose_name=_("rental")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("user"),
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    # On a refund: the charge whose money it gives back (None for a refund
    # written before refunds were tied to charges, or handed over by staff
    # without one; those are matched to charges by method, newest first).
    refund_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        verbose_name=_("refund of"),
    )
    # On a staff refund: the part above what was due (SPEC §16 goodwill).
    goodwill_amount = models.DecimalField(_("goodwill part"), max_digits=12, decimal_places=2, default=Decimal("0.00"))
    payment_method = models.CharField(_("method"), max_length=10, choices=Method.choices, default=Method.ALIPAY)
    transaction_type = models.CharField(
        _("type"), max_length=10, choices=TransactionType.choices, default=TransactionType.CHARGE
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING)
    transaction_id = models.CharField(_("transaction id"), max_length=40, unique=True)
    provider = models.CharField(_("provider"), max_length=20, blank=True, default="")
    provider_reference = models.CharField(_("provider reference"), max_length=100, blank=True, default="")
    description = models.CharField(_("description"), max_length=255, blank=True, default="")
    # What the note says, as a code and params (accounts.wording), so pages
    # show it in the reader's language; ``description`` holds it in the
    # default language.
    description_code = models.CharField(_("description code"), max_length=40, blank=True, default="")
    description_params = models.JSONField(_("description details"), default=dict, blank=True)
    failure_reason = models.CharField(_("failure reason"), max_length=255, blank=True, default="")
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        permissions = [
            ("record_counter_payment", "Can record a counter payment"),
            ("record_manual_refund", "Can record a manual refund"),
            ("view_finance_dashboard", "Can view the finance dashboard"),
            ("export_payments", "Can export payments"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(goodwill_amount__gte=0) & Q(goodwill_amount__lte=models.F("amount")),
                name="payment_goodwill_within_amount",
            ),
            models.CheckConstraint(
                condition=(
                    Q(transaction_type="CHARGE", transaction_id__startswith="PAY")
                    | Q(transaction_type="REFUND", transaction_id__startswith="REF")
                ),
                name="payment_transaction_id_prefix",
            ),
            # At most one charge a customer can still complete per rental.
            models.UniqueConstraint(
                fields=["rental"],
                condition=Q(transaction_type="CHARGE", status__in=["PENDING", "PROCESSING"]),
                name="payment_one_open_charge_per_rental",
            ),
        ]
        indexes = [
            models.Index(fields=["rental", "transaction_type", "status"], name="payment_rental_type_status"),
            models.Index(fields=["status", "expires_at"], name="payment_status_expires"),
            models.Index(fields=["created_at"], name="payment_created"),
            models.Index(fields=["paid_at"], name="payment_paid_at"),
            # The admin's search by the provider's own reference.
            models.Index(fields=["provider_reference"], name="payment_provider_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_id} {self.get_transaction_type_display()} {format_cny(self.amount)} {self.get_status_display()}"

    @property
    def description_text(self) -> str:
        """The note in the active language (as stored for rows without a code)."""
        from accounts.wording import description_text

        if not self.description_code:
            return self.description
        return description_text(self.description_code, self.description_params, stored=self.description)

    @property
    def is_in_flight(self) -> bool:
        """A refund asked of the provider and not yet confirmed or refused."""
        return self.transaction_type == self.TransactionType.REFUND and self.status in self.OPEN_STATUSES

    @property
    def is_open(self) -> bool:
        return self.transaction_type == self.TransactionType.CHARGE and self.status in self.OPEN_STATUSES

    def can_transition_to(self, status: str) -> bool:
        table = self.TRANSITIONS[self.TransactionType(self.transaction_type)]
        return status in table.get(self.Status(self.status), set())


class PaymentEvent(models.Model):
    """Append-only audit row: a charge created, a callback received (with its
    verdict), a status change, a refund issued, a staff action."""

    # What the stored event codes mean, for staff; a code missing here is shown
    # as stored.
    LABELS = {
        "created": _("Charge opened"),
        "status_changed": _("Status changed"),
        "callback_received": _("Provider callback"),
        "late_payment_received": _("Late payment received"),
        "charge_cancelled": _("Charge cancelled"),
        "charge_expired": _("Charge expired"),
        "refund_issued": _("Refund issued"),
        "counter_payment": _("Counter payment"),
        "manual_refund": _("Manual refund"),
        "refund_requested": _("Refund requested"),
        "refund_accepted": _("Refund accepted by the provider"),
        "refund_confirmed": _("Refund confirmed"),
        "refund_failed": _("Refund failed"),
        "refund_retried": _("Refund retried"),
        "charge_closed": _("Charge closed at the provider"),
    }

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="events", verbose_name=_("payment")
    )
    rental = models.ForeignKey(
        "rentals.Rental",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payment_events",
        verbose_name=_("rental"),
    )
    event = models.CharField(_("event"), max_length=40, db_index=True)
    from_status = models.CharField(_("from"), max_length=12, blank=True, default="")
    to_status = models.CharField(_("to"), max_length=12, blank=True, default="")
    provider = models.CharField(_("provider"), max_length=20, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("payment event")
        verbose_name_plural = _("payment events")

    def __str__(self) -> str:
        from rentals.models import status_label

        label = self.event_label
        if self.from_status or self.to_status:
            label += (
                f": {status_label(Payment.Status, self.from_status)} → {status_label(Payment.Status, self.to_status)}"
            )
        return label

    @property
    def event_label(self) -> str:
        return str(self.LABELS.get(self.event, self.event))


class CallbackReceipt(models.Model):
    """A provider event id that has been acted on; the unique constraint makes a
    replayed callback recognisable even under concurrent delivery."""

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="callback_receipts")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("callback receipt")
        verbose_name_plural = _("callback receipts")
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="callback_receipt_unique_event"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id}"


class Notification(models.Model):
    class Type(models.TextChoices):
        PAYMENT_SUCCESS = "PAYMENT_SUCCESS", _("Payment succeeded")
        PAYMENT_FAILED = "PAYMENT_FAILED", _("Payment failed")
        REFUND_ISSUED = "REFUND_ISSUED", _("Refund issued")
        ORDER_CANCELLED = "ORDER_CANCELLED", _("Order cancelled")
        RENTAL_RETURNED = "RENTAL_RETURNED", _("Car returned")
        RENTAL_OVERDUE = "RENTAL_OVERDUE", _("Rental overdue")

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
