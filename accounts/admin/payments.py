"""Staff views of the ledger: payments, their audit trail, callbacks received, notifications, reviews."""

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts import admin_views
from accounts.models import (
    CallbackReceipt,
    Notification,
    Payment,
    PaymentEvent,
    Review,
)
from car_rental_system.admin_dates import BoundedDateFiltersMixin, CalendarDateHierarchyMixin
from car_rental_system.admin_mixins import ReadOnlyPermissionsMixin
from car_rental_system.admin_pages import staff_page
from car_rental_system.admin_search import CachedValuesFieldListFilter, ExactSearchMixin, as_id
from rentals.admin import AuditColumns, EventCodeFilter, ReadOnlyInline, customers_by_phone_or_name, money_column
from rentals.models import Rental

PAYMENT_EVENT_LABELS = PaymentEvent.LABELS


class PaymentEventFilter(EventCodeFilter):
    labels = PAYMENT_EVENT_LABELS


class RefundAbnormalFilter(admin.SimpleListFilter):
    """Refunds the provider holds as abnormal (WeChat Pay ABNORMAL, SPEC §17):
    still in flight, waiting for staff to resolve them."""

    title = _("refund abnormal")
    parameter_name = "refund_abnormal"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(
                transaction_type=Payment.TransactionType.REFUND,
                status=Payment.Status.PROCESSING,
                abnormal=Payment.Abnormal.WAITING,
            )
        return queryset


class ReadOnlyAdmin(ReadOnlyPermissionsMixin, BoundedDateFiltersMixin, admin.ModelAdmin):
    """View permission only, for everyone including superusers; no bulk delete;
    out-of-range dates in the list filters are ignored with a message."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


def rental_link(rental_id):
    if rental_id is None:
        return "—"
    url = reverse("admin:rentals_rental_change", args=[rental_id])
    return format_html('<a href="{}">#{}</a>', url, rental_id)


class PaymentEventInline(AuditColumns, ReadOnlyInline):
    model = PaymentEvent
    show_change_link = False
    status_choices = Payment.Status
    fields = (
        "created_at",
        "event_display",
        "from_status_display",
        "to_status_display",
        "provider",
        "actor_display",
        "payload",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


@admin.register(Payment)
class PaymentAdmin(ExactSearchMixin, CalendarDateHierarchyMixin, ReadOnlyAdmin):
    list_display = (
        "transaction_id",
        "rental_display",
        "transaction_type",
        "status",
        "amount_display",
        "payment_method",
        "provider",
        "user",
        "created_at",
        "paid_at",
    )
    amount_display = money_column("amount", model=Payment)
    list_filter = (
        "transaction_type",
        "status",
        RefundAbnormalFilter,
        "closing_as",  # charges still being closed at their provider (SPEC §17)
        "payment_method",
        ("provider", CachedValuesFieldListFilter),
    )
    # Searched by search_conditions(): transaction id, provider reference, order
    # number and phone exactly, or part of the customer's name.
    search_fields = (
        "=transaction_id",
        "=provider_reference",
        "=rental__id",
        "=rental__customer__phone",
        "rental__customer__name",
    )
    search_help_text = _(
        "Transaction id, provider reference, order number or phone number (in full), or part of the customer's name."
    )
    list_select_related = ("rental", "user")
    date_hierarchy = "created_at"
    inlines = (PaymentEventInline,)

    def search_conditions(self, term: str) -> list[Q | None]:
        rental_id = as_id(term)
        return [
            Q(transaction_id=term),
            Q(provider_reference=term),
            Q(rental_id=rental_id) if rental_id is not None else None,
            Q(rental__in=Rental.objects.filter(customer__in=customers_by_phone_or_name(term)).values("pk")),
        ]

    @admin.display(description=_("rental"), ordering="rental_id")
    def rental_display(self, obj: Payment):
        return rental_link(obj.rental_id)

    def get_urls(self):
        return [
            staff_page(self, "dashboard/", admin_views.finance_dashboard_view, "dashboard"),
            staff_page(self, "export/", admin_views.export_payments_view, "export"),
            staff_page(self, "<int:pk>/abnormal-refund/", admin_views.abnormal_refund_view, "abnormal_refund"),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        payment = self.get_object(request, object_id)
        extra_context["can_resolve_abnormal"] = (
            payment is not None
            and payment.is_abnormal
            and request.user.has_perm(admin_views.ABNORMAL_REFUND_PERMISSION)
        )
        return super().change_view(request, object_id, form_url, extra_context=extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["can_view_dashboard"] = request.user.has_perm(admin_views.DASHBOARD_PERMISSION)
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(PaymentEvent)
class PaymentEventAdmin(ExactSearchMixin, CalendarDateHierarchyMixin, AuditColumns, ReadOnlyAdmin):
    status_choices = Payment.Status
    list_display = (
        "created_at",
        "event_display",
        "payment",
        "rental_display",
        "from_status_display",
        "to_status_display",
        "provider",
        "actor_display",
    )
    list_filter = (
        PaymentEventFilter,
        ("provider", CachedValuesFieldListFilter),
        ("to_status", CachedValuesFieldListFilter),
    )
    fields = (
        "payment",
        "rental",
        "created_at",
        "event_display",
        "from_status_display",
        "to_status_display",
        "provider",
        "actor_display",
        "payload",
    )
    readonly_fields = fields
    search_fields = ("=payment__transaction_id", "=rental__id", "=event")
    search_help_text = _("Transaction id, order number or event code (in full).")
    list_select_related = ("payment", "actor")
    date_hierarchy = "created_at"
    change_list_template = "admin/change_list_drilldown.html"

    def search_conditions(self, term: str) -> list[Q | None]:
        rental_id = as_id(term)
        return [
            Q(payment__in=Payment.objects.filter(transaction_id=term).values("pk")),
            Q(rental_id=rental_id) if rental_id is not None else None,
            Q(event=term),
        ]

    @admin.display(description=_("rental"), ordering="rental_id")
    def rental_display(self, obj: PaymentEvent):
        return rental_link(obj.rental_id)


@admin.register(CallbackReceipt)
class CallbackReceiptAdmin(ReadOnlyAdmin):
    show_full_result_count = False
    list_display = ("created_at", "provider", "event_id", "payment")
    list_filter = (("provider", CachedValuesFieldListFilter),)
    search_fields = ("=event_id", "=payment__transaction_id")
    list_select_related = ("payment",)


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Notifications are written by the flows; staff read them and may mark them read."""

    show_full_result_count = False
    list_display = ("created_at", "user", "notification_type", "title", "rental", "is_read")
    list_filter = ("notification_type", "is_read")
    search_fields = ("title", "user__username", "=rental__id")
    list_select_related = ("user", "rental", "rental__vehicle")
    readonly_fields = ("user", "rental", "notification_type", "title", "message", "created_at")
    fields = ("user", "rental", "notification_type", "title", "message", "is_read", "created_at")

    def has_add_permission(self, request):
        return False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("rental", "rating", "created_at")
    list_filter = ("rating",)
    search_fields = ("=rental__id", "comment")
    list_select_related = ("rental", "rental__vehicle")
    readonly_fields = ("rental", "rating", "comment", "created_at")

    def has_add_permission(self, request):
        return False
