"""Benchmark of ``manage.py update_historical_orders`` at scale on SQLite.

Generates N orders and M payments (default 100,000 and 250,000) into a fresh,
migrated SQLite file in a temporary directory, then measures, each in a fresh
child process on its own copy of the generated file:

1. the command (all steps) — wall time, peak RSS of the process (``VmHWM``
   from /proc/self/status: the process's resident high-water mark, Python and
   Django included; ``ru_maxrss`` is not used because across fork+exec Linux
   carries the parent's peak into it), SQL statements per order (counted with
   ``connection.execute_wrapper``), and its closing summary;
2. the same command run again (nothing left to do);
3. the command with only the financial step (``--skip-status-update
   --skip-deposit-refund``), the like-for-like match for (4);
4. calling ``Rental.refresh_financials()`` order by order on the same data, on
   an evenly spread sample (default 5,000 orders) extrapolated linearly.

Generation time is not part of any figure. Wall times drift with the
machine's load, so (1) and (4) are sampled in turns, ``--repeat`` times each
(default 3), every sample is printed, and the ratios use the medians.

    .venv/bin/python bench/update_historical_orders.py                 # full size
    .venv/bin/python bench/update_historical_orders.py --orders 2000 --payments 5000

The data mix (seeded, reproducible): 60 % completed and settled (deposit
refunded), 5 % completed still owed their deposit (less any late/damage fee),
3 % cancelled after paying and never refunded, 7 % cancelled and square,
0.5 % walk-ins paid in cash and owed a deposit (no user: manual handling),
14.5 % active (pending, started, on the road, overdue); the stored figures are
wrong on 10 % of all rows; payments beyond the ledger each order needs are
failed, expired or cancelled charge attempts.
"""

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")

TARGET_SECONDS = 60
TARGET_MB = 300
TARGET_RATIO = 10


def setup_django(db_path: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    import django

    django.setup()


# --- data generation -----------------------------------------------------------------


def generate(*, orders: int, payments: int, seed: int) -> dict:
    """Fill the (migrated, empty) database; returns counts by category."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Payment
    from customers.models import Customer
    from rentals import pricing
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    User = get_user_model()

    locations = Location.objects.bulk_create(
        Location(id=i + 1, name=f"Store {i + 1}", city="上海", address=f"{i + 1} Nanjing Road") for i in range(20)
    )
    rates = [Decimal(r) for r in ("159.00", "199.00", "260.00", "300.00", "380.00", "450.00", "680.00")]
    deposits = [Decimal(d) for d in ("1500.00", "2000.00", "3000.00", "5000.00")]
    vehicles = Vehicle.objects.bulk_create(
        Vehicle(
            id=i + 1,
            plate_number=f"沪B{i:05d}",
            brand="Toyota",
            model="Camry",
            year=2024,
            seats=5,
            daily_rate=rng.choice(rates),
            deposit_amount=rng.choice(deposits),
            location=locations[i % len(locations)],
        )
        for i in range(max(50, orders // 50))
    )
    customer_count = max(20, orders // 5)
    levels = ["REGULAR"] * 6 + ["SILVER"] * 2 + ["GOLD", "VIP"]
    User.objects.bulk_create(
        (User(id=i + 1, username=f"bench{i + 1}", password="!") for i in range(customer_count)), batch_size=5000
    )
    customers = Customer.objects.bulk_create(
        (
            Customer(
                id=i + 1,
                user_id=i + 1,
                name=f"客户{i + 1}",
                phone=f"139{i:08d}",
                member_level=rng.choice(levels),
            )
            for i in range(customer_count)
        ),
        batch_size=5000,
    )
    walk_ins = Customer.objects.bulk_create(
        Customer(id=customer_count + i + 1, user_id=None, name=f"散客{i}", phone=f"137{i:08d}")
        for i in range(max(5, orders // 500))
    )

    categories = [
        ("settled", 60.0),
        ("owes_deposit", 5.0),
        ("cancelled_paid", 3.0),
        ("cancelled_square", 7.0),
        ("walk_in", 0.5),
        ("pending_future", 5.0),
        ("pending_started", 2.0),
        ("ongoing", 5.0),
        ("ongoing_late", 2.5),
    ]
    names = [name for name, _w in categories]
    weights = [w for _name, w in categories]
    counts = dict.fromkeys(names, 0)
    counts["stored_figures_wrong"] = 0

    plan = []  # per order: (rental, [(type, status, amount, user_id)])
    for i in range(orders):
        category = rng.choices(names, weights)[0]
        counts[category] += 1
        vehicle = rng.choice(vehicles)
        customer = rng.choice(walk_ins) if category == "walk_in" else rng.choice(customers)
        days = rng.randint(1, 7)
        if category == "pending_future":
            start = now + timedelta(days=rng.randint(1, 30), hours=rng.randint(0, 23))
        elif category in ("pending_started", "ongoing"):
            start = now - timedelta(hours=rng.randint(1, 20))
        elif category == "ongoing_late":
            start = now - timedelta(days=days, hours=rng.randint(2, 48))
        else:
            start = now - timedelta(days=rng.randint(days + 2, 720), hours=rng.randint(0, 23))
        end = start + timedelta(days=days)
        return_location_id = vehicle.location_id if rng.random() < 0.8 else rng.choice(locations).id
        q = pricing.quote(
            daily_rate=vehicle.daily_rate,
            deposit_amount=vehicle.deposit_amount,
            member_level=customer.member_level,
            start_time=start,
            end_time=end,
            pickup_location_id=vehicle.location_id,
            return_location_id=return_location_id,
        )
        status = {
            "settled": "COMPLETED",
            "owes_deposit": "COMPLETED",
            "walk_in": "COMPLETED",
            "cancelled_paid": "CANCELLED",
            "cancelled_square": "CANCELLED",
            "pending_future": "PENDING",
            "pending_started": "PENDING",
            "ongoing": "ONGOING",
            "ongoing_late": "ONGOING",
        }[category]
        rental = Rental(
            id=i + 1,
            customer_id=customer.id,
            vehicle_id=vehicle.id,
            pickup_location_id=vehicle.location_id,
            return_location_id=return_location_id,
            start_time=start,
            end_time=end,
            status=status,
            daily_rate=q.daily_rate,
            discount_rate=q.discount_rate,
            total_amount=q.total_amount,
            discount_amount=q.discount_amount,
            deposit=q.deposit,
            cross_location_fee=q.cross_location_fee,
            created_at=start - timedelta(days=rng.randint(1, 10)),
        )
        user_id = customer.user_id
        booked = rental.order_total
        ledger = []
        if status == "COMPLETED":
            rental.actual_return_time = end
            rental.actual_return_location_id = return_location_id
            if rng.random() < 0.1:
                rental.actual_return_time = end + timedelta(hours=rng.randint(2, 30))
                rental.overdue_fee = pricing.overdue_fee_for(end, rental.actual_return_time, rental.daily_rate)
            if rng.random() < 0.02:
                rental.damage_fee = Decimal("300.00")
            ledger.append(("CHARGE", "PAID", booked))
            fees = rental.overdue_fee + rental.damage_fee
            if fees > rental.deposit:  # the deposit doesn't cover them: paid at the counter
                ledger.append(("CHARGE", "PAID", fees - rental.deposit))
            back = max(Decimal("0.00"), rental.deposit - fees)
            if category == "settled" and back > 0:
                ledger.append(("REFUND", "REFUNDED", back))
        elif status == "CANCELLED":
            rental.cancel_reason = "plans changed"
            rental.cancelled_at = start - timedelta(days=1)
            if category == "cancelled_paid":
                ledger.append(("CHARGE", "PAID", booked))
            elif rng.random() < 0.5:
                ledger += [("CHARGE", "PAID", booked), ("REFUND", "REFUNDED", booked)]
        elif rng.random() < 0.8:
            ledger.append(("CHARGE", "PAID", booked))
        plan.append((rental, [(t, s, a, user_id) for t, s, a in ledger]))

    base = sum(len(ledger) for _r, ledger in plan)
    if payments < base:
        raise SystemExit(f"--payments must be at least {base} for {orders} orders (the ledger they need)")
    # Extra payments: charge attempts that never went through (retries).
    for _ in range(payments - base):
        rental, ledger = rng.choice(plan)
        status = rng.choice(["FAILED", "EXPIRED", "CANCELLED"])
        ledger.insert(0, ("CHARGE", status, rental.order_total, ledger[0][3] if ledger else None))
    counts["failed_attempts"] = payments - base

    payment_id = 0
    chunk_rentals, chunk_payments = [], []
    with transaction.atomic():
        for rental, ledger in plan:
            paid = sum((a for t, s, a, _u in ledger if (t, s) == ("CHARGE", "PAID")), Decimal("0.00"))
            refunded = sum((a for t, s, a, _u in ledger if (t, s) == ("REFUND", "REFUNDED")), Decimal("0.00"))
            figures = rental.figures_for(paid, refunded)
            rental.apply_figures(figures, now=rental.end_time)
            if rng.random() < 0.10:
                counts["stored_figures_wrong"] += 1
                rental.amount_paid = Decimal("0.00")
                rental.amount_refunded = Decimal("0.00")
                rental.settlement_status = "UNSETTLED"
                rental.settled_at = None
            chunk_rentals.append(rental)
            for kind, status, amount, user_id in ledger:
                payment_id += 1
                at = rental.start_time - timedelta(hours=2)
                chunk_payments.append(
                    Payment(
                        id=payment_id,
                        rental_id=rental.id,
                        user_id=user_id,
                        amount=amount,
                        payment_method="CASH" if user_id is None else rng.choice(["ALIPAY", "WECHAT", "BANK"]),
                        transaction_type=kind,
                        status=status,
                        transaction_id=f"{'PAY' if kind == 'CHARGE' else 'REF'}B{payment_id:012d}",
                        provider="counter" if user_id is None else "sandbox",
                        paid_at=at if status in ("PAID", "REFUNDED") else None,
                        created_at=at,
                    )
                )
            if len(chunk_rentals) >= 5000:
                Rental.objects.bulk_create(chunk_rentals, batch_size=1000)
                Payment.objects.bulk_create(chunk_payments, batch_size=1000)
                chunk_rentals, chunk_payments = [], []
        Rental.objects.bulk_create(chunk_rentals, batch_size=1000)
        Payment.objects.bulk_create(chunk_payments, batch_size=1000)
    return counts


# --- measurements (each in its own process) ---------------------------------------------


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure(kind: str, db_path: Path, *, batch_size: int, sample: int) -> dict:
    setup_django(db_path)
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.db import connection
    from django.utils import translation

    from rentals.models import Rental

    translation.activate("en")  # the report is read by whoever runs the bench
    orders = Rental.objects.count()
    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    result = {"kind": kind, "orders": orders, "rss_before_mb": round(_rss_mb("VmRSS"), 1)}
    with connection.execute_wrapper(count):
        if kind == "refresh_financials":
            step = max(1, orders // sample) if sample else 1
            ids = list(Rental.objects.order_by("pk").values_list("pk", flat=True)[::1])[::step]
            result["sampled"] = len(ids)
            started = time.perf_counter()
            written = 0
            for start in range(0, len(ids), 1000):
                for rental in Rental.objects.filter(pk__in=ids[start : start + 1000]).order_by("pk"):
                    written += rental.refresh_financials()
            result["seconds"] = time.perf_counter() - started
            result["written"] = written
        else:
            args = ["update_historical_orders", f"--batch-size={batch_size}"]
            if kind == "refresh_only":
                args += ["--skip-status-update", "--skip-deposit-refund"]
            out = StringIO()
            started = time.perf_counter()
            try:
                call_command(*args, stdout=out, stderr=out)
            except CommandError as exc:
                out.write(f"CommandError: {exc}\n")
            result["seconds"] = time.perf_counter() - started
            result["output"] = out.getvalue()
    result["statements"] = statements
    # VmHWM is this process's own resident high-water mark. ru_maxrss would be
    # wrong here: across fork+exec Linux carries the parent's peak into it.
    result["peak_rss_mb"] = round(_rss_mb("VmHWM"), 1)
    result["ru_maxrss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def run_child(kind: str, db_path: Path, args) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--measure",
            kind,
            "--db",
            str(db_path),
            f"--batch-size={args.batch_size}",
            f"--sample={args.sample}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"measurement {kind} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=250_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--sample", type=int, default=5000, help="orders for the refresh_financials() baseline")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="first runs of the command and baseline samples to take, interleaved; the ratios use the medians",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(measure(args.measure, Path(args.db), batch_size=args.batch_size, sample=args.sample)))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        generated = workdir / "generated.sqlite3"
        started = time.perf_counter()
        setup_django(generated)
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0)
        counts = generate(orders=args.orders, payments=args.payments, seed=args.seed)
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        generation = time.perf_counter() - started

        def fresh_copy(name: str) -> Path:
            target = workdir / f"{name}.sqlite3"
            shutil.copyfile(generated, target)
            return target

        print(
            f"update_historical_orders benchmark — SQLite {args.orders:,} orders, {args.payments:,} payments, "
            f"batch size {args.batch_size}"
        )
        print(f"machine: {os.cpu_count()} cores, shared with other work while this ran; wall times vary with load")
        print(
            f"generated in {generation:.1f} s (not part of any figure): "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        )
        print()

        # Wall times on a shared machine drift by ±15 % between runs, so the
        # command and the loop are sampled in turns and compared by their medians.
        fulls, baselines = [], []
        for i in range(max(1, args.repeat)):
            db = fresh_copy(f"command{i}")
            fulls.append((run_child("command", db, args), db))
            baseline_db = fresh_copy(f"baseline{i}")
            baselines.append(run_child("refresh_financials", baseline_db, args))
            baseline_db.unlink()
        fulls.sort(key=lambda item: item[0]["seconds"])
        full, main_db = fulls[len(fulls) // 2]
        for _result, db in fulls:
            if db != main_db:
                db.unlink()
        baselines.sort(key=lambda r: r["seconds"] / max(1, r["sampled"]))
        baseline = baselines[len(baselines) // 2]
        again = run_child("command", main_db, args)
        refresh_only = run_child("refresh_only", fresh_copy("refresh_only"), args)

        def describe(label: str, r: dict) -> None:
            print(
                f"{label}: wall {r['seconds']:.2f} s; peak RSS {r['peak_rss_mb']:.0f} MB (VmHWM) "
                f"(RSS {r['rss_before_mb']:.0f} MB before it started); "
                f"{r['statements']:,} SQL statements = {r['statements'] / max(1, r['orders']):.3f} per order"
            )

        print(
            f"first runs (all steps), {len(fulls)} samples: "
            + ", ".join(f"{r['seconds']:.2f} s" for r, _db in fulls)
            + f"; median {full['seconds']:.2f} s"
        )
        print(
            f"refresh_financials() loop, {len(baselines)} samples: "
            + ", ".join(f"{r['seconds'] / max(1, r['sampled']) * 1e6:.0f} µs per order" for r in baselines)
            + f"; median {baseline['seconds'] / max(1, baseline['sampled']) * 1e6:.0f} µs per order"
        )
        print()
        describe("command, first run (all steps), median sample", full)
        for line in full["output"].splitlines():
            print("    " + line)
        describe("command, second run (nothing left to do)", again)
        for line in again["output"].splitlines()[1:4]:
            print("    " + line)
        describe("command, financial step only (--skip-status-update --skip-deposit-refund)", refresh_only)
        print()
        per_order = baseline["seconds"] / max(1, baseline["sampled"])
        extrapolated = per_order * baseline["orders"]
        sampled_note = (
            f"measured on {baseline['sampled']:,} evenly spread orders in {baseline['seconds']:.2f} s "
            f"({per_order * 1e6:.0f} µs per order, {baseline['statements'] / max(1, baseline['sampled']):.2f} "
            f"statements per order, {baseline['written']:,} rows written), extrapolated linearly to "
            f"{baseline['orders']:,} orders"
            if baseline["sampled"] < baseline["orders"]
            else f"all {baseline['orders']:,} orders"
        )
        print(f"order-by-order refresh_financials(), median sample: {extrapolated:.1f} s — {sampled_note}")
        ratio_full = extrapolated / full["seconds"]
        ratio_refresh = extrapolated / refresh_only["seconds"]
        print(f"ratio refresh_financials() loop / command (all steps):      {ratio_full:.1f}×")
        print(f"ratio refresh_financials() loop / command (financial step): {ratio_refresh:.1f}×")
        print()
        peak = full["peak_rss_mb"]
        checks = [
            (f"command ≤ {TARGET_SECONDS} s", full["seconds"] <= TARGET_SECONDS),
            (f"peak RSS ≤ {TARGET_MB} MB", peak <= TARGET_MB),
            (
                f"≥ {TARGET_RATIO}× faster than refresh_financials() order by order (financial step)",
                ratio_refresh >= TARGET_RATIO,
            ),
            (
                f"≥ {TARGET_RATIO}× with all steps (refunds and status moves the loop doesn't do)",
                ratio_full >= TARGET_RATIO,
            ),
        ]
        print("targets: " + "; ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in checks))
    finally:
        if args.keep:
            print(f"data kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
