"""Usernames are unique ignoring case, enforced by the database (SPEC §16 Identity)."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from customers.models import Customer
from customers.services import register_customer

User = get_user_model()

REGISTRATION = {
    "email": "",
    "name": "小明",
    "phone": "13912345678",
    "password1": "Drive-safely-2026",
    "password2": "Drive-safely-2026",
}


def latest_customers_migrations(executor) -> list[tuple[str, str]]:
    """Back to the newest migration of every app: rolling customers back also
    rolls back the migrations of other apps that depend on it, which the tests
    after this one need."""
    return list(executor.loader.graph.leaf_nodes())


def users_then(executor):
    """The user model as the database stands rolled back to customers 0001: deleting
    through it touches only the tables of that state (the newest models also
    reach tables that don't exist yet, such as the ones linking deposit holds
    to their users)."""
    return executor.loader.project_state([("customers", "0001_initial")]).apps.get_model("auth", "User")


VARIANTS = ["CaseRace", "caserace", "CASERACE", "caseRace", "CaseRACE", "cASErACE"]


@pytest.mark.django_db
def test_the_database_refuses_a_case_variant_of_a_username():
    User.objects.create_user(username="CaseRace", password="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="caserace", password="x")
    assert User.objects.filter(username__iexact="caserace").count() == 1


@pytest.mark.django_db
def test_the_service_turns_the_database_refusal_into_a_username_error():
    register_customer(username="CaseRace", password="Drive-safely-2026", name="甲", phone="13900000000")
    with pytest.raises(ValidationError) as caught:
        register_customer(username="CASERACE", password="Drive-safely-2026", name="乙", phone="13900000001")
    assert caught.value.error_dict["username"][0].code == "username_taken"
    assert Customer.objects.count() == 1 and User.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("variant", VARIANTS[1:])
def test_the_registration_form_says_the_name_is_taken_for_any_case_variant(client, variant):
    User.objects.create_user(username="CaseRace", password="x")

    response = client.post(reverse("accounts:register"), {**REGISTRATION, "username": variant})

    assert response.status_code == 200
    assert "用户名已被占用" in " ".join(response.context["form"].errors["username"])
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_login_still_works_by_the_exact_username(client):
    client.post(reverse("accounts:register"), {**REGISTRATION, "username": "CaseRace"})
    client.logout()

    response = client.post(reverse("accounts:login"), {"username": "CaseRace", "password": "Drive-safely-2026"})

    assert response.status_code == 302
    assert client.session.get("_auth_user_id") == str(User.objects.get(username="CaseRace").pk)


@pytest.mark.django_db(transaction=True)
def test_the_migration_is_reversible():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("customers", "0001_initial")])
        # without the index, case variants are two users again
        User.objects.create_user(username="Twin", password="x")
        User.objects.create_user(username="twin", password="x")
        users_then(executor).objects.filter(username__iexact="twin").delete()
    finally:
        executor.loader.build_graph()
        executor.migrate(latest_customers_migrations(executor))
    User.objects.create_user(username="Twin", password="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="TWIN", password="x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_six_parallel_sign_ups_of_case_variants_make_one_account():
    barrier = threading.Barrier(len(VARIANTS))
    results = [None] * len(VARIANTS)

    def sign_up(index, username):
        close_old_connections()
        try:
            client = Client()
            barrier.wait(timeout=10)
            response = client.post(reverse("accounts:register"), {**REGISTRATION, "username": username})
            errors = response.context["form"].errors.get("username", []) if response.status_code == 200 else []
            results[index] = (response.status_code, list(errors))
        except Exception as exc:  # noqa: BLE001 - a 500 surfaces here
            results[index] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(i, name)) for i, name in enumerate(VARIANTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert sorted(status for status, _errors in results) == [200] * 5 + [302], results
    for status, errors in results:
        if status == 200:
            assert any("用户名已被占用" in error for error in errors), errors
    assert User.objects.filter(username__iexact="caserace").count() == 1
    assert Customer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_existing_case_clashes_instead_of_failing_bare():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("customers", "0001_initial")])
        User.objects.create_user(username="Twin", password="x")
        User.objects.create_user(username="TWIN", password="x")
        executor.loader.build_graph()
        with pytest.raises(RuntimeError, match="rename all but one of each before migrating: twin"):
            executor.migrate([("customers", "0002_username_unique_ignoring_case")])
    finally:
        users_then(executor).objects.filter(username="TWIN").delete()
        executor = MigrationExecutor(connection)
        executor.migrate(latest_customers_migrations(executor))
    assert User.objects.filter(username__iexact="twin").count() == 1
