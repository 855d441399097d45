"""Amounts given to the staff money services are finite (SPEC §17).

NaN, infinities, text that is no number and exponents beyond the ledger's
column are refused by every money service with a ``ValidationError`` and a
readable message, never an ``InvalidOperation`` (a 500); nothing changes.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Payment
from accounts.services import issue_refund, record_counter_payment, record_manual_refund, start_payment
from car_rental_system.bounds import clean_money
from rentals.services import cancel_rental, process_return
from rentals.services.previews import cancel_preview
from rentals.tests.admin_support import NOW, ledger_snapshot, ongoing_rental
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

NOT_FINITE = [
    Decimal("NaN"),
    Decimal("-NaN"),
    Decimal("sNaN"),
    Decimal("Infinity"),
    Decimal("-Infinity"),
    "NaN",
    "Infinity",
    "-inf",
    "twelve",
    "",
    Decimal("1E+30"),
    Decimal("-1E+30"),
    Decimal("1E+400"),
    "9e999999",
    Decimal("1E+10"),
    Decimal("9999999999.995"),
]


@pytest.fixture
def on_road(frozen, vehicle, customer):
    return ongoing_rental(vehicle=vehicle, customer=customer, start=NOW - timedelta(hours=3))


@pytest.fixture
def unpaid(frozen, vehicle, customer):
    return RentalFactory(vehicle=vehicle, customer=customer, start_time=NOW + timedelta(days=1))


def _refused(call) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        call()
    assert caught.value.code in ("amount_not_finite", "amount_too_large")
    assert caught.value.messages[0].strip()
    return caught.value


@pytest.mark.parametrize("amount", NOT_FINITE)
def test_the_shared_check_refuses_what_is_no_finite_amount_of_the_column(amount):
    _refused(lambda: clean_money(amount))


@pytest.mark.parametrize(
    ("amount", "cents"),
    [(Decimal("12.345"), "12.35"), ("0.005", "0.01"), (Decimal("1E-30"), "0.00"), (None, "0.00"), (7, "7.00")],
)
def test_the_shared_check_rounds_finite_amounts_to_the_cent(amount, cents):
    assert clean_money(amount) == Decimal(cents)


def test_a_float_stays_a_programming_error():
    with pytest.raises(TypeError):
        clean_money(float("nan"))


@pytest.mark.parametrize("amount", NOT_FINITE)
def test_a_counter_payment(unpaid, staff_user, amount):
    before = ledger_snapshot(unpaid)
    _refused(
        lambda: record_counter_payment(rental=unpaid, amount=amount, method=Payment.Method.CASH, by_user=staff_user)
    )
    assert ledger_snapshot(unpaid) == before


@pytest.mark.parametrize("amount", NOT_FINITE)
def test_a_manual_refund(on_road, staff_user, amount):
    before = ledger_snapshot(on_road)
    _refused(lambda: record_manual_refund(rental=on_road, amount=amount, reason="Goodwill", by_user=staff_user))
    assert ledger_snapshot(on_road) == before


@pytest.mark.parametrize("amount", NOT_FINITE)
def test_a_refund_row(on_road, staff_user, amount):
    before = ledger_snapshot(on_road)
    _refused(lambda: issue_refund(rental=on_road, amount=amount, user=None, description="Goodwill", actor=staff_user))
    assert ledger_snapshot(on_road) == before


@pytest.mark.parametrize("amount", NOT_FINITE)
def test_a_damage_fee_at_return(on_road, staff_user, amount):
    before = ledger_snapshot(on_road)
    _refused(
        lambda: process_return(
            rental=on_road, returned_at=NOW, location=on_road.pickup_location, damage_fee=amount, by_user=staff_user
        )
    )
    assert ledger_snapshot(on_road) == before


@pytest.mark.parametrize("amount", NOT_FINITE)
def test_a_cancellation_fee_and_its_preview(on_road, staff_user, amount):
    before = ledger_snapshot(on_road)
    _refused(lambda: cancel_rental(rental=on_road, reason="No-show", by_user=staff_user, cancellation_fee=amount))
    _refused(lambda: cancel_preview(rental=on_road, reason="No-show", fee=amount))
    assert ledger_snapshot(on_road) == before


@pytest.mark.parametrize("amount", [Decimal("NaN"), Decimal("Infinity"), "1e999"])
def test_the_amount_a_pay_page_showed(unpaid, amount):
    before = ledger_snapshot(unpaid)
    _refused(
        lambda: start_payment(
            rental=unpaid, method=Payment.Method.ALIPAY, user=unpaid.customer.user, expected_amount=amount
        )
    )
    assert ledger_snapshot(unpaid) == before
