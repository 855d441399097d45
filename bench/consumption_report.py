"""Benchmark of the consumption report: a customer with 200 orders and 400
payments (a PAID charge and a REFUND per order) in a fresh test database.

Prints the page's query count and the median render time over several runs.
Figures only, no assertions on time.

    .venv/bin/python bench/consumption_report.py [--orders 200] [--runs 15]

Uses the database of the settings (SQLite in memory by default; with
DATABASE_URL a throwaway ``test_<name>`` PostgreSQL database is created and
dropped).
"""

import argparse
import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")


def build_customer(orders: int):
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Payment
    from customers.models import Customer
    from customers.tests.factories import TEST_PASSWORD, UserFactory
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    user = UserFactory(username="bench")
    customer = Customer.objects.create(user=user, name="压测客户", phone="13800000000")
    location = Location.objects.create(name="Bench store", city="上海")
    vehicle = Vehicle.objects.create(
        plate_number="沪Z00001", brand="Toyota", model="Camry", daily_rate=Decimal("300.00"),
        deposit_amount=Decimal("2000.00"), location=location,
    )
    now = timezone.now()
    rentals = []
    for i in range(orders):
        start = now - timedelta(days=4 * (orders - i))
        rental = Rental(
            customer=customer, vehicle=vehicle, pickup_location=location, return_location=location,
            start_time=start, end_time=start + timedelta(days=3), status=Rental.Status.COMPLETED,
            created_at=start - timedelta(days=1),
        )
        rental.apply_quote()
        rentals.append(rental)
    rentals = Rental.objects.bulk_create(rentals)
    payments = []
    for rental in rentals:
        payments.append(Payment(
            rental=rental, user=user, amount=rental.order_total, status=Payment.Status.PAID,
            transaction_type=Payment.TransactionType.CHARGE, transaction_id=f"PAYBENCH{rental.pk:08d}",
            payment_method=Payment.Method.ALIPAY, paid_at=rental.start_time - timedelta(hours=2),
        ))
        payments.append(Payment(
            rental=rental, user=user, amount=rental.deposit, status=Payment.Status.REFUNDED,
            transaction_type=Payment.TransactionType.REFUND, transaction_id=f"REFBENCH{rental.pk:08d}",
            payment_method=Payment.Method.ALIPAY, paid_at=rental.end_time + timedelta(hours=1),
            description="Deposit refund",
        ))
    Payment.objects.bulk_create(payments)
    for rental in rentals:
        rental.refresh_financials()
    return user, TEST_PASSWORD


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment, teardown_test_environment
    from django.urls import reverse

    from accounts.models import Payment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        user, _password = build_customer(args.orders)
        client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        client.force_login(user)
        url = reverse("accounts:consumption_report")
        # The first view runs the throttled status refresh; measure steady state,
        # and report the cold view separately.
        cache.clear()
        with CaptureQueriesContext(connection) as cold:
            response = client.get(url)
        assert response.status_code == 200, response.status_code
        timings, counts = [], []
        for _ in range(args.runs):
            with CaptureQueriesContext(connection) as ctx:
                started = time.perf_counter()
                response = client.get(url)
                timings.append(time.perf_counter() - started)
            counts.append(len(ctx.captured_queries))
        print(f"database:           {connection.vendor} ({settings.DATABASES['default']['ENGINE']})")
        print(f"orders / payments:  {args.orders} / {Payment.objects.count()}")
        print(f"page size:          {len(response.content) / 1024:.0f} KiB")
        print(f"queries (first view, status refresh runs): {len(cold.captured_queries)}")
        print(f"queries per view:   {counts[0]} (min {min(counts)}, max {max(counts)})")
        print(f"median render time: {statistics.median(timings) * 1000:.1f} ms over {args.runs} runs "
              f"(min {min(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms)")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
