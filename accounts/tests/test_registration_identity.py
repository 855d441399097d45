"""Who may register (SPEC §17 "Hostile users"): a username the user model's
validator allows, and one account per identity."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.tests.test_auth_pages import REGISTRATION
from customers.models import Customer
from customers.services import register_customer

pytestmark = pytest.mark.django_db

USERNAME_EN = "A username may contain only letters, digits and the characters @ . + - _"
USERNAME_ZH = "用户名只能包含字母、数字和"


@pytest.mark.parametrize(
    "username",
    [
        "counter\u200b",  # looks exactly like the staff login "counter"
        "\u200bcounter",
        "<script>",
        "<script>alert(1)</script>",
        "coun ter",
        "zhang\u202esan",  # a right-to-left override
    ],
)
def test_registration_refuses_a_name_the_user_models_validator_refuses(client, username):
    data = {**REGISTRATION, "username": username}

    english = client.post(reverse("accounts:register"), data, HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.post(reverse("accounts:register"), data, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert english.status_code == 200 and "username" in english.context["form"].errors
    assert USERNAME_EN in english.content.decode()
    assert USERNAME_ZH in chinese.content.decode()
    assert not get_user_model().objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize("username", ["xiao.ming", "xm+car@home", "小明_2026", "li-si"])
def test_names_the_validator_allows_still_register(client, username):
    response = client.post(reverse("accounts:register"), {**REGISTRATION, "username": username})

    assert response.status_code == 302
    assert get_user_model().objects.get().username == username


def test_the_service_refuses_the_same_names(db):
    with pytest.raises(ValidationError) as caught:
        register_customer(username="counter\u200b", password="Drive-safely-2026", name="假", phone="13912345678")

    assert "username" in caught.value.error_dict
    assert not get_user_model().objects.exists()
