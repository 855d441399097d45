"""The booking page's price box: its labels count days in each language, and a
booking refused for a reason other than its dates still shows their price."""

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from rentals.models import Rental
from rentals.tests.factories import book
from vehicles.models import Vehicle
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db


def _values(vehicle, start: str, end: str) -> dict:
    return {
        "start_time": start,
        "end_time": end,
        "pickup_location": vehicle.location_id,
        "return_location": vehicle.location_id,
    }


@pytest.mark.parametrize(
    ("language", "end", "rent", "discount"),
    [
        ("en", "2026-03-03T09:00", "Rent (1 day)", "Member discount (0%)"),
        ("en", "2026-03-05T09:00", "Rent (3 days)", "Member discount (0%)"),
        ("zh-hans", "2026-03-03T09:00", "基础租金（1 天）", "会员折扣（0%）"),
        ("zh-hans", "2026-03-05T09:00", "基础租金（3 天）", "会员折扣（0%）"),
    ],
)
def test_quote_labels_count_days_in_the_readers_language(frozen_clock, client, vehicle, language, end, rent, discount):
    response = client.get(
        reverse("rentals:quote", args=[vehicle.pk]),
        _values(vehicle, "2026-03-02T09:00", end),
        HTTP_ACCEPT_LANGUAGE=language,
    )

    data = response.json()
    assert data["rent_label"] == rent
    assert data["discount_label"] == discount


def test_booking_page_has_no_fixed_plural_around_the_day_count(frozen_clock, client, customer, vehicle):
    client.force_login(customer.user)

    body = client.get(reverse("rentals:new", args=[vehicle.pk]), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert " days)" not in body
    assert 'data-quote="rent_label"' in body


class PriceBox(HTMLParser):
    """The text of each ``data-quote`` cell and whether the hint is hidden."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells: dict[str, str] = {}
        self.hint_hidden: bool | None = None
        self._open: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "data-quote" in attributes:
            self._open = attributes["data-quote"]
            self.cells.setdefault(self._open, "")
        if "data-quote-hint" in attributes:
            self.hint_hidden = "d-none" in (attributes.get("class") or "").split()

    def handle_endtag(self, tag):
        if tag in ("td", "th", "span"):
            self._open = None

    def handle_data(self, data):
        if self._open:
            self.cells[self._open] += data.strip()


def test_a_booking_refused_for_unpaid_orders_still_shows_the_price_of_its_dates(
    frozen_clock, customer, location, client
):
    for _ in range(3):
        book(customer, VehicleFactory(location=location))
    car: Vehicle = VehicleFactory(location=location, daily_rate="300.00", deposit_amount="2000.00")
    client.force_login(customer.user)

    response = client.post(
        reverse("rentals:new", args=[car.pk]),
        _values(car, "2026-03-02T09:00", "2026-03-05T09:00"),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 200
    assert "You already have 3 unpaid bookings." in response.content.decode()
    assert not Rental.objects.filter(vehicle=car).exists()
    box = PriceBox()
    box.feed(response.content.decode())
    assert box.cells["rent_label"] == "Rent (3 days)"
    assert box.cells["base_rent"] == "¥900.00"
    assert box.cells["deposit"] == "¥2,000.00"
    assert box.cells["order_total"] == "¥2,900.00"
    assert box.hint_hidden is True


def test_a_booking_refused_for_taken_dates_shows_no_stale_price(frozen_clock, customer, vehicle, client):
    from rentals.tests.clock import END, START
    from rentals.tests.factories import RentalFactory

    RentalFactory(vehicle=vehicle, start_time=START, end_time=END)
    client.force_login(customer.user)

    response = client.post(
        reverse("rentals:new", args=[vehicle.pk]),
        _values(vehicle, "2026-03-02T09:00", "2026-03-05T09:00"),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    box = PriceBox()
    box.feed(response.content.decode())
    assert box.cells["order_total"] == "–"
    assert box.hint_hidden is True
