"""customers models: walk-ins without a login, member levels."""

import pytest

from customers.models import Customer

pytestmark = pytest.mark.django_db


def test_a_walk_in_customer_has_no_login():
    walk_in = Customer.objects.create(name="王先生", phone="13900000000")
    walk_in.refresh_from_db()
    assert walk_in.user is None
    assert walk_in.member_level == Customer.MemberLevel.REGULAR
    assert str(walk_in) == "王先生 (13900000000)"


def test_member_levels_are_the_contract_values():
    assert Customer.MemberLevel.values == ["REGULAR", "SILVER", "GOLD", "VIP"]


def test_deleting_the_login_keeps_the_customer(customer):
    customer.user.delete()
    customer.refresh_from_db()
    assert customer.user is None
