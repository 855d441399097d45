"""Rental.ledger_sums: paid, refunded, goodwill and refunds in flight from the
order's Payment rows, the same whether the rows were prefetched or read."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Payment
from rentals.models import Rental
from rentals.ops import ledger_sums as batch_ledger_sums
from rentals.tests.factories import RentalFactory

pytestmark = pytest.mark.django_db

CHARGE, REFUND = Payment.TransactionType.CHARGE, Payment.TransactionType.REFUND
S = Payment.Status


def _row(rental, n, kind, status, amount, goodwill="0.00"):
    return Payment(
        rental=rental,
        user=rental.customer.user,
        transaction_type=kind,
        status=status,
        amount=Decimal(amount),
        goodwill_amount=Decimal(goodwill),
        payment_method=Payment.Method.ALIPAY,
        transaction_id=f"{'PAY' if kind == CHARGE else 'REF'}SUMS{rental.pk:06d}{n:02d}",
    )


@pytest.fixture
def rental(customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    Payment.objects.bulk_create(
        [
            _row(rental, 1, CHARGE, S.PAID, "2900.00"),
            _row(rental, 2, CHARGE, S.PAID, "0.01"),
            _row(rental, 3, CHARGE, S.PENDING, "500.00"),
            _row(rental, 4, CHARGE, S.FAILED, "700.00"),
            _row(rental, 5, CHARGE, S.EXPIRED, "800.00"),
            _row(rental, 6, REFUND, S.REFUNDED, "1000.10", goodwill="100.10"),
            _row(rental, 7, REFUND, S.REFUNDED, "0.99"),
            _row(rental, 8, REFUND, S.PROCESSING, "300.00"),
            _row(rental, 9, REFUND, S.PENDING, "20.00"),
            _row(rental, 10, REFUND, S.FAILED, "4000.00"),
        ]
    )
    return rental


EXPECTED = (Decimal("2900.01"), Decimal("1001.09"), Decimal("100.10"), Decimal("320.00"))


def test_the_sums_count_only_paid_charges_and_refunded_or_open_refunds(rental):
    fresh = Rental.objects.get(pk=rental.pk)
    with CaptureQueriesContext(connection) as ctx:
        sums = fresh.ledger_sums()

    assert sums == EXPECTED
    assert len(ctx.captured_queries) == 1
    assert all(value.as_tuple().exponent == -2 for value in sums)


def test_prefetched_rows_give_the_same_sums_without_a_query(rental):
    prefetched = Rental.objects.prefetch_related("payments").get(pk=rental.pk)
    with CaptureQueriesContext(connection) as ctx:
        sums = prefetched.ledger_sums()

    assert sums == EXPECTED
    assert ctx.captured_queries == []


def test_the_nightly_batch_adds_up_the_same(rental):
    assert batch_ledger_sums(Payment.objects.filter(rental=rental))[rental.pk][:4] == EXPECTED


def test_an_order_without_payments_sums_to_zero(customer, vehicle):
    rental = RentalFactory(customer=customer, vehicle=vehicle)
    assert rental.ledger_sums() == (Decimal("0.00"),) * 4
