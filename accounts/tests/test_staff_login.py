"""Staff signing in on the site's login page go to the admin; a 403 inside the
admin keeps the admin's look, one on the customer site the site's."""

import pytest
from django.urls import reverse

from customers.tests.factories import TEST_PASSWORD, CustomerFactory, StaffUserFactory
from rentals.tests.admin_support import staff_in_group

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
DASHBOARD = "/admin/accounts/payment/dashboard/"


def log_in(client, username: str, **extra):
    return client.post(LOGIN, {"username": username, "password": TEST_PASSWORD, **extra})


def test_counter_staff_land_on_the_admin(client):
    staff_in_group("counter", username="desk")

    response = log_in(client, "desk")

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert client.get(response["Location"]).status_code == 200


def test_staff_with_a_customer_profile_land_on_the_admin_too(client):
    CustomerFactory(user=StaffUserFactory(username="manager"))

    assert log_in(client, "manager")["Location"] == reverse("admin:index")


def test_staff_follow_a_safe_next(client):
    staff_in_group("counter", username="desk")
    target = reverse("admin:rentals_rental_today")

    assert log_in(client, "desk", next=target)["Location"] == target


def test_staff_ignore_an_offsite_next(client):
    staff_in_group("counter", username="desk")

    assert log_in(client, "desk", next="https://evil.example/admin/")["Location"] == reverse("admin:index")


def test_customers_still_land_on_their_orders(client, customer):
    assert log_in(client, customer.user.username)["Location"] == reverse("accounts:orders")


def test_signed_in_staff_opening_the_login_page_go_to_the_admin(client):
    client.force_login(staff_in_group("counter", username="desk"))

    response = client.get(LOGIN)

    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


@pytest.mark.parametrize(
    "language, texts",
    [
        ("en", ["Car rental administration", "doesn't have permission"]),
        ("zh-hans", ["租车平台管理", "没有打开此页面的权限"]),
    ],
)
def test_the_admin_403_keeps_the_admin_look(client, language, texts):
    client.force_login(staff_in_group("counter"))

    response = client.get(DASHBOARD, HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 403
    names = [t.name for t in response.templates]
    assert "admin/403.html" in names and "admin/base_site.html" in names
    assert "base.html" not in names  # not the customer site's frame
    content = response.content.decode()
    for text in texts:
        assert text in content
    assert 'id="user-tools"' in content  # the admin's header with the staff member's links
    assert reverse("admin:index") in content


def test_a_customer_page_403_keeps_the_site_look(client, staff_user):
    client.force_login(staff_user)

    response = client.get(reverse("accounts:orders"), HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 403
    assert "errors/403.html" in [t.name for t in response.templates]
