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


# --- one identity, one account ---------------------------------------------------------

ID_TAKEN_EN = "An account with this ID card number already exists: one person holds one account."
ID_TAKEN_ZH = "该身份证号已注册过账户"


def test_a_second_account_with_the_same_id_card_number_is_refused_in_both_languages(client):
    assert client.post(reverse("accounts:register"), REGISTRATION).status_code == 302
    client.logout()
    second = {**REGISTRATION, "username": "xiaoming2", "phone": "13912345679"}

    english = client.post(reverse("accounts:register"), second, HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.post(reverse("accounts:register"), second, HTTP_ACCEPT_LANGUAGE="zh-hans")

    assert english.status_code == 200 and "id_card_number" in english.context["form"].errors
    assert ID_TAKEN_EN in english.content.decode()
    assert ID_TAKEN_ZH in chinese.content.decode()
    assert Customer.objects.count() == 1 and get_user_model().objects.count() == 1


def test_the_same_number_typed_differently_is_one_identity(client):
    first = {**REGISTRATION, "id_card_number": "11010519491231002X"}
    assert client.post(reverse("accounts:register"), first).status_code == 302
    client.logout()
    second = {**REGISTRATION, "username": "other", "id_card_number": " 110105 19491231 002x"}

    response = client.post(reverse("accounts:register"), second, HTTP_ACCEPT_LANGUAGE="en")

    assert ID_TAKEN_EN in response.content.decode()
    assert Customer.objects.count() == 1


def test_the_registration_page_says_one_person_one_account(client):
    english = client.get(reverse("accounts:register"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = client.get(reverse("accounts:register"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert "an ID card number can be registered only once" in english
    assert "一个身份证号只能注册一次" in chinese


def test_accounts_without_an_id_card_number_are_many(client):
    for n in range(3):
        data = {**REGISTRATION, "username": f"noid{n}", "id_card_number": ""}
        assert client.post(reverse("accounts:register"), data).status_code == 302
        client.logout()

    assert Customer.objects.filter(id_card_number="").count() == 3


def test_the_service_turns_the_database_refusal_into_an_id_card_error(db):
    register_customer(
        username="first",
        password="Drive-safely-2026",
        name="甲",
        phone="13900000000",
        id_card_number="11010519491231002X",
    )

    with pytest.raises(ValidationError) as caught:
        register_customer(
            username="second",
            password="Drive-safely-2026",
            name="乙",
            phone="13900000001",
            id_card_number="11010519491231002x",
        )

    assert caught.value.error_dict["id_card_number"][0].code == "id_card_taken"
    assert Customer.objects.count() == 1 and not get_user_model().objects.filter(username="second").exists()
