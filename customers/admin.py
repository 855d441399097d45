from django.contrib import admin

from customers.models import Customer


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    """Counter staff register walk-in customers here (no login: ``user`` empty)."""

    list_display = ("name", "phone", "member_level", "user", "created_at")
    list_filter = ("member_level",)
    search_fields = ("name", "phone", "id_card_number", "driver_license_number", "user__username", "user__email")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)
