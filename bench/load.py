"""Load figures of the production-like profile (`make serve`), on this machine.

Start `make serve` first (same DATABASE_URL; PORT defaults to 8000), then:

    .venv/bin/python bench/load.py                     # 10 s per page, 8 clients
    .venv/bin/python bench/load.py --seconds 5 --clients 4 --callbacks-per-second 100
    .venv/bin/python bench/load.py --skip healthz,cars,status,detail,report   # callbacks only, 100/s for 30 s

It starts nothing itself: it writes its own data (a customer with 200 orders,
one charge per callback to send) through the ORM into the server's database,
then sends bounded load to 127.0.0.1 only, page after page, and prints
requests/s, p50/p95/p99 latency and errors for /healthz, the car list, the
status of a charge as JSON (the lightest signed-in request: session, user and
one query), a logged-in order detail, a logged-in consumption report, and signed sandbox
callbacks for distinct charges sent open loop at a fixed rate (latency from
each one's scheduled moment). Last, it checks that every order it touched has
stored figures equal to its ledger; exit 1 on that, an error or a callback
not applied.
"""

import argparse
import http.client
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def serve_environment() -> None:
    """The environment `make serve` runs with (its generated secrets included)."""
    secrets_file = ROOT / ".serve-secrets"
    if secrets_file.exists():
        for line in secrets_file.read_text().splitlines():
            name, _, value = line.partition("=")
            os.environ.setdefault(name, value)
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/car_rental")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "car_rental_system.settings")


class Client:
    """One keep-alive HTTP connection to the server, with a session cookie."""

    def __init__(self, port: int, cookie: str = ""):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookie = cookie

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> int:
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            self.conn.close()
            return 0


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run_for(seconds: float, clients: int, make_client, path: str, expect: int = 200) -> dict:
    stop_at = time.perf_counter() + seconds
    latencies, errors = [], []
    lock = threading.Lock()

    def worker():
        client = make_client()
        mine, bad = [], 0
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            status = client.request("GET", path)
            mine.append(time.perf_counter() - started)
            bad += status != expect
        with lock:
            latencies.extend(mine)
            errors.append(bad)

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(worker)
    elapsed = time.perf_counter() - started
    return summary(latencies, sum(errors), elapsed, time.process_time() - cpu)


def summary(latencies: list[float], errors: int, elapsed: float, cpu: float) -> dict:
    return {
        # this process's own CPU time over the wall time: its share of one core
        "cpu": cpu / elapsed,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "errors": errors,
    }


def callback_request(sandbox, charge) -> tuple[bytes, dict]:
    """A signed sandbox success callback for ``charge``: (body, headers)."""
    body = json.dumps(
        {
            "event_id": f"load-{charge.transaction_id}",
            "transaction_id": charge.transaction_id,
            "status": "succeeded",
            "amount": str(charge.amount),
        },
        separators=(",", ":"),
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Sandbox-Signature": sandbox.signature_header(body, int(time.time())),
    }
    return body, headers


def send_at_fixed_rate(port: int, requests: list[tuple[bytes, dict]], rate: float, senders: int) -> dict:
    """POST each callback at its own moment, ``start + n / rate``, whatever the
    answers before it (open loop): ``senders`` threads, one keep-alive
    connection each, take the next callback in order, wait for its moment and
    send it. Latency counts from that moment, so a server (or a sender) that
    falls behind shows as latency, not as a lower rate."""
    latencies: list[float] = []
    late: list[float] = []  # how long after its moment each callback left
    errors = [0]
    lock = threading.Lock()
    index = iter(range(len(requests)))
    seconds: dict[int, list[float]] = {second: [] for second in range(int(len(requests) / rate) + 1)}
    started = time.perf_counter() + 0.2  # every sender ready before the first moment

    def sender():
        client = Client(port)
        mine, lags, bad = [], [], 0
        while True:
            with lock:
                n = next(index, None)
            if n is None:
                break
            moment = started + n / rate
            delay = moment - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            lags.append(time.perf_counter() - moment)
            body, headers = requests[n]
            status = client.request("POST", "/api/payments/callback/sandbox/", body, headers)
            mine.append(time.perf_counter() - moment)
            seconds[int(n / rate)].append(mine[-1])
            bad += status != 200
        with lock:
            latencies.extend(mine)
            late.extend(lags)
            errors[0] += bad

    cpu = time.process_time()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    result = summary(latencies, errors[0], elapsed, time.process_time() - cpu)
    result["late_p99"] = percentile(late, 0.99) * 1000
    # the slowest answer of each second of the schedule: a tail from a few bad seconds, or all along
    result["worst_by_second"] = [max(values, default=0.0) * 1000 for _, values in sorted(seconds.items())]
    result["seconds"] = elapsed
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--seconds", type=float, default=10.0, help="load per page (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients per page (default 8)")
    parser.add_argument("--callbacks-per-second", type=int, default=100)
    parser.add_argument("--callback-seconds", type=float, default=30.0, help="how long callbacks are sent (default 30)")
    parser.add_argument("--senders", type=int, default=16, help="threads sending callbacks (default 16)")
    parser.add_argument("--orders", type=int, default=200, help="orders of the report's customer (default 200)")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to leave out: healthz,cars,status,detail,report,callbacks"
    )
    args = parser.parse_args()
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}

    serve_environment()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from accounts.models import Payment
    from accounts.providers import sandbox
    from customers.models import Customer
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    # --- data ---------------------------------------------------------------------
    stamp = f"{int(time.time())}"
    store, _ = Location.objects.get_or_create(name="压测门店", defaults={"city": "上海", "address": "bench"})
    car = Vehicle.objects.create(
        plate_number=f"压{stamp[-6:]}",
        brand="Bench",
        model="Load",
        year=2026,
        seats=5,
        daily_rate=Decimal("300.00"),
        deposit_amount=Decimal("2000.00"),
        location=store,
    )
    user = get_user_model().objects.create_user(username=f"load{stamp}", password=None)
    customer = Customer.objects.create(user=user, name="压测客户", phone="13800138000")
    # history in the past; the bookings paid by callbacks start ahead (so the
    # status refresh of the page views leaves them alone)
    past = timezone.now() - timedelta(days=3 * args.orders + 10)
    ahead = timezone.now() + timedelta(days=1)
    rentals = []
    total = args.orders + int(args.callback_seconds * args.callbacks_per_second)
    for n in range(total):
        start = past + timedelta(days=3 * n) if n < args.orders else ahead + timedelta(days=3 * (n - args.orders))
        rental = Rental(
            customer=customer,
            vehicle=car,
            pickup_location=store,
            return_location=store,
            start_time=start,
            end_time=start + timedelta(days=2),
            status=Rental.Status.COMPLETED if n < args.orders else Rental.Status.PENDING,
        )
        rental.apply_quote()
        rentals.append(rental)
    Rental.objects.bulk_create(rentals, batch_size=500)
    rentals = list(Rental.objects.filter(customer=customer).order_by("start_time"))
    history, to_pay = rentals[: args.orders], rentals[args.orders :]
    now = timezone.now()
    Payment.objects.bulk_create(
        [
            Payment(
                rental=r,
                user=user,
                amount=r.order_total,
                payment_method="ALIPAY",
                status="PAID",
                transaction_id=f"PAYLOAD{stamp}{r.pk:08d}",
                provider="sandbox",
                paid_at=now,
            )
            for r in history
        ]
        + [
            Payment(
                rental=r,
                user=user,
                amount=r.order_total,
                payment_method="WECHAT",
                status="PENDING",
                transaction_id=f"PAYLOAD{stamp}{r.pk:08d}",
                provider="sandbox",
                expires_at=now + timedelta(hours=2),
            )
            for r in to_pay
        ],
        batch_size=500,
    )
    for rental in history:
        rental.refresh_financials()
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = settings.AUTHENTICATION_BACKENDS[0]
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session.session_key}"
    detail = history[-1].get_absolute_url()
    # the lightest signed-in request there is: session, user and one query, as JSON
    charge_status = f"/payments/PAYLOAD{stamp}{history[-1].pk:08d}/status/"

    # --- load ------------------------------------------------------------------------
    def anonymous():
        return Client(args.port)

    def signed_in():
        return Client(args.port, cookie)

    if anonymous().request("GET", "/readyz") != 200:
        print(f"nothing answers /readyz on 127.0.0.1:{args.port}: start `make serve` first", file=sys.stderr)
        return 2
    pages = [
        ("healthz", "/healthz", anonymous, "/healthz"),
        ("cars", "car list /vehicles/", anonymous, "/vehicles/"),
        ("status", "charge status JSON (signed in)", signed_in, charge_status),
        ("detail", "order detail (signed in)", signed_in, detail),
        ("report", f"consumption report, {args.orders} orders (signed in)", signed_in, "/accounts/consumption-report/"),
    ]
    results = {}
    for part, label, make_client, path in pages:
        if part in skip:
            continue
        anonymous().request("GET", path)  # warm up
        results[label] = run_for(args.seconds, args.clients, make_client, path)

    # signed sandbox callbacks for distinct charges, sent open-loop at a fixed rate
    charges = (
        [] if "callbacks" in skip else list(Payment.objects.filter(rental__in=to_pay, status="PENDING").order_by("pk"))
    )
    if charges:
        label = f"sandbox callbacks, {args.callbacks_per_second}/s open-loop"
        results[label] = send_at_fixed_rate(
            args.port,
            [callback_request(sandbox, charge) for charge in charges],
            args.callbacks_per_second,
            args.senders,
        )

    # --- report ------------------------------------------------------------------------
    print(
        f"{'page':<44} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} {'bench CPU':>10}"
    )
    for label, r in results.items():
        print(
            f"{label:<44} {r['requests']:>9,} {r['rps']:>8.1f} {r['p50']:>8.1f} {r['p95']:>8.1f} {r['p99']:>8.1f} {r['errors']:>7} {r['cpu']:>10.0%}"
        )
    for name, label in (
        ("order detail", "order detail (signed in)"),
        ("charge status", "charge status JSON (signed in)"),
    ):
        if "/healthz" in results and label in results:
            print(f"{name} / healthz throughput: {results[label]['rps'] / results['/healthz']['rps']:.0%}")

    for label, r in results.items():
        if "late_p99" in r:
            print(
                f"{label}: {r['requests']} sent over {r['seconds']:.1f} s; p99 of a sender's lag behind "
                f"the schedule {r['late_p99']:.1f} ms (all senders busy when it grows)"
            )
            print("slowest answer of each second, ms:", " ".join(f"{v:.0f}" for v in r["worst_by_second"]))

    drift = []
    for rental in Rental.objects.filter(customer=customer):
        stored = (rental.amount_paid, rental.amount_refunded, rental.settlement_status)
        rental.refresh_financials(save=False)
        if stored != (rental.amount_paid, rental.amount_refunded, rental.settlement_status):
            drift.append(rental.pk)
    paid = Payment.objects.filter(rental__in=to_pay, status="PAID").count()
    errors = sum(r["errors"] for r in results.values())
    applied = paid == len(charges)
    print(
        f"callbacks applied: {paid} of {len(charges)} sent; orders whose stored figures differ from the ledger: "
        f"{len(drift)}; errors: {errors}"
    )
    return 1 if drift or errors or not applied else 0


if __name__ == "__main__":
    sys.exit(main())
