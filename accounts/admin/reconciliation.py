"""Reconciliation runs and their discrepancies in the admin (SPEC §14)."""

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin.payments import ReadOnlyAdmin
from accounts.models import (
    Discrepancy,
    ReconciliationRun,
)
from car_rental_system.admin_dates import BoundedDateFiltersMixin
from car_rental_system.admin_mixins import NoAddOrDeleteMixin
from car_rental_system.admin_search import CachedValuesFieldListFilter
from car_rental_system.money import format_cny
from rentals.admin import ReadOnlyInline, money_column


def _optional_money(value) -> str:
    return "—" if value is None else format_cny(value)


class DiscrepancyStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("open", _("Open")), ("resolved", _("Resolved")))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(resolved=False)
        if self.value() == "resolved":
            return queryset.filter(resolved=True)
        return queryset


class DiscrepancyColumns:
    @admin.display(description=_("our amount"), ordering="our_amount")
    def our_amount_display(self, obj: Discrepancy) -> str:
        return _optional_money(obj.our_amount)

    @admin.display(description=_("their amount"), ordering="their_amount")
    def their_amount_display(self, obj: Discrepancy) -> str:
        return _optional_money(obj.their_amount)


class DiscrepancyInline(DiscrepancyColumns, ReadOnlyInline):
    model = Discrepancy
    fields = (
        "kind",
        "transaction_type",
        "transaction_id",
        "our_amount_display",
        "their_amount_display",
        "our_status",
        "their_status",
        "detail",
        "resolved",
        "note",
    )
    readonly_fields = fields


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnlyAdmin):
    """Runs are written by ``reconcile_payments`` only; their discrepancies are listed inline."""

    list_display = (
        "day",
        "provider",
        "statement_rows",
        "matched_count",
        "open_display",
        "statement_charge_total_display",
        "ledger_charge_total_display",
        "statement_refund_total_display",
        "ledger_refund_total_display",
        "fees_total",
        "finished_at",
    )
    list_filter = (("provider", CachedValuesFieldListFilter),)
    search_fields = ("=provider",)
    statement_charge_total_display = money_column("statement_charge_total", model=ReconciliationRun)
    ledger_charge_total_display = money_column("ledger_charge_total", model=ReconciliationRun)
    statement_refund_total_display = money_column("statement_refund_total", model=ReconciliationRun)
    ledger_refund_total_display = money_column("ledger_refund_total", model=ReconciliationRun)
    fields = (
        "provider",
        "day",
        "started_at",
        "finished_at",
        "source",
        "statement_sha256",
        "statement_rows",
        "matched_count",
        ("statement_charge_count", "statement_charge_total_display"),
        ("ledger_charge_count", "ledger_charge_total_display"),
        ("statement_refund_count", "statement_refund_total_display"),
        ("ledger_refund_count", "ledger_refund_total_display"),
        "fees_total",
        "matched_elsewhere",
    )
    readonly_fields = tuple(name for item in fields for name in (item if isinstance(item, tuple) else (item,)))
    inlines = (DiscrepancyInline,)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(open_count=Count("discrepancies", filter=Q(discrepancies__resolved=False)))
        )

    @admin.display(description=_("open discrepancies"), ordering="open_count")
    def open_display(self, obj: ReconciliationRun):
        open_count = getattr(obj, "open_count", 0)
        if not open_count:
            return "0"
        url = reverse("admin:accounts_discrepancy_changelist")
        return format_html('<a href="{}?run__id__exact={}&state=open">{}</a>', url, obj.pk, open_count)


@admin.register(Discrepancy)
class DiscrepancyAdmin(NoAddOrDeleteMixin, DiscrepancyColumns, BoundedDateFiltersMixin, admin.ModelAdmin):
    """Read-only except the resolution: staff tick "resolved" and say why in the
    note, which a resolution can't do without (``Discrepancy.clean``)."""

    list_display = (
        "run",
        "kind",
        "transaction_type",
        "transaction_id",
        "our_amount_display",
        "their_amount_display",
        "our_status",
        "their_status",
        "resolved",
    )
    list_filter = (DiscrepancyStateFilter, "kind", ("run__provider", CachedValuesFieldListFilter))
    search_fields = ("=transaction_id",)
    list_select_related = ("run",)
    fields = (
        "run",
        "kind",
        "transaction_type",
        "transaction_id",
        "payment",
        "our_amount_display",
        "their_amount_display",
        "our_status",
        "their_status",
        "detail",
        "resolved",
        "note",
        "resolved_by",
        "resolved_at",
    )
    readonly_fields = tuple(name for name in fields if name not in ("resolved", "note"))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "note" and field is not None:
            # Discrepancy.clean refuses "resolved" without a note.
            field.help_text = _("Needed to mark it resolved: how the difference was settled.")
        return field

    def save_model(self, request, obj: Discrepancy, form, change):
        """Only the resolution is saved; who resolved it and when follow the flag."""
        if "resolved" in form.changed_data:
            obj.resolved_by = request.user if obj.resolved else None
            obj.resolved_at = timezone.now() if obj.resolved else None
        obj.save(update_fields=["resolved", "note", "resolved_by", "resolved_at"])
