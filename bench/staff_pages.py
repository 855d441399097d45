"""Benchmark of the staff pages (admin change lists, searches, the finance
dashboard, the CSV export) at company scale on SQLite.

Builds 100,000 orders and 250,000 payments with the generator of
``bench/update_historical_orders.py`` into a SQLite file, kept in a cache
directory (``--cache``, default ``$TMPDIR/car-rental-bench``) and reused by the
next run with the same sizes and seed. Each run works on a copy of the cached
file, brought up to the current migrations (so new indexes are built on it),
signs in a superuser with Django's test ``Client`` and requests every page
through the real URLs: for each, the SQL statements of one request and the
median wall time of ``--runs`` requests (after one warm-up request).

    .venv/bin/python bench/staff_pages.py                                # full size
    .venv/bin/python bench/staff_pages.py --orders 2000 --payments 5000  # quick check

The cached data is generated against the migrations of the code that first
built it; delete the cache directory after going back to an older branch.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")

from bench.update_historical_orders import generate, setup_django  # noqa: E402

TARGET_MS = 300


def build_cache(path: Path, *, orders: int, payments: int, seed: int) -> None:
    """Generate the data into ``path`` (in a child process: Django binds to one database per process)."""
    import subprocess

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            __file__,
            "--generate-into",
            str(partial),
            f"--orders={orders}",
            f"--payments={payments}",
            f"--seed={seed}",
        ],
        check=True,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    partial.rename(path)
    print(f"generated {path} in {time.perf_counter() - started:.1f} s (not part of any figure)")


def generate_into(path: Path, *, orders: int, payments: int, seed: int) -> None:
    setup_django(path)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    generate(orders=orders, payments=payments, seed=seed)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.execute("ANALYZE")
    connection.close()


def measure_pages(db_path: Path, *, runs: int) -> None:
    setup_django(db_path)
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import Payment
    from customers.models import Customer
    from rentals.models import Rental
    from vehicles.models import Vehicle

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"migrated the copy in {time.perf_counter() - started:.1f} s (not part of any figure)")
    # As the test runner does: DEBUG off (no query log, no debug templates) and
    # the test Client's "testserver" host let in.
    setup_test_environment(debug=False)

    User = get_user_model()
    admin = User.objects.create_superuser("bench-admin", "bench-admin@example.com", "bench-password")
    client = Client()
    client.force_login(admin)

    orders = Rental.objects.count()
    payments = Payment.objects.count()
    middle = Rental.objects.order_by("pk").values_list("pk", flat=True)[orders // 2]
    phone = (
        Customer.objects.filter(rentals__isnull=False)
        .order_by("pk")
        .values_list("phone", flat=True)[Customer.objects.count() // 3]
    )
    plate = Vehicle.objects.order_by("pk").values_list("plate_number", flat=True)[Vehicle.objects.count() // 2]
    transaction = Payment.objects.order_by("pk").values_list("transaction_id", flat=True)[payments // 2]
    month = Payment.objects.order_by("pk").values_list("created_at", flat=True)[payments // 2]
    last_day = {2: 28}.get(month.month, 30)
    print(
        f"SQLite {orders:,} orders, {payments:,} payments; {runs} timed requests per page (median), "
        f"after one warm-up; {os.cpu_count()} cores shared with other work"
    )
    print()

    pages = [
        ("rental changelist", "/admin/rentals/rental/"),
        (f"rental search: order number {middle}", f"/admin/rentals/rental/?q={middle}"),
        (f"rental search: phone {phone}", f"/admin/rentals/rental/?q={phone}"),
        ('rental search: "138"', "/admin/rentals/rental/?q=138"),
        (f"rental search: plate {plate}", f"/admin/rentals/rental/?q={plate}"),
        ("rental filter: status ongoing", "/admin/rentals/rental/?status__exact=ONGOING"),
        ("rental filter: unsettled", "/admin/rentals/rental/?settlement_status__exact=UNSETTLED"),
        ("rental filter: overdue", "/admin/rentals/rental/?overdue=yes"),
        (f"rental change page #{middle}", f"/admin/rentals/rental/{middle}/change/"),
        ("payment changelist", "/admin/accounts/payment/"),
        (f"payment search: {transaction}", f"/admin/accounts/payment/?q={transaction}"),
        ("payment filter: paid by Alipay", "/admin/accounts/payment/?status__exact=PAID&payment_method__exact=ALIPAY"),
        (
            f"payment month {month:%Y-%m}",
            f"/admin/accounts/payment/?created_at__year={month.year}&created_at__month={month.month}",
        ),
        ("payment event changelist", "/admin/accounts/paymentevent/"),
        ("finance dashboard", "/admin/accounts/payment/dashboard/"),
    ]
    export_url = f"/admin/accounts/payment/export/?start={month:%Y-%m}-01&end={month:%Y-%m}-{last_day}"

    def timed(url: str) -> tuple[float, int, int]:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        return elapsed, response.status_code, len(response.content)

    rows = []
    for label, url in pages:
        statements = 0

        def count(execute, sql, params, many, context):
            nonlocal statements
            statements += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            _elapsed, status, _size = timed(url)  # warm-up, and the statements of one request
        times = [timed(url)[0] for _ in range(runs)]
        rows.append((label, status, statements, statistics.median(times), max(times)))

    def first_chunks(url: str) -> tuple[float, float, float, int]:
        started = time.perf_counter()
        response = client.get(url)
        chunks = iter(response.streaming_content)
        next(chunks)
        first_byte = time.perf_counter() - started
        next(chunks, None)
        first_row = time.perf_counter() - started
        lines = 2 + sum(1 for _ in chunks)
        return first_byte, first_row, time.perf_counter() - started, lines

    export_runs = [first_chunks(export_url) for _ in range(max(1, runs))]
    first_byte = statistics.median(r[0] for r in export_runs)
    first_row = statistics.median(r[1] for r in export_runs)
    whole = statistics.median(r[2] for r in export_runs)

    width = max(len(row[0]) for row in rows) + 2
    print(f"{'page':<{width}} {'HTTP':>4} {'queries':>7} {'median':>9} {'slowest':>9}")
    for label, status, queries, median, slowest in rows:
        flag = "" if median * 1000 <= TARGET_MS else "  > target"
        print(f"{label:<{width}} {status:>4} {queries:>7} {median * 1000:>7.0f} ms {slowest * 1000:>6.0f} ms{flag}")
    print()
    print(
        f"CSV export {month:%Y-%m} ({export_runs[0][3]:,} lines): first byte {first_byte * 1000:.0f} ms, "
        f"first data row {first_row * 1000:.0f} ms, whole file {whole * 1000:.0f} ms (medians)"
    )
    slow = [row[0] for row in rows if row[3] * 1000 > TARGET_MS]
    print(f"target ≤ {TARGET_MS} ms per page: " + ("met" if not slow else "MISSED by " + ", ".join(slow)))


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--runs", type=int, default=5, help="timed requests per page")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "car-rental-bench")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate_into:
        generate_into(args.generate_into, orders=args.orders, payments=args.payments, seed=args.seed)
        return

    cached = args.cache / f"staff-pages-{args.orders}-{args.payments}-{args.seed}.sqlite3"
    if cached.exists():
        print(f"reusing {cached}")
    else:
        build_cache(cached, orders=args.orders, payments=args.payments, seed=args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="bench-staff-"))
    try:
        db = workdir / "staff-pages.sqlite3"
        shutil.copyfile(cached, db)
        measure_pages(db, runs=args.runs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
