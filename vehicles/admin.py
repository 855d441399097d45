from django.contrib import admin

from vehicles import selectors
from vehicles.models import Location, Vehicle


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ("name", "city", "address")
    list_filter = ("city",)
    search_fields = ("name", "city", "address")


@admin.register(Vehicle)
class VehicleAdmin(admin.ModelAdmin):
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
