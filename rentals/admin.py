"""Counter staff's view of rentals.

The admin never writes a rental or a payment by itself: every amount on the
change form is read-only (derived from §4 and the ledger), and state changes go
through the staff pages in ``rentals/admin_views.py``, which call the services.
"""

from typing import Any

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.models import Payment
from accounts.selectors import remaining_so_far
from car_rental_system.admin_dates import BoundedDateFiltersMixin, CalendarDateHierarchyMixin
from car_rental_system.admin_mixins import ReadOnlyPermissionsMixin
from car_rental_system.admin_pages import staff_page
from car_rental_system.admin_search import ExactSearchMixin, as_id
from car_rental_system.money import ZERO, format_cny
from customers.models import Customer
from rentals import admin_board, admin_extension, admin_policy, admin_receipt, admin_views, admin_walkin  # noqa: F401  (admin_policy registers its admin)
from rentals.admin_holds import DepositHoldInline, HoldStatusFilter
from rentals.models import CarCheck, Rental, RentalEvent, status_label
from vehicles.models import Vehicle

MONEY_FIELDS = (
    "daily_rate",
    "total_amount",
    "discount_amount",
    "deposit",
    "cross_location_fee",
    "overdue_fee",
    "damage_fee",
    "cancellation_fee",
    "early_return_fee",
    "amount_paid",
    "amount_refunded",
    "goodwill_amount",
)


RENTAL_EVENT_LABELS = RentalEvent.LABELS  # labels of the stored event codes


def money_column(field: str, model=None, description=None):
    """A read-only admin column showing ``field`` as ``¥1,234.50`` (format_cny),
    so that lists, inlines and the change form use one money format."""

    def show(self, obj) -> str:
        return format_cny(getattr(obj, field))

    show.__name__ = f"{field}_display"
    if description is None:
        description = getattr((model or Rental)._meta.get_field(field), "verbose_name", field)
    return admin.display(description=description, ordering=field)(show)


class EventCodeFilter(admin.SimpleListFilter):
    """Filter an audit trail by event, listed by label instead of code."""

    title = _("event")
    parameter_name = "event"
    labels: dict = {}

    def lookups(self, request, model_admin):
        return [(code, label) for code, label in self.labels.items()]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(event=self.value())
        return queryset


class RentalEventFilter(EventCodeFilter):
    labels = RENTAL_EVENT_LABELS


class RefundFailedFilter(admin.SimpleListFilter):
    """Orders whose refund the provider refused and whose money is still due back (SPEC §11)."""

    title = _("refund failed")
    parameter_name = "refund_failed"

    def lookups(self, request, model_admin):
        return [("yes", _("Yes"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            from accounts import finance

            return queryset.filter(pk__in=finance.failed_refunds(limit=None).values("pk"))
        return queryset


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


MONEY_DISPLAY_FIELDS = tuple(f"{field}_display" for field in MONEY_FIELDS)


def settlement_label(rental: Rental, figures) -> str:
    """The settlement as staff read it in the admin. An open order paid in full is
    stored PARTIAL (it is settled only once closed, §4) and shown as "paid,
    order open"; every other case shows the stored status's label."""
    if (
        rental.status in Rental.ACTIVE_STATUSES
        and figures.net_paid > ZERO
        and figures.remaining == ZERO
        and figures.refund_due == ZERO
    ):
        return str(_("Paid, order open"))
    return rental.get_settlement_status_display()


class ReadOnlyInline(ReadOnlyPermissionsMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


class AuditColumns:
    """Event, status and actor columns of an audit trail (RentalEvent,
    PaymentEvent) as staff read them: labels instead of stored codes."""

    status_choices: Any = None

    @admin.display(description=_("event"), ordering="event")
    def event_display(self, obj) -> str:
        return obj.event_label

    @admin.display(description=_("from"))
    def from_status_display(self, obj) -> str:
        return status_label(self.status_choices, obj.from_status)

    @admin.display(description=_("to"))
    def to_status_display(self, obj) -> str:
        return status_label(self.status_choices, obj.to_status)

    @admin.display(description=_("done by"), ordering="actor")
    def actor_display(self, obj) -> str:
        return obj.actor.get_username() if obj.actor_id else "—"


class PaymentInline(ReadOnlyInline):
    """The rental's ledger, read-only: money moves only through the staff pages."""

    model = Payment
    verbose_name = _("ledger row")
    verbose_name_plural = _("ledger (payments and refunds)")
    fields = (
        "transaction_id",
        "transaction_type",
        "status",
        "amount_display",
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
    amount_display = money_column("amount", model=Payment)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class RentalEventInline(AuditColumns, ReadOnlyInline):
    model = RentalEvent
    status_choices = Rental.Status
    fields = ("created_at", "event_display", "from_status_display", "to_status_display", "actor_display", "payload")
    readonly_fields = fields
    show_change_link = False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class CarCheckInline(ReadOnlyInline):
    """The clerk's check of the car and the driver at hand-over and at return."""

    model = CarCheck
    fields = (
        "stage",
        "mileage_km",
        "fuel_display",
        "condition_notes",
        "id_seen",
        "licence_seen",
        "licence_valid_until",
        "checked_by",
        "checked_at",
    )
    readonly_fields = fields
    show_change_link = False

    @admin.display(description=_("fuel level"))
    def fuel_display(self, obj: CarCheck) -> str:
        return obj.fuel_display

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("checked_by")


def customers_by_phone_or_name(term: str):
    """Customers with exactly this phone number, or whose name contains ``term``
    (not for a term of digits only: that is an order or phone number, and "5"
    shouldn't bring up 客户15)."""
    matches = Q(phone=term)
    if not term.isdigit():
        matches |= Q(name__icontains=term)
    return Customer.objects.filter(matches).values("pk")


@admin.register(Rental)
class RentalAdmin(
    ReadOnlyPermissionsMixin, ExactSearchMixin, CalendarDateHierarchyMixin, BoundedDateFiltersMixin, admin.ModelAdmin
):
    list_display = (
        "id",
        "status",
        "settlement_display",
        "customer_link",
        "vehicle",
        "pickup_location",
        "start_time",
        "end_time",
        "actual_return_time",
        "order_total_display",
        "amount_paid_display",
        "amount_refunded_display",
        "remaining_display",
        "refund_due_display",
        "requires_manual_refund",
    )
    list_display_links = ("id", "status")
    list_filter = (
        "status",
        "settlement_status",
        # Every store, not only those with orders: finding those would read every order.
        "pickup_location",
        OverdueFilter,
        "requires_manual_refund",
        RefundFailedFilter,
        "deposit_mode",  # SPEC §18
        HoldStatusFilter,
    )
    # Searched by search_conditions(): order number, phone, plate and transaction
    # id exactly, or part of the customer's name.
    search_fields = ("=id", "=customer__phone", "=vehicle__plate_number", "=payments__transaction_id", "customer__name")
    search_help_text = _(
        "Order number, phone number, plate or transaction id (in full), or part of the customer's name."
    )
    list_select_related = ("customer", "vehicle", "pickup_location")
    date_hierarchy = "start_time"
    ordering = ("-created_at", "-id")
    list_per_page = 50
    # The order's public page is the customer's own (403 for staff); this change
    # page, with its action buttons, is the staff view of the order.
    view_on_site = False
    inlines = (CarCheckInline, PaymentInline, DepositHoldInline, RentalEventInline)
    fieldsets = (
        (None, {"fields": ("customer", "vehicle", "status", "settlement_display", "requires_manual_refund")}),
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
                    "discount_rate",
                    *MONEY_DISPLAY_FIELDS,
                    "order_total_display",
                    "net_paid_display",
                    "remaining_display",
                    "refund_due_display",
                    "settled_at",
                )
            },
        ),
        (_("Cancellation"), {"fields": ("policy", "cancel_reason", "cancelled_at")}),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )

    def search_conditions(self, term: str) -> list[Q | None]:
        rental_id = as_id(term)
        return [
            Q(pk=rental_id) if rental_id is not None else None,
            Q(customer__in=customers_by_phone_or_name(term)),
            Q(vehicle__in=Vehicle.objects.filter(plate_number__in={term, term.upper()}).values("pk")),
            Q(pk__in=Payment.objects.filter(transaction_id=term).values("rental_id")),
        ]

    # Nothing here is edited by hand (ReadOnlyPermissionsMixin): rentals are
    # booked through create_rental and moved by the staff pages; amounts are
    # derived. Staff with the view permission get the read-only change form
    # with the action buttons.
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.opts.concrete_fields] + [
            *MONEY_DISPLAY_FIELDS,
            "settlement_display",
            "order_total_display",
            "net_paid_display",
            "remaining_display",
            "refund_due_display",
        ]

    # --- computed columns (pure: from the stored figures, which equal the ledger) ---

    def _figures(self, obj: Rental):
        return obj.stored_figures()

    daily_rate_display = money_column("daily_rate")
    total_amount_display = money_column("total_amount")
    discount_amount_display = money_column("discount_amount")
    deposit_display = money_column("deposit")
    cross_location_fee_display = money_column("cross_location_fee")
    overdue_fee_display = money_column("overdue_fee")
    damage_fee_display = money_column("damage_fee")
    cancellation_fee_display = money_column("cancellation_fee")
    early_return_fee_display = money_column("early_return_fee")
    amount_paid_display = money_column("amount_paid")
    amount_refunded_display = money_column("amount_refunded")
    goodwill_amount_display = money_column("goodwill_amount")

    @admin.display(description=_("settlement"), ordering="settlement_status")
    def settlement_display(self, obj: Rental) -> str:
        return settlement_label(obj, self._figures(obj))

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
        figures = self._figures(obj)
        so_far = obj.overdue_fee_so_far()
        if so_far > ZERO:  # SPEC §16: an overdue car owes its late fee so far
            return format_html(
                '<span class="owed-so-far">{}</span><br><small>{}</small>',
                format_cny(remaining_so_far(figures=figures, overdue_so_far=so_far)),
                _("so far, incl. overdue fee %(fee)s") % {"fee": format_cny(so_far)},
            )
        remaining = figures.remaining
        return format_cny(remaining) if remaining > ZERO else "—"

    @admin.display(description=_("refund due"))
    def refund_due_display(self, obj: Rental) -> str:
        due = self._figures(obj).refund_due
        return format_cny(due) if due > ZERO else "—"

    # --- staff pages ---------------------------------------------------------------

    def get_urls(self):
        custom = [
            staff_page(self, "today/", admin_board.counter_board_view, "today"),
            staff_page(self, "walk-in/", admin_walkin.walk_in_view, "walk_in"),
            staff_page(self, "<int:pk>/return/", admin_views.process_return_view, "return"),
            staff_page(self, "<int:pk>/pickup/", admin_views.pickup_view, "pickup"),
            staff_page(self, "<int:pk>/cancel/", admin_views.cancel_view, "cancel"),
            staff_page(self, "<int:pk>/extend/", admin_extension.extend_view, "extend"),
            staff_page(self, "<int:pk>/payment/", admin_views.counter_payment_view, "payment"),
            staff_page(self, "<int:pk>/refund/", admin_views.manual_refund_view, "refund"),
            staff_page(self, "<int:pk>/receipt.pdf", admin_receipt.receipt_view, "receipt"),
            staff_page(self, "<int:pk>/refunds/<int:refund_pk>/retry/", admin_views.retry_refund_view, "retry_refund"),
        ]
        return custom + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["can_view_board"] = request.user.has_perm(admin_board.BOARD_PERMISSION)
        extra_context["can_walk_in"] = admin_walkin.may_book_walk_ins(request.user)
        return super().changelist_view(request, extra_context=extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        obj = self.get_object(request, object_id)
        if obj is not None:
            extra_context["rental_actions"] = admin_views.available_actions(request, obj)
            extra_context["failed_refunds"] = admin_views.failed_refunds_to_retry(request, obj)
            extra_context["receipt_url"] = admin_receipt.receipt_url(request, obj)
        return super().change_view(request, object_id, form_url, extra_context=extra_context)


@admin.register(RentalEvent)
class RentalEventAdmin(
    ReadOnlyPermissionsMixin,
    ExactSearchMixin,
    CalendarDateHierarchyMixin,
    BoundedDateFiltersMixin,
    AuditColumns,
    admin.ModelAdmin,
):
    """The rental audit trail: append-only, read-only here."""

    status_choices = Rental.Status
    fields = (
        "rental",
        "created_at",
        "event_display",
        "from_status_display",
        "to_status_display",
        "actor_display",
        "payload",
    )
    readonly_fields = fields

    list_display = (
        "created_at",
        "rental",
        "event_display",
        "from_status_display",
        "to_status_display",
        "actor_display",
    )
    list_filter = (RentalEventFilter,)
    search_fields = ("=rental__id", "=event")
    search_help_text = _("Order number or event code (in full).")
    list_select_related = ("rental", "rental__vehicle", "actor")
    date_hierarchy = "created_at"
    change_list_template = "admin/change_list_drilldown.html"

    def search_conditions(self, term: str) -> list[Q | None]:
        rental_id = as_id(term)
        return [Q(rental_id=rental_id) if rental_id is not None else None, Q(event=term)]
