"""Car list with filters, car detail, and the stores (public pages)."""

from itertools import groupby
from operator import attrgetter

from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.wording import late_fee_rule_text
from vehicles import selectors
from vehicles.forms import VehicleFilterForm

PAGE_SIZE = 12


@require_GET
def vehicle_list(request):
    form = VehicleFilterForm(request.GET or None)
    if form.is_bound:
        form.is_valid()  # a bad filter is shown with its error and left out; the valid ones still apply
    filters = form.search_kwargs()
    vehicles = selectors.search_vehicles(**filters)
    period = (filters["start_time"], filters["end_time"])
    page = Paginator(vehicles, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "vehicles/vehicle_list.html",
        {
            "form": form,
            "page": page,
            "vehicles": page.object_list,
            "querystring": query.urlencode(),
            "period_start": period[0],
            "period_end": period[1],
        },
    )


@require_GET
def vehicle_detail(request, pk: int):
    vehicle = get_object_or_404(selectors.with_ratings(selectors.bookable_vehicles()), pk=pk)
    reviews = selectors.recent_reviews(vehicle_id=vehicle.pk)
    return render(
        request,
        "vehicles/vehicle_detail.html",
        {"vehicle": vehicle, "reviews": reviews, "late_fee_rule": late_fee_rule_text(vehicle.daily_rate)},
    )


@require_GET
def store_list(request):
    stores = selectors.stores_with_cars()  # by city, then name
    cities = {city: list(group) for city, group in groupby(stores, key=attrgetter("city"))}
    return render(request, "vehicles/store_list.html", {"cities": cities})


@require_GET
def store_detail(request, pk: int):
    store = get_object_or_404(selectors.stores_with_cars(), pk=pk)
    return render(request, "vehicles/store_detail.html", {"store": store})
