"""One identity, one account (SPEC §17): ``Customer.id_card_number`` is unique,
enforced by the database, with a clear message in the admin and at sign-up."""

import threading

import pytest
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from customers.models import Customer
from customers.tests.factories import CustomerFactory, WalkInCustomerFactory
from customers.tests.test_username_case import latest_customers_migrations

NUMBER = "11010519491231002X"


@pytest.mark.django_db
def test_the_database_refuses_a_second_customer_with_the_same_id_card_number():
    CustomerFactory(id_card_number=NUMBER)

    with pytest.raises(IntegrityError), transaction.atomic():
        WalkInCustomerFactory(id_card_number=NUMBER)

    assert Customer.objects.filter(id_card_number=NUMBER).count() == 1


@pytest.mark.django_db
def test_walk_ins_without_a_number_are_many():
    WalkInCustomerFactory.create_batch(3, id_card_number="")

    assert Customer.objects.filter(id_card_number="").count() == 3


@pytest.mark.django_db
def test_the_factories_make_distinct_numbers():
    customers = CustomerFactory.create_batch(5)

    assert len({customer.id_card_number for customer in customers}) == 5


@pytest.mark.django_db
def test_staff_adding_a_customer_with_a_taken_number_get_the_message(admin_client):
    CustomerFactory(id_card_number=NUMBER)
    data = {"name": "散客", "phone": "13700000000", "id_card_number": "11010519491231002x", "member_level": "REGULAR"}

    response = admin_client.post(reverse("admin:customers_customer_add"), data, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 200
    assert "An account with this ID card number already exists" in response.content.decode()
    assert Customer.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_customers_sharing_a_number_instead_of_failing_bare():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate([("customers", "0002_username_unique_ignoring_case")])
        first = WalkInCustomerFactory(id_card_number=NUMBER)
        second = WalkInCustomerFactory(id_card_number=NUMBER)
        WalkInCustomerFactory.create_batch(2, id_card_number="")
        executor.loader.build_graph()
        with pytest.raises(RuntimeError) as caught:
            executor.migrate(latest_customers_migrations(executor))
        message = str(caught.value)
        assert f"#{first.pk} and #{second.pk}" in message and "Merge each group into one account" in message
        assert NUMBER not in message  # ID numbers are never written into logs
        second.delete()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest_customers_migrations(executor))
    with pytest.raises(IntegrityError), transaction.atomic():
        WalkInCustomerFactory(id_card_number=NUMBER)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_sign_ups_with_one_id_card_number_make_one_account():
    usernames = [f"twin{n}" for n in range(4)]
    barrier = threading.Barrier(len(usernames))
    results = [None] * len(usernames)

    def sign_up(index, username):
        close_old_connections()
        try:
            client = Client()
            barrier.wait(timeout=10)
            data = {
                "username": username,
                "name": "小明",
                "phone": f"1391234567{index}",
                "id_card_number": NUMBER,
                "password1": "Drive-safely-2026",
                "password2": "Drive-safely-2026",
            }
            response = client.post(reverse("accounts:register"), data, HTTP_ACCEPT_LANGUAGE="en")
            errors = response.context["form"].errors.get("id_card_number", []) if response.status_code == 200 else []
            results[index] = (response.status_code, list(errors))
        except Exception as exc:  # noqa: BLE001 - a 500 surfaces here
            results[index] = ("error", repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(i, name)) for i, name in enumerate(usernames)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not any(thread.is_alive() for thread in threads)
    assert sorted(status for status, _errors in results) == [200] * 3 + [302], results
    for status, errors in results:
        if status == 200:
            assert any("already exists" in error for error in errors), errors
    assert Customer.objects.filter(id_card_number=NUMBER).count() == 1
    assert Customer.objects.count() == 1
