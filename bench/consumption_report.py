"""Benchmark of the consumption report: one customer with 200, 2,000 and 20,000
orders (a PAID charge and a deposit REFUND each, booked over the last three
years) in a fresh test database per size.

For each size prints the queries and the median render time of page 1 and of
the last page (wall clock and this process's CPU time: with SQLite in memory
the database works in this process, and CPU time is less disturbed by other
work on a shared machine), and the time and memory of the CSV of last year's orders (the
peak of Python allocations while the stream is read, tracemalloc, and the
process's peak RSS before and after). Figures only, no assertions on time.

    .venv/bin/python bench/consumption_report.py [--orders 200 2000 20000] [--runs 15]

Uses the database of the settings (SQLite in memory by default; with
DATABASE_URL a throwaway ``test_<name>`` PostgreSQL database is created and
dropped for each size).
"""

import argparse
import os
import resource
import statistics
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")

SPAN_DAYS = 3 * 365


def build_customer(orders: int):
    """``orders`` completed orders booked evenly over the last SPAN_DAYS days,
    each paid in full and its deposit refunded; the stored sums are written as
    refresh_financials writes them (the ledger is bulk-created)."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Payment
    from customers.models import Customer
    from customers.tests.factories import UserFactory
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    user = UserFactory(username="bench")
    customer = Customer.objects.create(user=user, name="压测客户", phone="13800000000")
    location = Location.objects.create(name="Bench store", city="上海")
    vehicle = Vehicle.objects.create(
        plate_number="沪Z00001",
        brand="Toyota",
        model="Camry",
        daily_rate=Decimal("300.00"),
        deposit_amount=Decimal("2000.00"),
        location=location,
    )
    now = timezone.now()
    step = timedelta(days=SPAN_DAYS) / orders
    rentals = []
    for i in range(orders):
        booked = now - timedelta(days=SPAN_DAYS) + step * i
        start = booked + timedelta(days=1)
        rental = Rental(
            customer=customer,
            vehicle=vehicle,
            pickup_location=location,
            return_location=location,
            start_time=start,
            end_time=start + timedelta(days=3),
            status=Rental.Status.COMPLETED,
            created_at=booked,
        )
        rental.apply_quote()
        rental.amount_paid = rental.order_total
        rental.amount_refunded = rental.deposit
        rental.settlement_status = Rental.SettlementStatus.SETTLED
        rental.settled_at = rental.end_time + timedelta(hours=1)
        rentals.append(rental)
    rentals = Rental.objects.bulk_create(rentals, batch_size=2000)
    payments = []
    for rental in rentals:
        payments.append(
            Payment(
                rental=rental,
                user=user,
                amount=rental.order_total,
                status=Payment.Status.PAID,
                transaction_type=Payment.TransactionType.CHARGE,
                transaction_id=f"PAYBENCH{rental.pk:08d}",
                payment_method=Payment.Method.ALIPAY,
                paid_at=rental.start_time - timedelta(hours=2),
            )
        )
        payments.append(
            Payment(
                rental=rental,
                user=user,
                amount=rental.deposit,
                status=Payment.Status.REFUNDED,
                transaction_type=Payment.TransactionType.REFUND,
                transaction_id=f"REFBENCH{rental.pk:08d}",
                payment_method=Payment.Method.ALIPAY,
                paid_at=rental.end_time + timedelta(hours=1),
                description="Deposit refund",
            )
        )
    Payment.objects.bulk_create(payments, batch_size=2000)
    return user


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(client, url, runs):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # warm
    assert response.status_code == 200, (url, response.status_code)
    timings, cpu, counts = [], [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
        counts.append(len(ctx.captured_queries))
    return response, (statistics.median(timings) * 1000, statistics.median(cpu) * 1000), counts


def bench_size(orders: int, runs: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from accounts.consumption import PAGE_SIZE
    from rentals.services import refresh_statuses_if_due

    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        started = time.perf_counter()
        user = build_customer(orders)
        built = time.perf_counter() - started
        client = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
        client.force_login(user)
        refresh_statuses_if_due()  # steady state: the throttled refresh ran recently
        url = reverse("accounts:consumption_report")
        last_page = -(-orders // PAGE_SIZE)
        first, first_ms, first_counts = measure(client, url, runs)
        _last, last_ms, last_counts = measure(client, f"{url}?page={last_page}", runs)

        year = timezone.localtime(timezone.now()).year - 1
        csv_url = reverse("accounts:consumption_report_csv") + f"?year={year}"
        rss_before = peak_rss_mib()

        def read_csv():
            size = lines = 0
            for chunk in client.get(csv_url).streaming_content:
                size += len(chunk)
                lines += chunk.count(b"\n")
            return size, lines

        # timed without tracemalloc (it slows Python down), then read again for the memory
        started = time.perf_counter()
        size, lines = read_csv()
        csv_seconds = time.perf_counter() - started
        tracemalloc.start()
        read_csv()
        _current, csv_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {
            "orders": orders,
            "built_s": built,
            "page_kib": len(first.content) / 1024,
            "first_queries": first_counts[0],
            "first_ms": first_ms,
            "last_page": last_page,
            "last_queries": last_counts[0],
            "last_ms": last_ms,
            "csv_year": year,
            "csv_rows": lines - 2,  # header and totals row
            "csv_kib": size / 1024,
            "csv_ms": csv_seconds * 1000,
            "csv_peak_mib": csv_peak / 2**20,
            "rss_before_mib": rss_before,
            "rss_after_mib": peak_rss_mib(),
        }
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[200, 2000, 20000])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    try:
        results = [bench_size(orders, args.runs) for orders in args.orders]
    finally:
        teardown_test_environment()
    print(
        f"database: {connection.vendor} ({settings.DATABASES['default']['ENGINE']}), "
        f"median of {args.runs} views, steady state (status refresh not due)"
    )
    for r in results:
        print(
            f"{r['orders']:>6} orders (built in {r['built_s']:.1f} s): "
            f"page 1 {r['first_ms'][0]:.1f} ms (CPU {r['first_ms'][1]:.1f} ms) / {r['first_queries']} queries / "
            f"{r['page_kib']:.0f} KiB; "
            f"last page ({r['last_page']}) {r['last_ms'][0]:.1f} ms (CPU {r['last_ms'][1]:.1f} ms) / "
            f"{r['last_queries']} queries; "
            f"CSV {r['csv_year']} {r['csv_rows']} rows {r['csv_kib']:.0f} KiB in {r['csv_ms']:.0f} ms, "
            f"peak Python memory while streaming {r['csv_peak_mib']:.1f} MiB, "
            f"peak RSS {r['rss_before_mib']:.0f} → {r['rss_after_mib']:.0f} MiB"
        )
    if len(results) > 1:
        wall = results[-1]["first_ms"][0] / results[0]["first_ms"][0]
        cpu = results[-1]["first_ms"][1] / results[0]["first_ms"][1]
        print(f"page 1 at {results[-1]['orders']} / page 1 at {results[0]['orders']}: {wall:.2f}× (CPU {cpu:.2f}×)")


if __name__ == "__main__":
    main()
