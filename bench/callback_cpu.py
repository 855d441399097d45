"""CPU of one signed payment callback, in process, against the least its work costs.

    .venv/bin/python bench/callback_cpu.py                       # 5 rounds x 40 callbacks per kind
    .venv/bin/python bench/callback_cpu.py --rounds 3 --batch 20 --profile alipay

Runs on the database of DATABASE_URL (default: the `make serve` one; it is
migrated first) and, when REDIS_URL is set, the Redis cache, with DEBUG off
and persistent connections, as `make serve` does. Keys for Alipay and WeChat
Pay are generated for the run (bench/callback_notices.py). For each provider
(sandbox, Alipay, WeChat Pay) it posts, through Django's test client and the
whole middleware stack, signed success notifications for distinct open
charges (``accepted``), the same notifications again (``duplicate``), and the
same kind of notification to the minimal view of bench/minimal_callback.py
(``minimal``: verify, then the statements exactly once needs, plainly). Kinds
are interleaved in rounds; each figure is the process CPU time
(``time.process_time``) of a batch over its size, the median of the rounds.
It prints the statements one callback of each kind runs and, with
``--profile PROVIDER``, the cProfile of its accepted callbacks (top functions
by cumulative and by own time).
"""

import argparse
import cProfile
import io
import logging
import os
import pstats
import secrets
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def environment() -> None:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/car_rental")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("CONN_MAX_AGE", "600")
    os.environ.update(
        {
            "DEBUG": "false",
            "PAYMENT_SANDBOX_ENABLED": "true",
            "PAYMENT_SANDBOX_SECRET": secrets.token_hex(32),
            "ALLOWED_HOSTS": "testserver",
            "SECURE_SSL_REDIRECT": "false",
        }
    )


def make_charges(counts: dict[str, int]) -> dict[str, list]:
    """``counts[provider]`` open charges per provider, each on its own booking of one customer
    (exactly as many as are sent: a charge left open would be closed at its provider later)."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import Payment
    from bench.callback_notices import charge_id
    from customers.models import Customer
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    stamp = secrets.token_hex(3).upper()
    store, _ = Location.objects.get_or_create(name="压测门店", defaults={"city": "上海", "address": "bench"})
    car = Vehicle.objects.create(
        plate_number=f"测{stamp}",
        brand="Bench",
        model="CPU",
        year=2026,
        seats=5,
        daily_rate=Decimal("300.00"),
        deposit_amount=Decimal("2000.00"),
        location=store,
    )
    user = get_user_model().objects.create_user(username=f"cpu{stamp}", password=None)
    customer = Customer.objects.create(user=user, name="压测客户", phone="13800138000")
    ahead = timezone.now() + timedelta(days=1)
    providers = [name for name, count in counts.items() for _ in range(count)]
    total = len(providers)
    rentals = []
    for n in range(total):
        start = ahead + timedelta(days=3 * n)
        rental = Rental(
            customer=customer,
            vehicle=car,
            pickup_location=store,
            return_location=store,
            start_time=start,
            end_time=start + timedelta(days=2),
            status=Rental.Status.PENDING,
        )
        rental.apply_quote()
        rentals.append(rental)
    rentals = Rental.objects.bulk_create(rentals, batch_size=500)
    now = timezone.now()
    charges = [
        Payment(
            rental=rental,
            user=user,
            amount=rental.order_total,
            payment_method="WECHAT" if providers[n] == "wechatpay" else "ALIPAY",
            status="PENDING",
            transaction_id=charge_id(),
            provider=providers[n],
            expires_at=now + timedelta(hours=2),
        )
        for n, rental in enumerate(rentals)
    ]
    Payment.objects.bulk_create(charges, batch_size=500)
    by_provider: dict[str, list] = {name: [] for name in counts}
    for charge in charges:
        by_provider[charge.provider].append(charge)
    return by_provider


def post(client, path: str, content_type: str, headers: dict, body: bytes, expect: int):
    response = client.generic("POST", path, data=body, content_type=content_type, headers=headers)
    if response.status_code != expect:
        raise SystemExit(f"{path}: {response.status_code} {response.content[:200]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=40, help="callbacks per kind and round (default 40)")
    parser.add_argument("--providers", default="sandbox,alipay,wechatpay")
    parser.add_argument("--profile", default="", help="a provider whose accepted callbacks are profiled")
    args = parser.parse_args()
    providers = [name for name in args.providers.split(",") if name]

    environment()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench import callback_notices

    # The request log is written and formatted as in production, then dropped.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the whole run
    call_command("migrate", verbosity=0)
    keys = callback_notices.Keys()
    callback_notices.configure(settings, keys)
    settings.ROOT_URLCONF = "bench.minimal_callback"
    settings.CELERY_BROKER_URL = ""  # a job asked for (none is, on a success) would run in process
    expected = {"sandbox": 200, "alipay": 200, "wechatpay": 204}

    # three kinds: a warm-up batch and the rounds each, one counted callback each, a profiled batch
    charges = make_charges(
        {
            name: 3 * args.batch * (args.rounds + 1) + 3 + (args.batch if name == args.profile else 0)
            for name in providers
        }
    )
    pending = {name: iter(charges[name]) for name in providers}
    client = Client()

    def notices(provider: str, n: int) -> list[tuple[str, str, dict, bytes]]:
        return [
            callback_notices.notice(provider, keys, charge.transaction_id, charge.amount)
            for charge in (next(pending[provider]) for _ in range(n))
        ]

    def prepare(provider: str, kind: str, n: int) -> list[tuple[str, str, dict, bytes]]:
        """``n`` notices of ``kind`` to send (a duplicate's first delivery is made here)."""
        sent = notices(provider, n)
        if kind == "duplicate":
            for item in sent:
                post(client, *item, expected[provider])
        if kind == "minimal":
            sent = [(f"/bench/minimal-callback/{provider}/", *item[1:]) for item in sent]
        return sent

    def batch(provider: str, kind: str, n: int, capture=None) -> float:
        """CPU seconds per callback of ``n`` callbacks of ``kind``."""
        sent = prepare(provider, kind, n)
        started = time.process_time()
        for item in sent:
            if capture is not None:
                capture.enable()
            post(client, *item, expected[provider])
            if capture is not None:
                capture.disable()
        return (time.process_time() - started) / n

    kinds = ("accepted", "duplicate", "minimal")
    for provider in providers:  # warm-up: connections, prepared statements, caches
        for kind in kinds:
            batch(provider, kind, args.batch)
    statements = {}
    for provider in providers:
        for kind in kinds:
            (item,) = prepare(provider, kind, 1)
            with CaptureQueriesContext(connection) as ctx:
                post(client, *item, expected[provider])
            statements[provider, kind] = len(ctx.captured_queries)
            if os.environ.get("BENCH_SHOW_SQL"):
                print(f"--- {provider} {kind}")
                for query in ctx.captured_queries:
                    print("   ", query["sql"][:160])
    cpu: dict[tuple[str, str], list[float]] = {key: [] for key in statements}
    for _ in range(args.rounds):
        for provider in providers:
            for kind in kinds:
                cpu[provider, kind].append(batch(provider, kind, args.batch))

    print(
        f"database {connection.vendor}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}; "
        f"{args.rounds} rounds x {args.batch} callbacks per kind; CPU ms per callback, median (range)"
    )
    print(f"{'provider':<10} {'kind':<10} {'statements':>10} {'CPU ms':>8} {'range':>14} {'vs minimal':>11}")
    for provider in providers:
        floor = statistics.median(cpu[provider, "minimal"])
        for kind in kinds:
            values = cpu[provider, kind]
            median = statistics.median(values)
            spread = f"{min(values) * 1000:.2f}–{max(values) * 1000:.2f}"
            print(
                f"{provider:<10} {kind:<10} {statements[provider, kind]:>10} {median * 1000:>8.2f} {spread:>14} "
                f"{median / floor:>10.2f}x"
            )

    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU, not the wait for the database
        batch(args.profile, "accepted", args.batch, capture=profiler)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(40)  # where the time goes, from the request down
        stats.sort_stats("cumulative").print_stats(r"/(accounts|rentals|customers|car_rental_system)/", 40)
        stats.sort_stats("tottime").print_stats(30)  # the functions that spend it
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
