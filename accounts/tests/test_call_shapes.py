"""The functions SPEC §4 and §8 name are called the way they are written there (SPEC §17)."""

import inspect
from decimal import Decimal

import pytest

from accounts import selectors, services
from accounts.selectors import get_payment_summary
from rentals import services as rental_services
from rentals.tests.factories import pay

pytestmark = pytest.mark.django_db

KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


def test_the_payment_summary_takes_the_rental_positionally_as_the_seed_documents_call_it(booked_rental):
    rental = booked_rental
    pay(rental, "900.00")

    summary = get_payment_summary(rental)

    assert summary["paid_amount"] == Decimal("900.00")
    assert summary["remaining_amount"] == Decimal("2000.00")
    assert summary == get_payment_summary(rental=rental)
    assert summary == selectors.get_payment_summary(rental)


@pytest.mark.parametrize(
    ("function", "required", "defaults"),
    [
        (
            rental_services.create_rental,
            ["customer", "vehicle", "start_time", "end_time", "pickup_location"],
            {"return_location": None},
        ),
        (rental_services.cancel_rental, ["rental", "reason"], {"by_user": None}),
        (
            rental_services.process_return,
            ["rental", "returned_at", "location"],
            {"damage_fee": Decimal("0"), "note": "", "by_user": None},
        ),
        (services.start_payment, ["rental", "method", "user"], {"expected_amount": None}),
        (services.handle_callback, ["provider", "headers", "body"], {}),
        (services.record_counter_payment, ["rental", "amount", "method", "by_user"], {}),
        (services.record_manual_refund, ["rental", "amount", "reason", "by_user"], {"user": None}),
    ],
)
def test_the_service_functions_keep_the_keyword_shapes_of_section_8(function, required, defaults):
    parameters = inspect.signature(function).parameters

    for name in required:
        assert parameters[name].kind is KEYWORD_ONLY, name
        assert parameters[name].default is inspect.Parameter.empty, name
    for name, default in defaults.items():
        assert parameters[name].kind is KEYWORD_ONLY, name
        assert parameters[name].default == default, name
    # Keyword arguments may be added, but only with a default.
    extra = set(parameters) - set(required) - set(defaults)
    assert all(parameters[name].default is not inspect.Parameter.empty for name in extra), extra
