"""The money ledger: payments, their audit trail and the provider messages received."""

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
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

    class Abnormal(models.TextChoices):
        """Where a refund the provider reported abnormal stands (WeChat Pay
        ABNORMAL, SPEC §17): the money waits in the provider's refund transit
        account until staff resolve it with the abnormal-refund API."""

        NONE = "", _("No")
        WAITING = "ABNORMAL", _("Refund abnormal: waiting for staff")
        REQUESTED = "REQUESTED", _("Resolution sent to the provider")
        USER_BANK_CARD = "USER_BANK_CARD", _("Paid to the customer's bank card")
        MERCHANT_BANK_CARD = "MERCHANT_BANK_CARD", _("Returned to our bank account")

    OPEN_STATUSES = (Status.PENDING, Status.PROCESSING)
    # What a charge we close becomes once its provider has closed it (SPEC §17).
    CLOSING_OUTCOMES = (Status.EXPIRED, Status.CANCELLED)
    # Refunds that take money from their charge: given back, or asked of the
    # provider and not refused (SPEC §11). A FAILED refund frees its amount.
    REFUND_TAKING_STATUSES = (Status.REFUNDED, Status.PENDING, Status.PROCESSING)
    # Refunds recorded as handed over by us (cash, the counter, staff): done at once.
    INTERNAL_PROVIDER = "internal"
    # Charges staff took at the counter (cash or the card terminal): their
    # money goes back at the counter (SPEC §17, accounts.refund_rules.is_counter_money).
    COUNTER_PROVIDER = "counter"
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
            # Only the staff re-send of a refund refused for our merchant balance
            # (``retry_failed_refund``, SPEC §17); no provider word moves it.
            Status.FAILED: {Status.PENDING},
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
    # On a charge taken from a deposit hold (SPEC §18): that hold. Such a take
    # is sent by a job, never completed by the customer.
    hold = models.ForeignKey(
        "accounts.DepositHold",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="takes",
        verbose_name=_("deposit hold"),
    )
    # What a take is for (accounts.models.holds.TakeReason); blank otherwise.
    take_reason = models.CharField(_("taken for"), max_length=20, blank=True, default="")
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
    # On a refund the provider reported abnormal: where its resolution stands.
    abnormal = models.CharField(
        _("refund abnormal"), max_length=20, choices=Abnormal.choices, blank=True, default=Abnormal.NONE
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # "Closing" (SPEC §17): a charge we expire or cancel stays PENDING or
    # PROCESSING until its provider has closed it, and this names the status
    # it takes then (EXPIRED or CANCELLED). A closing charge can't be paid or
    # reused on our side and is no longer the rental's open charge; blank
    # otherwise (cleared when the charge leaves PENDING and PROCESSING).
    closing_as = models.CharField(
        _("closing as"),
        max_length=12,
        blank=True,
        default="",
        choices=[(Status.EXPIRED.value, Status.EXPIRED.label), (Status.CANCELLED.value, Status.CANCELLED.label)],
    )
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
            # At most one charge a customer can still complete per rental
            # (one being closed at its provider no longer counts, nor a take
            # from a deposit hold).
            models.UniqueConstraint(
                fields=["rental"],
                condition=Q(
                    transaction_type="CHARGE", status__in=["PENDING", "PROCESSING"], closing_as="", hold__isnull=True
                ),
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
    def customer_status_display(self) -> str:
        """The status in the customer's words: a refund still with its
        provider is "Refund in progress" (never "Pending", which reads as
        awaiting payment), a refused one "Refund failed"."""
        if self.transaction_type == self.TransactionType.REFUND:
            if self.status in self.OPEN_STATUSES:
                return str(_("Refund in progress"))
            if self.status == self.Status.FAILED:
                return str(_("Refund failed"))
        return str(self.get_status_display())

    @property
    def is_abnormal(self) -> bool:
        """A refund the provider holds as abnormal, waiting for staff (SPEC §17)."""
        return self.is_in_flight and self.abnormal == self.Abnormal.WAITING

    @property
    def customer_failure_reason(self) -> str:
        """Why the charge or refund failed, in the customer's words and
        language (accounts.wording); ``failure_reason`` keeps the provider's
        own text for staff."""
        from accounts.wording import customer_failure_reason, failure_code

        return customer_failure_reason(failure_code(self.transaction_type, self.status))

    @property
    def is_open(self) -> bool:
        """A charge the customer can still complete (not one being closed)."""
        return (
            self.transaction_type == self.TransactionType.CHARGE
            and self.status in self.OPEN_STATUSES
            and not self.closing_as
            and self.hold_id is None
        )

    @property
    def is_closing(self) -> bool:
        """A charge we expire or cancel, waiting for its provider to close it (SPEC §17)."""
        return (
            self.transaction_type == self.TransactionType.CHARGE
            and self.status in self.OPEN_STATUSES
            and bool(self.closing_as)
        )

    def can_transition_to(self, status: str) -> bool:
        table = self.TRANSITIONS[self.TransactionType(self.transaction_type)]
        return status in table.get(self.Status(self.status), set())


class PaymentEvent(models.Model):
    """Append-only audit row: a charge created, a callback received (with its
    verdict), a status change, a refund issued, a staff action."""

    # What the stored event codes mean, for staff; a code missing here is shown
    # as stored.
    class Code(models.TextChoices):
        """Every event code the ledger writes, with what it means for staff."""

        CREATED = "created", _("Charge opened")
        STATUS_CHANGED = "status_changed", _("Status changed")
        CALLBACK_RECEIVED = "callback_received", _("Provider callback")
        LATE_PAYMENT_RECEIVED = "late_payment_received", _("Late payment received")
        CHARGE_CANCELLED = "charge_cancelled", _("Charge cancelled")
        CHARGE_EXPIRED = "charge_expired", _("Charge expired")
        REFUND_ISSUED = "refund_issued", _("Refund issued")
        COUNTER_PAYMENT = "counter_payment", _("Counter payment")
        MANUAL_REFUND = "manual_refund", _("Manual refund")
        REFUND_REQUESTED = "refund_requested", _("Refund requested")
        REFUND_ACCEPTED = "refund_accepted", _("Refund accepted by the provider")
        REFUND_CONFIRMED = "refund_confirmed", _("Refund confirmed")
        REFUND_FAILED = "refund_failed", _("Refund failed")
        REFUND_RETRIED = "refund_retried", _("Refund retried")
        REFUND_RESENT = "refund_resent", _("Refund sent again under its own id")
        CHARGE_CLOSING = "charge_closing", _("Charge being closed at the provider")
        CHARGE_CLOSED = "charge_closed", _("Charge closed at the provider")
        REFUND_ABNORMAL = "refund_abnormal", _("Refund abnormal: held by the provider")
        ABNORMAL_REFUND_REQUESTED = "abnormal_refund_requested", _("Abnormal refund: resolution requested")
        ABNORMAL_REFUND_ACCEPTED = "abnormal_refund_accepted", _("Abnormal refund: resolution accepted")
        ABNORMAL_REFUND_REFUSED = "abnormal_refund_refused", _("Abnormal refund: resolution refused")
        # Deposit holds (SPEC §18); the payload names the hold.
        HOLD_STARTED = "hold_started", _("Deposit hold asked of the provider")
        HOLD_HELD = "hold_held", _("Deposit held")
        HOLD_FAILED = "hold_failed", _("Deposit hold refused")
        HOLD_CANCELLED = "hold_cancelled", _("Deposit hold cancelled")
        HOLD_EXPIRED = "hold_expired", _("Deposit hold expired at the provider")
        HOLD_TAKE_REQUESTED = "hold_take_requested", _("Taking from the deposit hold")
        HOLD_TAKE_CONFIRMED = "hold_take_confirmed", _("Taken from the deposit hold")
        HOLD_TAKE_FAILED = "hold_take_failed", _("Taking from the deposit hold refused")
        HOLD_RELEASE_REQUESTED = "hold_release_requested", _("Deposit release sent")
        HOLD_RELEASE_CONFIRMED = "hold_release_confirmed", _("Deposit released")
        HOLD_RELEASE_FAILED = "hold_release_failed", _("Deposit release refused")
        HOLD_RELEASED = "hold_released", _("Deposit hold closed")
        TRAFFIC_FINE_RECORDED = "traffic_fine_recorded", _("Traffic fine recorded")

    # What the stored codes mean (the admin's filter lists them).
    LABELS = dict(Code.choices)

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
