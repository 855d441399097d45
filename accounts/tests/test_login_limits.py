"""Guessing passwords (SPEC §17 "Hostile users"): the admin's sign-in is
limited like the site's, per client IP and per username, with the same
settings, the same 429 page and the same counters."""

import pytest
from django.urls import reverse

from customers.tests.factories import TEST_PASSWORD
from rentals.tests.admin_support import staff_in_group

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
SITE_LOGIN = "/accounts/login/"


def guess(client, url: str, username: str, n: int, **extra):
    return client.post(url, {"username": username, "password": f"wrong-{n}"}, **extra).status_code


def test_wrong_admin_passwords_meet_the_limit_and_then_the_right_one_fails_too(client, settings):
    assert settings.LOGIN_RATE_PER_USERNAME == "10/h"
    staff_in_group("counter", username="desk")

    # every guess from another address: only the per-username limit applies
    answers = [guess(client, ADMIN_LOGIN, "desk", n, REMOTE_ADDR=f"10.0.1.{n}") for n in range(11)]

    assert answers[:10] == [200] * 10
    assert answers[10] == 429
    page = client.post(
        ADMIN_LOGIN, {"username": "desk", "password": TEST_PASSWORD}, REMOTE_ADDR="10.0.2.1", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert page.status_code == 429
    assert "Too many attempts" in page.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302  # still signed out
    # the Chinese page too
    chinese = client.post(ADMIN_LOGIN, {"username": "desk", "password": "x"}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 429 and "尝试次数过多" in chinese.content.decode()


def test_one_address_trying_many_staff_names_on_the_admin_is_limited(client, settings):
    settings.LOGIN_RATE_PER_IP = "5/h"

    answers = [guess(client, ADMIN_LOGIN, f"clerk{n}", n) for n in range(6)]

    assert answers == [200] * 5 + [429]
    assert client.get(ADMIN_LOGIN).status_code == 200  # reading the page is never limited


def test_the_site_and_the_admin_share_one_budget_of_guesses(client, settings):
    settings.LOGIN_RATE_PER_USERNAME = "4/h"
    staff_in_group("counter", username="desk")

    site = [guess(client, SITE_LOGIN, "desk", n, REMOTE_ADDR=f"10.0.3.{n}") for n in range(2)]
    admin = [guess(client, ADMIN_LOGIN, "desk", n, REMOTE_ADDR=f"10.0.4.{n}") for n in range(3)]

    assert site + admin == [200, 200, 200, 200, 429]
    assert guess(client, SITE_LOGIN, "desk", 9, REMOTE_ADDR="10.0.5.1") == 429


def test_below_the_limit_staff_sign_in_to_the_admin_as_usual(client):
    staff_in_group("counter", username="desk")
    guess(client, ADMIN_LOGIN, "desk", 1)

    response = client.post(ADMIN_LOGIN, {"username": "desk", "password": TEST_PASSWORD, "next": "/admin/"})

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get(reverse("admin:index")).status_code == 200


# --- one name, one bucket --------------------------------------------------------------


@pytest.mark.parametrize("url", [SITE_LOGIN, ADMIN_LOGIN])
@pytest.mark.parametrize("spelling", ["ｒt31", "rt３1", "RT31", "ＲＴ３１", " rt31 "])
def test_other_spellings_of_a_limited_name_share_its_limit(client, url, spelling):
    staff_in_group("counter", username="rt31")
    for n in range(10):
        assert guess(client, url, "rt31", n, REMOTE_ADDR=f"10.0.6.{n}") == 200

    assert guess(client, url, spelling, 99, REMOTE_ADDR="10.0.7.1") == 429
    right = client.post(url, {"username": spelling, "password": TEST_PASSWORD}, REMOTE_ADDR="10.0.7.2")
    assert right.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302  # never signed in


def test_the_full_width_spelling_counts_toward_the_plain_names_limit(client, settings):
    settings.LOGIN_RATE_PER_USERNAME = "3/h"
    staff_in_group("counter", username="rt31")

    answers = [
        guess(client, SITE_LOGIN, name, n, REMOTE_ADDR=f"10.0.8.{n}")
        for n, name in enumerate(["ｒt31", "rt３1", "RT31", "rt31"])
    ]

    assert answers == [200, 200, 200, 429]


def test_a_different_name_keeps_its_own_budget(client):
    for n in range(10):
        guess(client, SITE_LOGIN, "rt31", n, REMOTE_ADDR=f"10.0.9.{n}")

    assert guess(client, SITE_LOGIN, "rt32", 1, REMOTE_ADDR="10.0.9.200") == 200
