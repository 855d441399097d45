"""Register, log in, log out (SPEC §7), error pages and the site chrome."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from customers.models import Customer
from customers.tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db

REGISTRATION = {
    "username": "xiaoming",
    "email": "xm@example.com",
    "name": "小明",
    "phone": "13912345678",
    "id_card_number": "310101199001011234",
    "driver_license_number": "DL12345678",
    "password1": "Drive-safely-2026",
    "password2": "Drive-safely-2026",
}


def test_register_creates_user_and_customer_and_logs_in(client):
    response = client.post(reverse("accounts:register"), REGISTRATION)
    assert response.status_code == 302 and response["Location"] == reverse("vehicles:list")
    customer = Customer.objects.select_related("user").get()
    assert customer.user.username == "xiaoming" and customer.user.check_password("Drive-safely-2026")
    assert (customer.name, customer.phone, customer.member_level) == ("小明", "13912345678", "REGULAR")
    assert customer.id_card_number == "310101199001011234" and customer.driver_license_number == "DL12345678"
    assert client.get(reverse("accounts:orders")).status_code == 200  # signed in


def test_register_without_optional_numbers_and_continues_to_next(client, vehicle):
    data = {**REGISTRATION, "id_card_number": "", "driver_license_number": "", "email": ""}
    target = reverse("rentals:new", args=[vehicle.pk])
    response = client.post(f"{reverse('accounts:register')}?next={target}", {**data, "next": target})
    assert response["Location"] == target
    assert Customer.objects.get().id_card_number == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password2": "something-else"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password1"),
        ({"phone": "call me"}, "phone"),
        ({"name": ""}, "name"),
    ],
)
def test_register_rejects_bad_input_and_creates_nothing(client, change, field):
    response = client.post(reverse("accounts:register"), {**REGISTRATION, **change})
    assert response.status_code == 200 and field in response.context["form"].errors
    assert not get_user_model().objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize(
    ("id_card_number", "message_en", "message_zh"),
    [
        ("123", "An ID card number has 18 characters", "身份证号为 18 位"),
        ("110105194912310021", "its last character does not match", "最后一位校验码不符"),
        ("110105194902300027", "does not contain a valid date of birth", "出生日期无效"),
    ],
)
def test_register_refuses_a_bad_id_card_number_in_both_languages(client, id_card_number, message_en, message_zh):
    data = {**REGISTRATION, "id_card_number": id_card_number}
    english = client.post(reverse("accounts:register"), data, HTTP_ACCEPT_LANGUAGE="en")
    chinese = client.post(reverse("accounts:register"), data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "id_card_number" in english.context["form"].errors
    assert message_en in english.content.decode()
    assert message_zh in chinese.content.decode()
    assert not Customer.objects.exists()


@pytest.mark.parametrize("phone", ["12345678901", "1391234567", "+86 139 1234 5678"])
def test_register_refuses_a_number_that_is_not_a_mainland_mobile(client, phone):
    response = client.post(reverse("accounts:register"), {**REGISTRATION, "phone": phone}, HTTP_ACCEPT_LANGUAGE="en")
    assert "phone" in response.context["form"].errors
    assert "11-digit mainland mobile number" in response.content.decode()
    assert not Customer.objects.exists()


def test_register_stores_id_and_mobile_numbers_normalised(client):
    data = {**REGISTRATION, "id_card_number": " 110105 19491231 002x", "phone": "139 1234 5678"}
    response = client.post(reverse("accounts:register"), data)
    assert response.status_code == 302
    customer = Customer.objects.get()
    assert (customer.id_card_number, customer.phone) == ("11010519491231002X", "13912345678")


def test_register_page_lists_the_password_rules_once(client):
    rule = "Your password must contain at least 8 characters."
    page = client.get(reverse("accounts:register"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert page.count(rule) == 1
    weak = {**REGISTRATION, "password1": "123", "password2": "123"}
    response = client.post(reverse("accounts:register"), weak, HTTP_ACCEPT_LANGUAGE="en")
    body = response.content.decode()
    # the errors name the rules that failed; the full list is not repeated under them
    assert "This password is too common." in body and "This password is entirely numeric." in body
    assert rule not in body and "Your password can’t be entirely numeric." not in body
    chinese = client.post(reverse("accounts:register"), weak, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "密码太短，至少需要 8 个字符。" in chinese and "This password is too short" not in chinese


def test_register_rejects_a_taken_username(client, customer):
    response = client.post(reverse("accounts:register"), {**REGISTRATION, "username": customer.user.username.upper()})
    assert "username" in response.context["form"].errors
    assert Customer.objects.count() == 1


def test_login_redirects_back_to_where_the_customer_was_going(client, customer):
    target = reverse("accounts:consumption_report")
    response = client.get(target)
    assert response["Location"] == f"{reverse('accounts:login')}?next={target}"
    page = client.get(response["Location"])
    assert f'name="next" value="{target}"' in page.content.decode()
    response = client.post(
        reverse("accounts:login"), {"username": customer.user.username, "password": TEST_PASSWORD, "next": target}
    )
    assert response.status_code == 302 and response["Location"] == target


def test_login_ignores_an_offsite_next(client, customer):
    response = client.post(
        reverse("accounts:login"),
        {"username": customer.user.username, "password": TEST_PASSWORD, "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("accounts:orders")


def test_login_with_a_wrong_password_shows_an_error(client, customer):
    response = client.post(
        reverse("accounts:login"), {"username": customer.user.username, "password": "nope"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_logout_is_a_post_form(client, customer):
    client.force_login(customer.user)
    page = client.get(reverse("accounts:orders")).content.decode()
    assert f'action="{reverse("accounts:logout")}" method="post"' in page
    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("accounts:orders")).status_code == 302


@pytest.mark.parametrize("url_name", ["accounts:register", "accounts:login"])
def test_auth_forms_are_csrf_protected(url_name):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(reverse(url_name), REGISTRATION).status_code == 403
    assert not Customer.objects.exists()


def test_staff_without_a_customer_profile_get_a_friendly_403(client, staff_user):
    client.force_login(staff_user)
    response = client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 403
    assert "You can't open this page" in response.content.decode()


def test_404_page_is_friendly(client):
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    body = response.content.decode()
    assert "We couldn't find that page" in body and "Traceback" not in body


def test_500_page_renders_without_a_request():
    from django.template.loader import render_to_string

    html = render_to_string("errors/500.html")
    assert "500" in html and "bootstrap.min.css" in html


def test_navbar_in_both_languages(client, customer):
    client.force_login(customer.user)
    english = client.get(reverse("vehicles:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en">' in english
    for text in ("My orders", "Consumption report", "Notifications", "Log out"):
        assert text in english
    assert f'action="{reverse("set_language")}"' in english and 'name="language" value="zh-hans"' in english
    chinese = client.get(reverse("vehicles:list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<html lang="zh-hans">' in chinese


def test_language_switch_sets_the_language(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/vehicles/"})
    assert response.status_code == 302 and response["Location"] == "/vehicles/"
    assert '<html lang="en">' in client.get("/vehicles/").content.decode()
