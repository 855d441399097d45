"""The admin's "View on site" link (在站点上查看): wherever a change page shows
one, it opens a page the staff member reading it may see. Checked over every
registered model with the demo data (orders in every status) and a car in
maintenance, as the superuser and as counter staff."""

import re
from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db

VIEW_ON_SITE = re.compile(r'<a href="([^"]+)" class="viewsitelink">')
ROWS_PER_MODEL = 40


@pytest.fixture
def demo():
    from vehicles.models import Vehicle

    call_command("seed_demo", stdout=StringIO())
    car = Vehicle.objects.filter(status=Vehicle.Status.AVAILABLE).order_by("pk").first()
    car.status = Vehicle.Status.MAINTENANCE
    car.save(update_fields=["status"])


def change_pages():
    for model, model_admin in admin.site._registry.items():
        for pk in model.objects.order_by("pk").values_list("pk", flat=True)[:ROWS_PER_MODEL]:
            yield (
                model,
                model_admin,
                reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[pk]),
            )


@pytest.mark.parametrize("username", ["admin", "counter"])
def test_every_view_on_site_link_answers_200_for_staff(client, demo, username):
    client.force_login(get_user_model().objects.get(username=username))
    links, broken = 0, []
    for _model, _model_admin, url in change_pages():
        page = client.get(url)
        if page.status_code != 200:  # counter staff can't open every model
            continue
        for link in VIEW_ON_SITE.findall(page.content.decode()):
            links += 1
            answer = client.get(link, follow=True)
            if answer.status_code != 200:
                broken.append((url, link, answer.status_code))
    assert broken == []
    assert links  # the cars the customers can book keep their link to the car's page


def test_an_order_change_page_offers_no_customer_page(client, demo):
    from rentals.models import Rental

    client.force_login(get_user_model().objects.get(username="admin"))
    for rental in Rental.objects.all():
        body = client.get(reverse("admin:rentals_rental_change", args=[rental.pk])).content.decode()
        assert 'class="viewsitelink"' not in body
        assert rental.get_absolute_url() not in body


def test_a_car_out_of_service_has_no_link_but_a_bookable_one_has(client, demo):
    from vehicles.models import Vehicle

    client.force_login(get_user_model().objects.get(username="admin"))
    retired = Vehicle.objects.filter(status=Vehicle.Status.MAINTENANCE).first()
    bookable = Vehicle.objects.filter(status=Vehicle.Status.AVAILABLE).first()
    assert retired is not None and bookable is not None
    assert (
        'class="viewsitelink"'
        not in client.get(reverse("admin:vehicles_vehicle_change", args=[retired.pk])).content.decode()
    )
    page = client.get(reverse("admin:vehicles_vehicle_change", args=[bookable.pk])).content.decode()
    [link] = VIEW_ON_SITE.findall(page)
    assert client.get(link, follow=True).status_code == 200
