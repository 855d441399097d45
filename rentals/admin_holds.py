"""The deposit holds on the Rental admin (SPEC §18): list filters by deposit
mode and by hold status, and the order's holds as a read-only inline. The
filters are EXISTS subqueries: the changelist keeps its query count."""

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from accounts.models import DepositHold
from car_rental_system.admin_mixins import ReadOnlyPermissionsMixin
from car_rental_system.money import format_cny


class HoldStatusFilter(admin.SimpleListFilter):
    """Orders by their deposit holds: any hold, one HELD, one waiting for the
    customer (PENDING), or none at all."""

    title = _("deposit hold")
    parameter_name = "hold"

    def lookups(self, request, model_admin):
        return [
            ("any", _("Any hold")),
            (DepositHold.Status.HELD, _("Held")),
            (DepositHold.Status.PENDING, _("Waiting for the customer")),
            ("none", _("No hold")),
        ]

    def queryset(self, request, queryset):
        holds = DepositHold.objects.filter(rental_id=OuterRef("pk"))
        value = self.value()
        if value == "any":
            return queryset.filter(Exists(holds))
        if value in (DepositHold.Status.HELD, DepositHold.Status.PENDING):
            return queryset.filter(Exists(holds.filter(status=value)))
        if value == "none":
            return queryset.filter(~Exists(holds))
        return queryset


class DepositHoldInline(ReadOnlyPermissionsMixin, admin.TabularInline):
    model = DepositHold
    fk_name = "rental"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = (
        "transaction_id",
        "provider",
        "status",
        "amount_display",
        "captured_display",
        "released_display",
        "release_after",
        "expires_at",
        "failure_reason",
    )
    readonly_fields = fields
    ordering = ("created_at", "id")

    @admin.display(description=_("amount held"))
    def amount_display(self, obj: DepositHold) -> str:
        return format_cny(obj.amount)

    @admin.display(description=_("taken"))
    def captured_display(self, obj: DepositHold) -> str:
        return format_cny(obj.captured_amount)

    @admin.display(description=_("released"))
    def released_display(self, obj: DepositHold) -> str:
        return format_cny(obj.released_amount)
