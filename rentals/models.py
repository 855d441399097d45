from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from car_rental_system import bounds
from car_rental_system.money import ZERO, quantize_money
from rentals import pricing
from rentals.early_return import used_days_if_early
from rentals.exceptions import InvalidTransition
from rentals.policies import CancellationPolicy

if TYPE_CHECKING:
    from accounts.figures import MoneyFigures

MONEY: dict[str, Any] = {"max_digits": 12, "decimal_places": 2, "default": Decimal("0.00")}


class RentalQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        # Rows written in bulk (imports, benchmarks) get the policy version in
        # force too, as Rental.save gives it (SPEC §19).
        objs = list(objs)
        if any(obj.policy_id is None for obj in objs):
            policy = CancellationPolicy.objects.in_force()
            for obj in objs:
                if obj.policy_id is None:
                    obj.policy = policy
        return super().bulk_create(objs, *args, **kwargs)


class Rental(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending pick-up")
        ONGOING = "ONGOING", _("Ongoing")
        OVERDUE = "OVERDUE", _("Overdue")
        COMPLETED = "COMPLETED", _("Completed")
        CANCELLED = "CANCELLED", _("Cancelled")

    class DepositMode(models.TextChoices):
        """How the deposit is given (SPEC §18): as money (CHARGE), frozen in
        Alipay (HOLD), deposit-free on WeChat Pay Score (CREDIT), or not asked
        (WAIVED, VIP)."""

        CHARGE = "CHARGE", _("Paid as money")
        HOLD = "HOLD", _("Frozen in Alipay")
        CREDIT = "CREDIT", _("Deposit-free with WeChat Pay Score")
        WAIVED = "WAIVED", _("Waived")

    # The modes in which the deposit is never owed as money (SPEC §18).
    HELD_DEPOSIT_MODES = (DepositMode.HOLD, DepositMode.CREDIT)

    class SettlementStatus(models.TextChoices):
        UNSETTLED = "UNSETTLED", _("Unsettled")
        PARTIAL = "PARTIAL", _("Partially settled")
        SETTLED = "SETTLED", _("Settled")

    # Allowed status moves; anything else raises InvalidTransition.
    TRANSITIONS = {
        Status.PENDING: {Status.ONGOING, Status.OVERDUE, Status.CANCELLED},
        Status.ONGOING: {Status.OVERDUE, Status.COMPLETED, Status.CANCELLED},
        # Back to ONGOING only when the order is extended past now (SPEC §19).
        Status.OVERDUE: {Status.ONGOING, Status.COMPLETED, Status.CANCELLED},
        Status.COMPLETED: set(),
        Status.CANCELLED: set(),
    }
    ACTIVE_STATUSES = (Status.PENDING, Status.ONGOING, Status.OVERDUE)
    ON_ROAD_STATUSES = (Status.ONGOING, Status.OVERDUE)
    CLOSED_STATUSES = (Status.COMPLETED, Status.CANCELLED)

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.PROTECT, related_name="rentals", verbose_name=_("customer")
    )
    vehicle = models.ForeignKey(
        "vehicles.Vehicle", on_delete=models.PROTECT, related_name="rentals", verbose_name=_("car")
    )
    pickup_location = models.ForeignKey(
        "vehicles.Location", on_delete=models.PROTECT, related_name="+", verbose_name=_("pick-up store")
    )
    return_location = models.ForeignKey(
        "vehicles.Location", on_delete=models.PROTECT, related_name="+", verbose_name=_("planned return store")
    )
    actual_return_location = models.ForeignKey(
        "vehicles.Location",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
        verbose_name=_("actual return store"),
    )
    start_time = models.DateTimeField(_("start time"))
    end_time = models.DateTimeField(_("end time"))
    picked_up_at = models.DateTimeField(_("picked up at"), null=True, blank=True)
    actual_return_time = models.DateTimeField(_("actual return time"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)

    # The prices this order was booked at (§16 "rates are fixed at booking"):
    # every fee, the overdue fee included, uses these, never the car's current rate.
    daily_rate = models.DecimalField(_("daily rate"), **MONEY)
    discount_rate = models.DecimalField(_("member discount rate"), max_digits=5, decimal_places=4, default=Decimal("0"))
    total_amount = models.DecimalField(_("rental fee"), **MONEY)
    discount_amount = models.DecimalField(_("member discount"), **MONEY)
    deposit = models.DecimalField(_("deposit"), **MONEY)
    cross_location_fee = models.DecimalField(_("one-way fee"), **MONEY)
    overdue_fee = models.DecimalField(_("overdue fee"), **MONEY)
    damage_fee = models.DecimalField(_("damage fee"), **MONEY)
    # Traffic fines (违章) recorded after return (SPEC §18): a fee like the others.
    traffic_fine_fee = models.DecimalField(_("traffic fines"), **MONEY)
    cancellation_fee = models.DecimalField(_("cancellation fee"), **MONEY)
    # Part of ``total_amount`` once a car comes back early (SPEC §19): the
    # policy's percent of the unused days' rent; the rest is the used days' rent.
    early_return_fee = models.DecimalField(_("early return fee"), **MONEY)

    # Derived from the Payment ledger by refresh_financials(); never edited by hand.
    amount_paid = models.DecimalField(_("amount paid"), **MONEY)
    amount_refunded = models.DecimalField(_("amount refunded"), **MONEY)
    # The goodwill part of staff refunds (above what was due): it lowers what
    # the order owes, so a goodwill refund never turns into a debt (SPEC §16).
    goodwill_amount = models.DecimalField(_("goodwill refunded"), **MONEY)
    # Online refunds asked of the provider and not yet confirmed or refused
    # (SPEC §11): no longer due, not yet refunded.
    amount_refund_in_flight = models.DecimalField(_("refund in progress"), **MONEY)
    # How the deposit is given (SPEC §18), and the §18 figure ``held``: what
    # its HELD deposit hold still holds (stored like the ledger sums; derived
    # from the hold rows by refresh_financials).
    deposit_mode = models.CharField(
        _("deposit mode"), max_length=10, choices=DepositMode.choices, default=DepositMode.CHARGE
    )
    amount_held = models.DecimalField(_("deposit held at the provider"), **MONEY)
    settlement_status = models.CharField(
        _("settlement"),
        max_length=10,
        choices=SettlementStatus.choices,
        default=SettlementStatus.UNSETTLED,
        db_index=True,
    )
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    # Money is due back but nobody can receive it (walk-in without a login):
    # staff must refund by hand (record_manual_refund).
    requires_manual_refund = models.BooleanField(_("needs manual refund"), default=False)

    # The policy version in force at booking (SPEC §19): its terms price this
    # order's cancellation, whatever staff change later.
    policy = models.ForeignKey(
        CancellationPolicy,
        on_delete=models.PROTECT,
        related_name="rentals",
        verbose_name=_("cancellation policy"),
    )
    cancel_reason = models.TextField(_("cancel reason"), blank=True, default="")
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    return_note = models.TextField(_("return note"), blank=True, default="")
    # Where the customer booked from: unpaid bookings per client address are
    # capped (SPEC §17). Empty for bookings made by staff or scripts.
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = RentalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("rental")
        verbose_name_plural = _("rentals")
        permissions = [
            ("pickup_rental", "Can hand over a car (pick-up)"),
            ("process_return", "Can process a car return"),
            ("cancel_rental", "Can cancel a rental as staff"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(end_time__gt=models.F("start_time")), name="rental_end_after_start"),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0)
                & Q(discount_amount__gte=0)
                & Q(deposit__gte=0)
                & Q(cross_location_fee__gte=0)
                & Q(overdue_fee__gte=0)
                & Q(damage_fee__gte=0)
                & Q(traffic_fine_fee__gte=0)
                & Q(amount_held__gte=0)
                & Q(cancellation_fee__gte=0)
                & Q(early_return_fee__gte=0)
                & Q(amount_paid__gte=0)
                & Q(amount_refunded__gte=0)
                & Q(goodwill_amount__gte=0)
                & Q(amount_refund_in_flight__gte=0),
                name="rental_money_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=models.F("amount_paid")), name="rental_refunded_within_paid"
            ),
        ]
        indexes = [
            models.Index(fields=["vehicle", "status", "start_time"], name="rental_vehicle_status_start"),
            models.Index(fields=["status", "start_time"], name="rental_status_start"),
            models.Index(fields=["status", "end_time"], name="rental_status_end"),
            models.Index(fields=["customer", "-created_at"], name="rental_customer_created"),
            # The cap on unpaid bookings per client address counts these.
            models.Index(
                fields=["client_ip", "created_at"], condition=Q(status="PENDING"), name="rental_pending_client_ip"
            ),
            # The admin's date drill-down.
            models.Index(fields=["start_time"], name="rental_start"),
            # The finance dashboard's balances and deposits read only the orders
            # not settled, from this index alone: it holds every column they
            # need, and only the rows that aren't SETTLED.
            models.Index(
                fields=[
                    "settlement_status",
                    "status",
                    "total_amount",
                    "deposit",
                    "cross_location_fee",
                    "overdue_fee",
                    "damage_fee",
                    "traffic_fine_fee",
                    "cancellation_fee",
                    "goodwill_amount",
                    "amount_paid",
                    "amount_refunded",
                    "deposit_mode",
                    "amount_held",
                ],
                condition=~Q(settlement_status="SETTLED"),
                name="rental_open_balances",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.vehicle} {self.get_status_display()}"

    def save(self, *args, **kwargs):
        # A new rental is priced from §4 at creation, whatever the caller passed.
        if self._state.adding:
            self.apply_quote()
            # A VIP has no deposit to give (SPEC §18); others give it as money
            # until a hold starts.
            if self.deposit == ZERO and self.customer.member_level == "VIP":
                self.deposit_mode = self.DepositMode.WAIVED
            if self.policy_id is None:
                self.policy = CancellationPolicy.objects.in_force()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("accounts:order_detail", args=[self.pk])

    # --- prices -------------------------------------------------------------

    def apply_quote(self) -> pricing.PriceQuote:
        """Fill the booking-time amounts from the car, the member level and the
        times, and keep the daily rate and discount rate they were priced at."""
        q = pricing.quote(
            daily_rate=self.vehicle.daily_rate,
            deposit_amount=self.vehicle.deposit_amount,
            member_level=self.customer.member_level,
            start_time=self.start_time,
            end_time=self.end_time,
            pickup_location_id=self.pickup_location_id,
            return_location_id=self.return_location_id,
        )
        self.daily_rate = q.daily_rate
        self.discount_rate = q.discount_rate
        self.total_amount = q.total_amount
        self.discount_amount = q.discount_amount
        self.deposit = q.deposit
        self.cross_location_fee = q.cross_location_fee
        return q

    @property
    def days(self) -> int:
        return pricing.rental_days(self.start_time, self.end_time)

    @property
    def order_total(self) -> Decimal:
        from accounts import figures

        return figures.value_of("order_total", self, sums={})

    def get_order_amount_breakdown(self) -> dict:
        """Every fee of the order as Decimals (SPEC §4), for pages, admin and tests."""
        # Back early (§19): the rent of the days used, the early-return fee apart.
        rental_fee = quantize_money(self.total_amount - self.early_return_fee)
        used_days = used_days_if_early(self.start_time, self.end_time, self.actual_return_time)
        return {
            "days": self.days if used_days is None else used_days,
            "daily_rate": quantize_money(self.daily_rate),
            "discount_rate": self.discount_rate,
            "base_rent": quantize_money(rental_fee + self.discount_amount),
            "discount_amount": quantize_money(self.discount_amount),
            "total_amount": quantize_money(self.total_amount),
            "rental_fee": rental_fee,
            "early_return_fee": quantize_money(self.early_return_fee),
            "deposit": quantize_money(self.deposit),
            "cross_location_fee": quantize_money(self.cross_location_fee),
            "overdue_fee": quantize_money(self.overdue_fee),
            "damage_fee": quantize_money(self.damage_fee),
            "cancellation_fee": quantize_money(self.cancellation_fee),
            "order_total": self.order_total,
        }

    # --- ledger -------------------------------------------------------------

    def ledger_sums(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        """(paid, refunded, goodwill, refund in flight) from the Payment rows
        (a prefetch when there is one); defined in ``accounts.figures``."""
        from accounts import figures

        return figures.ledger_sums(self)

    def figures_for(
        self,
        paid: Decimal,
        refunded: Decimal,
        goodwill: Decimal = ZERO,
        in_flight: Decimal = ZERO,
        holds: tuple[Decimal, bool] | None = None,
    ) -> "MoneyFigures":
        """The §4 figures for given ledger sums (pure; no query), as
        ``accounts.figures`` defines them. Refunds in flight (§11) are no
        longer due and not yet refunded: a closed order is SETTLED only once
        none is left in flight."""
        from accounts import figures

        return figures.figures_for(self, paid, refunded, goodwill, in_flight, holds)

    def money_figures(self) -> "MoneyFigures":
        """The figures from the ledger and the deposit holds (§18)."""
        from accounts import figures

        return self.figures_for(*self.ledger_sums(), holds=figures.hold_sums(self))

    def _booked_daily_rate(self) -> Decimal:
        """The daily rate the §4 fees of this order are charged at: the one it was booked at."""
        return self.daily_rate

    def overdue_fee_so_far(self, now: datetime | None = None) -> Decimal:
        """SPEC §16 "overdue so far": while the order is OVERDUE, the §4 late
        fee it would carry if the car came back at ``now``; zero otherwise.
        Shown on pages only: the stored ``overdue_fee`` is set at return."""
        if self.status != self.Status.OVERDUE:
            return ZERO
        fee = pricing.overdue_fee_for(self.end_time, now or timezone.now(), self._booked_daily_rate())
        return bounds.late_fee_within_cap(
            fee, rest_of_total=self.total_amount + self.deposit + self.cross_location_fee + self.damage_fee
        )

    def stored_figures(self) -> "MoneyFigures":
        """The §4 figures from the stored sums (which equal the ledger); no query."""
        return self.figures_for(
            self.amount_paid, self.amount_refunded, self.goodwill_amount, self.amount_refund_in_flight
        )

    @property
    def outstanding_amount(self) -> Decimal:
        """What the customer must still pay (SPEC §4 ``remaining``)."""
        return self.money_figures().remaining

    def apply_figures(self, figures: "MoneyFigures", now: datetime | None = None) -> list[str]:
        """Copy ledger-derived figures onto the row; return the names of the fields that changed."""
        changed = []
        settled = figures.settlement_status == self.SettlementStatus.SETTLED
        if settled:
            settled_at = self.settled_at or (now or timezone.now())
        else:
            settled_at = None
        new_values = {
            "amount_paid": figures.paid,
            "amount_refunded": figures.refunded,
            "goodwill_amount": figures.goodwill,
            "amount_refund_in_flight": figures.refund_in_flight,
            "amount_held": figures.held,
            "settlement_status": figures.settlement_status,
            "settled_at": settled_at,
        }
        if figures.refund_due == ZERO and self.requires_manual_refund:
            new_values["requires_manual_refund"] = False
        for field, value in new_values.items():
            if getattr(self, field) != value:
                setattr(self, field, value)
                changed.append(field)
        return changed

    def refresh_financials(self, save: bool = True) -> bool:
        """Store amount_paid, amount_refunded, goodwill_amount, amount_refund_in_flight, amount_held,
        settlement_status and settled_at from
        the ledger. Writes only when something differs; returns whether it did."""
        changed = self.apply_figures(self.money_figures())
        if changed and save and self.pk:
            self.save(update_fields=[*changed, "updated_at"])
        return bool(changed)

    def copy_state_from(self, source: "Rental") -> None:
        """Let this instance see what another copy of the same row (the locked
        one a service wrote) holds now."""
        if source is self:
            return
        for model_field in source._meta.concrete_fields:
            setattr(self, model_field.attname, getattr(source, model_field.attname))

    def refund_deposit(self, user=None):
        """Refund what the company owes back on a closed order (deposit less the
        fees found at return, or net paid on a cancelled one), once.

        ``user`` receives the refund; None → the user on the order's payments,
        else the customer's user. Returns the REFUND Payment or None.
        """
        from accounts.services import refund_amount_due

        return refund_amount_due(rental=self, recipient=user, reason="deposit")

    # --- status -------------------------------------------------------------

    def can_transition_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.Status(self.status), set())

    def assert_transition(self, status: str) -> None:
        if not self.can_transition_to(status):
            raise InvalidTransition(
                _("An order that is %(current)s cannot become %(target)s.")
                % {"current": self.get_status_display(), "target": self.Status(status).label},
                code="invalid_transition",
            )

    @property
    def payment_deadline(self) -> datetime:
        """An unpaid booking holds its car until this moment (SPEC §16):
        BOOKING_PAYMENT_MINUTES after it was made, never past its start."""
        held = self.created_at + timedelta(minutes=settings.BOOKING_PAYMENT_MINUTES)
        return min(held, self.start_time)

    @property
    def is_unpaid_booking(self) -> bool:
        """A booking nothing has been paid for (the stored sum equals the ledger's)."""
        return self.status == self.Status.PENDING and self.amount_paid <= ZERO

    def status_by_time(self, now: datetime | None = None) -> str:
        """The status this rental should have at ``now``: an unpaid booking
        lapses (CANCELLED) once its payment deadline has passed; a paid one
        moves PENDING → ONGOING at start_time and → OVERDUE after end_time;
        closed rentals never move."""
        now = now or timezone.now()
        if self.status not in self.ACTIVE_STATUSES:
            return self.status
        if self.is_unpaid_booking:
            return self.Status.CANCELLED if now >= self.payment_deadline else self.status
        if now > self.end_time:
            return self.Status.OVERDUE
        if self.status == self.Status.PENDING and now >= self.start_time:
            return self.Status.ONGOING
        return self.status

    def auto_update_status(self, now: datetime | None = None) -> bool:
        """Move this rental's status by time (and its car's); returns whether it moved."""
        from rentals.services import advance_rental_status

        return advance_rental_status(rental=self, now=now)


# The audit trail of a rental's status and staff actions, and what the clerk
# checked at hand-over and return, kept with the order.
from rentals.car_checks import CarCheck  # noqa: E402, F401
from rentals.rental_events import RentalEvent, status_label  # noqa: E402, F401
