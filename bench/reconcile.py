"""Benchmark of ``manage.py reconcile_payments``: a statement of 50,000 rows
(45,000 charges and 5,000 refunds, in the provider's own layout) against a
matching ledger on SQLite, three rows made to differ.

    .venv/bin/python bench/reconcile.py [--rows 50000] [--provider wechatpay alipay]

The ledger is generated into a temporary SQLite file and the statement into a
file next to it (generation is not part of any figure). The command then runs
in a child process, exactly as ops would run it (``--file``); the figures are
its wall time and its peak RSS (``VmHWM`` of that child, which it reports at
exit: Python, Django and the whole run). Targets: ≤ 20 s and ≤ 200 MB. Figures only, no assertions.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")

DAY = date(2026, 3, 1)
PAYMENTS_PER_RENTAL = 100


def generate(provider: str, rows: int) -> bytes:
    """Ledger rows of ``provider`` on DAY and the matching statement (three rows off)."""
    from django.db import transaction

    from accounts.models import Payment
    from accounts.tests.statements import Line, alipay_zip, at, wechat_bill
    from customers.models import Customer
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    method = Payment.Method.ALIPAY if provider == "alipay" else Payment.Method.WECHAT
    tag = provider[:2].upper()
    with transaction.atomic():
        location, _ = Location.objects.get_or_create(name="Bench store", defaults={"city": "上海"})
        vehicle, _ = Vehicle.objects.get_or_create(
            plate_number="沪Z00001",
            defaults={"brand": "Toyota", "model": "Camry", "daily_rate": Decimal("300.00"),
                      "deposit_amount": Decimal("2000.00"), "location": location},
        )  # fmt: skip
        customer, _ = Customer.objects.get_or_create(phone="13800000000", defaults={"name": "压测客户"})
        start = at(DAY, 9) - timedelta(days=10)
        rentals = []
        for _ in range(-(-rows // PAYMENTS_PER_RENTAL)):
            rental = Rental(
                customer=customer, vehicle=vehicle, pickup_location=location, return_location=location,
                start_time=start, end_time=start + timedelta(days=3), status=Rental.Status.COMPLETED,
            )  # fmt: skip
            rental.apply_quote()
            rentals.append(rental)
        rentals = Rental.objects.bulk_create(rentals)
        refunds_every = 10  # one refund in ten rows
        slots = []  # (n, paid_at, amount, is_refund)
        charges = []
        for n in range(rows):
            paid_at = at(DAY) - timedelta(hours=12) + timedelta(seconds=int(n * 86_000 / rows))
            amount = Decimal(100 + n % 5000) + Decimal(n % 100) / 100
            is_refund = n % refunds_every == refunds_every - 1
            slots.append((n, paid_at, amount, is_refund))
            if not is_refund:
                charges.append(Payment(
                    rental=rentals[n // PAYMENTS_PER_RENTAL], amount=amount, status=Payment.Status.PAID,
                    transaction_type=Payment.TransactionType.CHARGE, transaction_id=f"PAY{tag}{n:012d}",
                    payment_method=method, provider=provider, paid_at=paid_at,
                ))  # fmt: skip
        charges = Payment.objects.bulk_create(charges, batch_size=2000)
        by_id = {c.transaction_id: c for c in charges}
        refunds, lines, last = [], [], None
        for n, paid_at, amount, is_refund in slots:
            if is_refund:
                refund = Payment(
                    rental=last.rental, amount=min(amount, last.amount), status=Payment.Status.REFUNDED,
                    transaction_type=Payment.TransactionType.REFUND, transaction_id=f"REF{tag}{n:012d}",
                    payment_method=method, provider=provider, paid_at=paid_at, refund_of=last,
                )  # fmt: skip
                refunds.append(refund)
                lines.append(Line(last.transaction_id, refund.amount, paid_at, refund_id=refund.transaction_id))
            else:
                last = by_id[f"PAY{tag}{n:012d}"]
                fee = (amount * Decimal("0.006")).quantize(Decimal("0.00001"))
                lines.append(Line(last.transaction_id, amount, paid_at, fee=fee))
        Payment.objects.bulk_create(refunds, batch_size=2000)
    # Three differences: a row missing there, an amount off by ¥0.01, a row missing here.
    del lines[0]
    lines[1] = Line(lines[1].trade_id, lines[1].amount + Decimal("0.01"), lines[1].at, lines[1].refund_id, lines[1].fee)
    lines.append(Line(f"PAY{tag}UNKNOWN0001", Decimal("88.00"), at(DAY, 12)))
    return alipay_zip(DAY, lines) if provider == "alipay" else wechat_bill(lines)


# The child reports its own resident high-water mark at exit: ru_maxrss of a
# forked child would also count the parent's pages from before its exec.
CHILD = """
import atexit, os, sys
def report():
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM"))
    sys.stderr.write("VMHWM_KB " + hwm.split()[1] + "\\n")
atexit.register(report)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", *sys.argv[1:]])
"""


def measure(provider: str, statement: Path, env: dict) -> None:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "reconcile_payments", "--provider", provider,
         "--date", DAY.isoformat(), "--file", str(statement)],
        env=env, capture_output=True, cwd=ROOT, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    output = proc.stdout.decode()
    errors = proc.stderr.decode().splitlines()
    peak_kb = next((int(line.split()[1]) for line in errors if line.startswith("VMHWM_KB")), 0)
    print(f"--- {provider}: statement {statement.stat().st_size / 1e6:.1f} MB")
    print("\n".join(output.splitlines()[:4]))
    print(f"  … ({len(output.splitlines())} lines of output)")
    for line in errors:
        if not line.startswith("VMHWM_KB"):
            print(f"  stderr: {line}")
    print(f"exit code {proc.returncode}; wall {seconds:.2f} s; peak RSS {peak_kb / 1024:.0f} MB (VmHWM)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--provider", nargs="+", default=["wechatpay", "alipay"], choices=["wechatpay", "alipay"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconcile-bench-") as tmp:
        db = Path(tmp) / "bench.sqlite3"
        os.environ["DATABASE_URL"] = f"sqlite:///{db}"
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{db}", "PYTHONPATH": str(ROOT)}
        for provider in args.provider:
            started = time.perf_counter()
            data = generate(provider, args.rows)
            path = Path(tmp) / f"{provider}.statement"
            path.write_bytes(data)
            print(f"generated {args.rows} {provider} rows in {time.perf_counter() - started:.1f} s (not measured)")
        for provider in args.provider:
            measure(provider, Path(tmp) / f"{provider}.statement", env)


if __name__ == "__main__":
    main()
