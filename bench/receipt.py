"""Benchmark of the PDF receipt (SPEC §20): an order with 50 payments (40
charges and 10 refunds) rendered to PDF, as the customer's and the staff's
receipt URLs render it.

    .venv/bin/python bench/receipt.py [--payments 50] [--runs 5]

The order is generated into a temporary SQLite file (not measured). Each run
loads the order as the receipt view does (one query for the order, one for
its ledger) and renders the PDF; the first run, which also loads WeasyPrint
and the Noto CJK font, is printed apart from the median and slowest of the
others, as wall time and as this process's CPU time (on a busy machine the
wall time also counts the wait for a core). Target: under a second. Figures
only, no assertions.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")

START = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def generate(payments: int) -> int:
    """A completed order with ``payments`` ledger rows (every fifth a refund); its pk."""
    from django.db import transaction

    from accounts.models import Payment
    from customers.models import Customer
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    with transaction.atomic():
        location = Location.objects.create(name="人民广场店", city="上海")
        vehicle = Vehicle.objects.create(
            plate_number="沪Z00001", brand="Toyota", model="Camry", daily_rate=Decimal("300.00"),
            deposit_amount=Decimal("2000.00"), location=location,
        )  # fmt: skip
        customer = Customer.objects.create(phone="13800000000", name="压测客户")
        rental = Rental(
            customer=customer, vehicle=vehicle, pickup_location=location, return_location=location,
            start_time=START, end_time=START + timedelta(days=3), status=Rental.Status.COMPLETED,
            actual_return_time=START + timedelta(days=3), actual_return_location=location,
        )  # fmt: skip
        rental.apply_quote()
        rental.save()
        rows, last = [], None
        for n in range(payments):
            at = START + timedelta(minutes=10 * n)
            if n % 5 == 4:
                rows.append(Payment(
                    rental=rental, amount=Decimal("10.00"), status=Payment.Status.REFUNDED,
                    transaction_type=Payment.TransactionType.REFUND, transaction_id=f"REFBENCH{n:012d}",
                    payment_method=Payment.Method.ALIPAY, paid_at=at, refund_of=last,
                ))  # fmt: skip
            else:
                last = Payment(
                    rental=rental, amount=Decimal("100.00") + n, status=Payment.Status.PAID,
                    transaction_type=Payment.TransactionType.CHARGE, transaction_id=f"PAYBENCH{n:012d}",
                    payment_method=Payment.Method.ALIPAY, paid_at=at,
                )  # fmt: skip
                last.save()
        Payment.objects.bulk_create(rows)
        rental.refresh_financials()
    return rental.pk


def render_once(pk: int) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, PDF bytes) of one receipt,
    loaded and rendered as the view does."""
    from django.utils import translation

    from accounts import receipts

    started, cpu = time.perf_counter(), time.process_time()
    with translation.override("zh-hans"):
        rental = receipts.receipt_rentals().get(pk=pk)
        pdf = receipts.render_receipt(rental=rental)
    return time.perf_counter() - started, time.process_time() - cpu, len(pdf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="receipt-bench-") as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        import django

        django.setup()
        import logging

        from django.core.management import call_command

        logging.getLogger("weasyprint").setLevel(logging.WARNING)
        call_command("migrate", verbosity=0)
        pk = generate(args.payments)
        first, first_cpu, size = render_once(pk)
        print(f"receipt of an order with {args.payments} payments: {size / 1024:.0f} KB PDF")
        print(f"first render (loads WeasyPrint and the font): {first:.3f} s wall, {first_cpu:.3f} s CPU")
        runs = [render_once(pk) for _ in range(args.runs)]
        wall, cpu = [run[0] for run in runs], [run[1] for run in runs]
        print(
            f"next {args.runs} renders: median {statistics.median(wall):.3f} s wall "
            f"({statistics.median(cpu):.3f} s CPU), slowest {max(wall):.3f} s wall "
            f"(target < 1 s){'' if max(wall) < 1 else '  ** over target'}"
        )


if __name__ == "__main__":
    main()
