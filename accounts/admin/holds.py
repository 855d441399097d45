"""Staff views of the deposit holds (SPEC §18): holds, their releases and the
traffic fines, strictly read-only like the ledger. Holds move only through
the flows; the lists read them in a fixed number of queries."""

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.admin.payments import ReadOnlyAdmin, rental_link
from accounts.finance_holds import expiring_condition
from accounts.models import DepositHold, HoldRelease, Payment, TrafficFine
from accounts.selectors.holds import take_reason_label
from car_rental_system.admin_search import CachedValuesFieldListFilter, ExactSearchMixin, as_id
from rentals.admin import ReadOnlyInline, money_column


class ExpiringFilter(admin.SimpleListFilter):
    """HELD holds the provider would end within 3 days, before their release."""

    title = _("provider expiry")
    parameter_name = "expiring"

    def lookups(self, request, model_admin):
        return [("3d", _("Expiring within 3 days, before the release"))]

    def queryset(self, request, queryset):
        if self.value() == "3d":
            return queryset.filter(expiring_condition(timezone.now()))
        return queryset


class ReleaseDueFilter(admin.SimpleListFilter):
    """HELD holds past their release date: the release job's work."""

    title = _("release")
    parameter_name = "release"

    def lookups(self, request, model_admin):
        return [("due", _("Release due"))]

    def queryset(self, request, queryset):
        if self.value() == "due":
            return queryset.filter(status=DepositHold.Status.HELD, release_after__lte=timezone.now())
        return queryset


class HoldReleaseInline(ReadOnlyInline):
    model = HoldRelease
    show_change_link = False
    fields = (
        "request_id",
        "kind",
        "status",
        "amount_display",
        "reason",
        "failure_reason",
        "created_at",
        "confirmed_at",
    )
    readonly_fields = fields
    amount_display = money_column("amount", model=HoldRelease)


class HoldTakeInline(ReadOnlyInline):
    """What was taken from the hold: its CHARGE rows."""

    model = Payment
    fk_name = "hold"
    verbose_name = _("take")
    verbose_name_plural = _("taken from the hold")
    fields = ("transaction_id", "status", "amount_display", "reason_display", "created_at", "paid_at")
    readonly_fields = fields
    amount_display = money_column("amount", model=Payment)

    @admin.display(description=_("taken for"))
    def reason_display(self, obj: Payment) -> str:
        return take_reason_label(obj.take_reason)


@admin.register(DepositHold)
class DepositHoldAdmin(ExactSearchMixin, ReadOnlyAdmin):
    list_display = (
        "transaction_id",
        "rental_display",
        "status",
        "provider",
        "amount_display",
        "captured_display",
        "released_display",
        "release_after",
        "expires_at",
        "created_at",
    )
    amount_display = money_column("amount", model=DepositHold)
    captured_display = money_column("captured_amount", model=DepositHold)
    released_display = money_column("released_amount", model=DepositHold)
    list_filter = ("status", ("provider", CachedValuesFieldListFilter), ExpiringFilter, ReleaseDueFilter)
    search_fields = ("=transaction_id", "=provider_reference", "=rental__id")
    search_help_text = _("Hold id, provider reference or order number (in full).")
    date_hierarchy = None
    ordering = ("-created_at", "-id")
    inlines = (HoldTakeInline, HoldReleaseInline)

    def search_conditions(self, term: str) -> list[Q | None]:
        rental_id = as_id(term)
        return [
            Q(transaction_id=term),
            Q(provider_reference=term),
            Q(rental_id=rental_id) if rental_id is not None else None,
        ]

    @admin.display(description=_("rental"), ordering="rental_id")
    def rental_display(self, obj: DepositHold):
        return rental_link(obj.rental_id)


@admin.register(HoldRelease)
class HoldReleaseAdmin(ExactSearchMixin, ReadOnlyAdmin):
    list_display = ("request_id", "hold", "kind", "status", "amount_display", "reason", "created_at", "confirmed_at")
    amount_display = money_column("amount", model=HoldRelease)
    list_filter = ("kind", "status")
    search_fields = ("=request_id", "=hold__transaction_id")
    search_help_text = _("Request id or hold id (in full).")
    list_select_related = ("hold",)
    ordering = ("-created_at", "-id")

    def search_conditions(self, term: str) -> list[Q | None]:
        return [Q(request_id=term), Q(hold__transaction_id=term)]


@admin.register(TrafficFine)
class TrafficFineAdmin(ExactSearchMixin, ReadOnlyAdmin):
    list_display = ("reference", "rental_display", "amount_display", "hold", "take", "by_user", "created_at")
    amount_display = money_column("amount", model=TrafficFine)
    search_fields = ("=reference", "=rental__id")
    search_help_text = _("Notice number or order number (in full).")
    list_select_related = ("hold", "take", "by_user")
    ordering = ("-created_at", "-id")

    def search_conditions(self, term: str) -> list[Q | None]:
        rental_id = as_id(term)
        return [Q(reference=term), Q(rental_id=rental_id) if rental_id is not None else None]

    @admin.display(description=_("rental"), ordering="rental_id")
    def rental_display(self, obj: TrafficFine):
        return rental_link(obj.rental_id)
