from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.management.commands.seed_demo import CUSTOMER_PASSWORD, STAFF_PASSWORD
from accounts.models import Notification, Payment, PaymentEvent
from accounts.tests.assertions import assert_ledger_consistent
from customers.models import Customer
from rentals.models import Rental
from vehicles.models import Location, Vehicle

pytestmark = pytest.mark.django_db


def _counts():
    return {
        model.__name__: model.objects.count()
        for model in (Location, Vehicle, Customer, get_user_model(), Rental, Payment, PaymentEvent, Notification)
    }


def test_seed_demo_loads_every_status_and_level_and_is_idempotent():
    # given / when
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = _counts()
    call_command("seed_demo", stdout=StringIO())

    # then: a second run changes nothing
    assert _counts() == first
    assert "admin / " + STAFF_PASSWORD in out.getvalue()
    assert set(Location.objects.values_list("city", flat=True)) == {"上海", "北京"}
    assert Vehicle.objects.count() == 20
    assert set(Customer.objects.values_list("member_level", flat=True)) == set(Customer.MemberLevel.values)
    assert set(Rental.objects.values_list("status", flat=True)) == set(Rental.Status.values)
    assert Payment.objects.filter(transaction_type="REFUND", status="REFUNDED").exists()
    assert Rental.objects.filter(requires_manual_refund=True).count() == 1
    for rental in Rental.objects.all():
        assert_ledger_consistent(rental)


def test_printed_credentials_log_in(client):
    call_command("seed_demo", stdout=StringIO())

    assert client.login(username="admin", password=STAFF_PASSWORD)
    assert client.get("/admin/").status_code == 200
    client.logout()
    assert client.login(username="zhangsan", password=CUSTOMER_PASSWORD)
