"""Query budgets of the customer pages: my orders and the consumption report
cost the same number of queries for 3 orders as for 200 (at most 13), the
order detail at most 13.

What a budgeted page runs (signed-in customer):
  session, user, customer profile,
  the throttled status refresh (the unpaid bookings to release, then
  SAVEPOINT/SELECT/RELEASE per move; nothing when the cache says it ran in the
  last 5 minutes),
  rentals joined to car, stores and review, one prefetch of all their payments,
  the unread-notification count of the navbar.
"""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Payment
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from rentals.services import refresh_statuses_if_due
from rentals.tests.factories import RentalFactory
from vehicles.tests.factories import VehicleFactory

pytestmark = pytest.mark.django_db

BUDGET = 13


def make_customer_with_orders(n: int, location):
    """``n`` orders, each with a PAID charge and a REFUND (2n payments), bulk-created."""
    customer = CustomerFactory()
    vehicle = VehicleFactory(location=location)
    base = RentalFactory.build(customer=customer, vehicle=vehicle)
    rentals = []
    for i in range(n):
        rental = Rental(
            customer=customer,
            vehicle=vehicle,
            pickup_location=location,
            return_location=location,
            start_time=base.start_time + (base.end_time - base.start_time) * i * 2,
            end_time=base.end_time + (base.end_time - base.start_time) * i * 2,
            status=Rental.Status.CANCELLED if i % 2 else Rental.Status.PENDING,
        )
        rental.apply_quote()
        rentals.append(rental)
    rentals = Rental.objects.bulk_create(rentals)
    payments = []
    for rental in rentals:
        payments.append(
            Payment(
                rental=rental, user=customer.user, amount=Decimal("500.00"), status=Payment.Status.PAID,
                transaction_type=Payment.TransactionType.CHARGE, transaction_id=f"PAYB{rental.pk:08d}",
                payment_method=Payment.Method.ALIPAY,
            )
        )
        payments.append(
            Payment(
                rental=rental, user=customer.user, amount=Decimal("100.00"), status=Payment.Status.REFUNDED,
                transaction_type=Payment.TransactionType.REFUND, transaction_id=f"REFB{rental.pk:08d}",
                payment_method=Payment.Method.ALIPAY,
            )
        )
    Payment.objects.bulk_create(payments)
    for rental in rentals:
        rental.refresh_financials()
    return customer


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url_name", ["accounts:orders", "accounts:consumption_report"])
def test_list_pages_cost_the_same_for_3_and_200_orders(client, location, url_name, django_assert_max_num_queries):
    small = make_customer_with_orders(3, location)
    large = make_customer_with_orders(200, location)
    url = reverse(url_name)
    counts = {}
    for name, customer in (("small", small), ("large", large)):
        client.force_login(customer.user)
        refresh_statuses_if_due()  # the throttled refresh has run recently (steady state)
        with django_assert_max_num_queries(BUDGET):
            response = client.get(url)
        rows = response.context["report"]["rows"] if "report" in response.context else response.context["rows"]
        assert len(rows) == (3 if name == "small" else 200)
        counts[name] = count_queries(client, url)
    assert counts["small"] == counts["large"] <= BUDGET, counts


@pytest.mark.parametrize("url_name", ["accounts:orders", "accounts:consumption_report"])
def test_list_pages_stay_within_budget_when_the_status_refresh_runs(client, location, url_name, django_assert_max_num_queries):
    customer = make_customer_with_orders(200, location)
    client.force_login(customer.user)
    # cache cleared by the autouse fixture: this view runs the bulk refresh itself
    with django_assert_max_num_queries(BUDGET):
        client.get(reverse(url_name))


def test_order_detail_budget(client, location, django_assert_max_num_queries):
    customer = make_customer_with_orders(3, location)
    client.force_login(customer.user)
    rental = Rental.objects.filter(customer=customer).first()
    with django_assert_max_num_queries(BUDGET):
        response = client.get(rental.get_absolute_url())
    assert response.status_code == 200
    warm = count_queries(client, rental.get_absolute_url())
    assert warm <= BUDGET
