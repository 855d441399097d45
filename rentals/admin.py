"""Counter staff's view of rentals.

The admin never writes a rental or a payment by itself: every amount on the
change form is read-only (derived from §4 and the ledger), and state changes go
through the staff pages in ``rentals/admin_views.py``, which call the services.
"""

from functools import update_wrapper

from django.contrib import admin
from django.db.models import Q
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.models import Payment
from car_rental_system.admin_dates import BoundedDateFiltersMixin
from car_rental_system.money import ZERO, format_cny
from rentals import admin_views
from rentals.models import Rental, RentalEvent

MONEY_FIELDS = (
    "total_amount",
    "discount_amount",
    "deposit",
    "cross_location_fee",
    "overdue_fee",
    "damage_fee",
    "cancellation_fee",
    "amount_paid",
    "amount_refunded",
)


class OverdueFilter(admin.SimpleListFilter):
    """Late cars: OVERDUE, or still active after their end time (not refreshed yet)."""

    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes")), ("no", _("No"))]

    def queryset(self, request, queryset):
        late = Q(status=Rental.Status.OVERDUE) | Q(status__in=Rental.ACTIVE_STATUSES, end_time__lt=timezone.now())
        if self.value() == "yes":
            return queryset.filter(late)
        if self.value() == "no":
            return queryset.exclude(late)
        return queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PaymentInline(ReadOnlyInline):
    """The rental's ledger, read-only: money moves only through the staff pages."""

    model = Payment
    verbose_name = _("ledger row")
    verbose_name_plural = _("ledger (payments and refunds)")
    fields = (
        "transaction_id",
        "transaction_type",
        "status",
        "amount",
        "payment_method",
        "provider",
        "user",
        "description",
        "failure_reason",
        "created_at",
        "paid_at",
    )
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class RentalEventInline(ReadOnlyInline):
    model = RentalEvent
    fields = ("created_at", "event", "from_status", "to_status", "actor", "payload")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Rental)
class RentalAdmin(BoundedDateFiltersMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "status",
        "settlement_status",
        "customer_link",
        "vehicle",
        "pickup_location",
        "start_time",
        "end_time",
        "actual_return_time",
        "order_total_display",
        "amount_paid",
        "amount_refunded",
        "remaining_display",
        "refund_due_display",
        "requires_manual_refund",
    )
    list_display_links = ("id", "status")
    list_filter = (
        "status",
        "settlement_status",
        ("pickup_location", admin.RelatedOnlyFieldListFilter),
        OverdueFilter,
        "requires_manual_refund",
    )
    search_fields = (
        "=id",
        "customer__name",
        "customer__phone",
        "vehicle__plate_number",
        "=payments__transaction_id",
    )
    list_select_related = ("customer", "vehicle", "pickup_location")
    date_hierarchy = "start_time"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    inlines = (PaymentInline, RentalEventInline)
    fieldsets = (
        (None, {"fields": ("customer", "vehicle", "status", "settlement_status", "requires_manual_refund")}),
        (
            _("Times and stores"),
            {
                "fields": (
                    "start_time",
                    "end_time",
                    "picked_up_at",
                    "actual_return_time",
                    "pickup_location",
                    "return_location",
                    "actual_return_location",
                    "return_note",
                )
            },
        ),
        (
            _("Money (derived from the price rules and the ledger)"),
            {
                "fields": (
                    *MONEY_FIELDS,
                    "order_total_display",
                    "net_paid_display",
                    "remaining_display",
                    "refund_due_display",
                    "settled_at",
                )
            },
        ),
        (_("Cancellation"), {"fields": ("cancel_reason", "cancelled_at")}),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )

    # Nothing here is edited by hand: rentals are booked through create_rental and
    # moved by the staff pages; amounts are derived. Staff with the view
    # permission get the read-only change form with the action buttons.
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.opts.concrete_fields] + [
            "order_total_display",
            "net_paid_display",
            "remaining_display",
            "refund_due_display",
        ]

    # --- computed columns (pure: from the stored figures, which equal the ledger) ---

    def _figures(self, obj: Rental):
        return obj.figures_for(obj.amount_paid, obj.amount_refunded)

    @admin.display(description=_("customer"), ordering="customer__name")
    def customer_link(self, obj: Rental):
        url = reverse("admin:customers_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">{}</a><br><small>{}</small>', url, obj.customer.name, obj.customer.phone)

    @admin.display(description=_("order total"))
    def order_total_display(self, obj: Rental) -> str:
        return format_cny(obj.order_total)

    @admin.display(description=_("net paid"))
    def net_paid_display(self, obj: Rental) -> str:
        return format_cny(self._figures(obj).net_paid)

    @admin.display(description=_("still owed"))
    def remaining_display(self, obj: Rental) -> str:
        remaining = self._figures(obj).remaining
        return format_cny(remaining) if remaining > ZERO else "—"

    @admin.display(description=_("refund due"))
    def refund_due_display(self, obj: Rental) -> str:
        due = self._figures(obj).refund_due
        return format_cny(due) if due > ZERO else "—"

    # --- staff pages ---------------------------------------------------------------

    def get_urls(self):
        def wrap(view):
            def wrapper(*args, **kwargs):
                return self.admin_site.admin_view(view)(*args, model_admin=self, **kwargs)

            return update_wrapper(wrapper, view)

        info = self.opts.app_label, self.opts.model_name
        custom = [
            path("<int:pk>/return/", wrap(admin_views.process_return_view), name="%s_%s_return" % info),
            path("<int:pk>/pickup/", wrap(admin_views.pickup_view), name="%s_%s_pickup" % info),
            path("<int:pk>/cancel/", wrap(admin_views.cancel_view), name="%s_%s_cancel" % info),
            path("<int:pk>/payment/", wrap(admin_views.counter_payment_view), name="%s_%s_payment" % info),
            path("<int:pk>/refund/", wrap(admin_views.manual_refund_view), name="%s_%s_refund" % info),
        ]
        return custom + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context["rental_actions"] = admin_views.available_actions(request, obj)
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


@admin.register(RentalEvent)
class RentalEventAdmin(BoundedDateFiltersMixin, admin.ModelAdmin):
    """The rental audit trail: append-only, read-only here."""

    list_display = ("created_at", "rental", "event", "from_status", "to_status", "actor")
    list_filter = ("event",)
    search_fields = ("=rental__id", "event")
    list_select_related = ("rental", "rental__vehicle", "actor")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
