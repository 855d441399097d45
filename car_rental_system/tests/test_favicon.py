"""The site icon: linked from every page, and /favicon.ico answers."""

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_favicon_ico_redirects_permanently_to_the_svg_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"
    assert client.head("/favicon.ico").status_code == 301
    icon = Path(settings.BASE_DIR, "static", "favicon.svg")
    assert icon.read_text().startswith("<svg")


def test_pages_link_the_icon(client, vehicle):
    body = client.get(reverse("vehicles:list")).content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body
