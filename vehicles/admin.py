from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from vehicles import selectors
from vehicles.forms import VehicleAdminForm
from vehicles.models import Location, Vehicle


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("name", "city", "address", "opening_hours", "phone")
    list_filter = ("city",)
    search_fields = ("name", "city", "address", "phone")
    fields = ("name", "city", "address", ("opens_at", "closes_at"), "phone")

    @admin.display(description=_("opening hours"))
    def opening_hours(self, obj: Location) -> str:
        return obj.opening_hours


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
    form = VehicleAdminForm
    list_display = (
        "plate_number",
        "brand",
        "model",
        "year",
        "seats",
        "daily_rate",
        "deposit_amount",
        "location",
        "status",
    )
    list_filter = ("status", "location", "brand")
    search_fields = ("plate_number", "brand", "model")
    list_select_related = ("location",)
    autocomplete_fields = ("location",)

    def view_on_site(self, obj: Vehicle) -> str | None:
        """The car's public page, which lists only cars customers can book: a
        car in maintenance or retired gets no "View on site" link (it would 404)."""
        if not selectors.bookable_vehicles().filter(pk=obj.pk).exists():
            return None
        return obj.get_absolute_url()
