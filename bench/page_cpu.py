"""CPU per request of the signed-in customer pages, against minimal Django pages
of the same size, in process, on the production-like settings.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/car_rental REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/page_cpu.py                      # 5 x 200 requests a page
    .venv/bin/python bench/page_cpu.py --batches 3 --requests 100 --pages detail,pay
    .venv/bin/python bench/page_cpu.py --profile detail        # cProfile of 300 order details

Settings as `make serve` has them: DEBUG off, PostgreSQL with persistent
connections (CONN_MAX_AGE=600, prepared statements), Redis for the cache and
the sessions, the same middleware (whitenoise over a collected static tree in
a temporary directory). Every request goes through Django's WSGI handler, as
gunicorn calls it, with a signed-in customer's session cookie. The minimal
pages (bench/minimal_pages.py) are served by the same handler and settings,
padded to the byte size of the project page they stand for.

Per page, batches of the project page and of its minimal page alternate
(the order flips every round); each batch's figure is its CPU time
(``time.process_time()`` around each request, summed) over its request count;
the printed figure is the median of the batches. Then the ratio, the response
sizes and the SQL statements and Redis commands of one request of each.
"""

import argparse
import io
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLAIN_BACKEND = "django.contrib.auth.backends.ModelBackend"
PAGES = ("healthz", "status", "detail", "pay", "orders", "report")
LABELS = {
    "healthz": "/healthz",
    "status": "charge status JSON",
    "detail": "order detail",
    "pay": "pay page",
    "orders": "my orders",
    "report": "consumption report p.1",
}


def production_environment() -> None:
    """The environment of `make serve`, with a throw-away secret and static tree."""
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/car_rental")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "car_rental_system.settings",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "testserver",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "SECURE_SSL_REDIRECT": "false",
            "SECURE_HSTS_SECONDS": "0",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
            "PAYMENT_SANDBOX_ENABLED": "true",
            "RENTAL_STATUS_REFRESH_BY_BEAT": os.environ.get("RENTAL_STATUS_REFRESH_BY_BEAT", "true"),
            "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "600"),
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "STATIC_ROOT": tempfile.mkdtemp(prefix="page-cpu-static-"),
        }
    )


def build_data(orders: int) -> dict:
    """A customer with ``orders`` completed orders (a charge and a deposit refund
    each) and one unpaid booking; returns the paths of the pages."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from accounts.models import Payment
    from customers.models import Customer
    from rentals.models import Rental
    from vehicles.models import Location, Vehicle

    stamp = f"{int(time.time() * 1000)}"[-9:]
    store, _ = Location.objects.get_or_create(name="基准门店", defaults={"city": "上海", "address": "bench"})
    car = Vehicle.objects.create(
        plate_number=f"基{stamp[-6:]}",
        brand="Bench",
        model="CPU",
        year=2026,
        seats=5,
        daily_rate=Decimal("300.00"),
        deposit_amount=Decimal("2000.00"),
        location=store,
    )
    user = get_user_model().objects.create_user(username=f"cpu{stamp}", password=None)
    customer = Customer.objects.create(user=user, name="基准客户", phone="13800138000")
    now = timezone.now()
    past = now - timedelta(days=3 * orders + 10)
    history = []
    for n in range(orders):
        start = past + timedelta(days=3 * n)
        rental = Rental(
            customer=customer,
            vehicle=car,
            pickup_location=store,
            return_location=store,
            start_time=start,
            end_time=start + timedelta(days=2),
            actual_return_time=start + timedelta(days=2),
            status=Rental.Status.COMPLETED,
        )
        rental.apply_quote()
        history.append(rental)
    Rental.objects.bulk_create(history, batch_size=500)
    history = list(Rental.objects.filter(customer=customer).order_by("start_time"))
    Rental.objects.filter(pk__in=[r.pk for r in history]).update(created_at=now - timedelta(days=1))
    rows = []
    for r in history:
        common = {"rental": r, "user": user, "payment_method": "ALIPAY", "provider": "sandbox", "paid_at": now}
        rows.append(Payment(amount=r.order_total, status="PAID", transaction_id=f"PAYC{stamp}{r.pk:08d}", **common))
        rows.append(
            Payment(
                amount=r.deposit,
                status="REFUNDED",
                transaction_type="REFUND",
                transaction_id=f"REFC{stamp}{r.pk:08d}",
                description="Deposit",
                **common,
            )
        )
    Payment.objects.bulk_create(rows, batch_size=500)
    for rental in history:
        rental.refresh_financials()
    ahead = now + timedelta(days=2)
    unpaid = Rental(
        customer=customer,
        vehicle=car,
        pickup_location=store,
        return_location=store,
        start_time=ahead,
        end_time=ahead + timedelta(days=3),
    )
    unpaid.apply_quote()
    unpaid.save()
    detail = history[-1]
    return {
        "user": user,
        "healthz": ("/healthz", "/minimal/healthz"),
        "status": (
            f"/payments/PAYC{stamp}{detail.pk:08d}/status/",
            f"/minimal/status/PAYC{stamp}{detail.pk:08d}/",
        ),
        "detail": (f"/accounts/orders/{detail.pk}/", f"/minimal/orders/{detail.pk}/"),
        "pay": (f"/accounts/orders/{unpaid.pk}/pay/", f"/minimal/orders/{unpaid.pk}/pay/"),
        "orders": ("/accounts/orders/", "/minimal/orders/"),
        "report": ("/accounts/consumption-report/", "/minimal/report/"),
    }


class Server:
    """Django's WSGI handler called the way gunicorn calls it, with a session cookie."""

    def __init__(self, cookies: dict[str, str]):
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()
        self.cookies = cookies

    def environ(self, url: str) -> dict:
        path, _, query = url.partition("?")
        return {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SCRIPT_NAME": "",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "testserver",
            "HTTP_COOKIE": self.cookies["minimal" if path.startswith("/minimal/") else "project"],
            "HTTP_ACCEPT": "text/html",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }

    def get(self, url: str) -> tuple[str, bytes]:
        status = []
        result = self.handler(self.environ(url), lambda s, headers, exc_info=None: status.append(s))
        try:
            body = b"".join(result)
        finally:
            result.close()
        return status[0], body

    def batch(self, url: str, n: int) -> float:
        """CPU seconds per request over ``n`` requests."""
        clock, get = time.process_time, self.get
        total = 0.0
        for _ in range(n):
            started = clock()
            get(url)
            total += clock() - started
        return total / n


def count_round_trips(server: Server, url: str) -> tuple[int, int]:
    """SQL statements and Redis commands of one request."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from redis.client import Redis

    commands = [0]
    original = Redis.execute_command

    def counting(self, *args, **options):
        commands[0] += 1
        return original(self, *args, **options)

    Redis.execute_command = counting
    try:
        with CaptureQueriesContext(connection) as ctx:
            server.get(url)
    finally:
        Redis.execute_command = original
    return len(ctx.captured_queries), commands[0]


def setup(orders: int) -> tuple[Server, dict]:
    production_environment()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils.module_loading import import_string

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    settings.ROOT_URLCONF = "bench.minimal_pages"
    # the minimal pages' session signs in through Django's own backend (a plain user query)
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, PLAIN_BACKEND]
    data = build_data(orders)
    cookies = {}
    for side, backend in (("project", settings.AUTHENTICATION_BACKENDS[0]), ("minimal", PLAIN_BACKEND)):
        store = import_string(settings.SESSION_ENGINE + ".SessionStore")()
        user = data["user"]
        store["_auth_user_id"] = str(user.pk)
        store["_auth_user_backend"] = backend
        store["_auth_user_hash"] = user.get_session_auth_hash()
        store.create()
        cookies[side] = f"{settings.SESSION_COOKIE_NAME}={store.session_key}"
    server = Server(cookies)
    return server, data


def pad_minimal_pages(server: Server, data: dict, pages) -> dict:
    from bench import minimal_pages

    sizes = {}
    for page in pages:
        project, minimal = data[page]
        status, body = server.get(project)
        assert status.startswith("200"), (page, status, body[:300])
        _, bare = server.get(minimal)
        if page not in ("healthz", "status"):
            minimal_pages.pad(page, len(body) - len(bare))
        _, padded = server.get(minimal)
        sizes[page] = (len(body), len(padded))
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200, help="requests per batch (default 200)")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated: " + ",".join(PAGES))
    parser.add_argument("--orders", type=int, default=30, help="orders of the customer (default 30)")
    parser.add_argument("--profile", choices=PAGES, help="cProfile one project page instead of measuring")
    parser.add_argument("--minimal", action="store_true", help="with --profile: profile the minimal page")
    args = parser.parse_args()
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]

    server, data = setup(args.orders)
    sizes = pad_minimal_pages(server, data, pages if not args.profile else [args.profile])
    for page in pages:
        for url in data[page]:
            for _ in range(30):  # warm up: prepared statements, cached templates
                server.get(url)

    if args.profile:
        import cProfile
        import pstats

        url = data[args.profile][1 if args.minimal else 0]
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(300):
            server.get(url)
        profiler.disable()
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(int(os.environ.get("PROFILE_LINES", "60")))
        stats.sort_stats("tottime").print_stats(30)
        if os.environ.get("PROFILE_CALLEES"):
            stats.print_callees(os.environ["PROFILE_CALLEES"])
        return 0

    results: dict[str, dict[str, list[float]]] = {page: {"project": [], "minimal": []} for page in pages}
    for round_ in range(args.batches):
        for page in pages:
            order = ("project", "minimal") if round_ % 2 == 0 else ("minimal", "project")
            for side in order:
                url = data[page][0 if side == "project" else 1]
                results[page][side].append(server.batch(url, args.requests))

    print(
        f"CPU per request, median of {args.batches} batches of {args.requests} requests, interleaved "
        f"({os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}, Redis {os.environ['REDIS_URL']})"
    )
    print(
        f"{'page':<24} {'project ms':>10} {'minimal ms':>10} {'ratio':>6} {'bytes':>13} {'SQL':>6} {'Redis':>6}  batches (project | minimal)"
    )
    for page in pages:
        project = statistics.median(results[page]["project"]) * 1000
        minimal = statistics.median(results[page]["minimal"]) * 1000
        q_project, r_project = count_round_trips(server, data[page][0])
        q_minimal, r_minimal = count_round_trips(server, data[page][1])
        spread = " ".join(f"{v * 1000:.2f}" for v in results[page]["project"])
        spread += " | " + " ".join(f"{v * 1000:.2f}" for v in results[page]["minimal"])
        print(
            f"{LABELS[page]:<24} {project:>10.2f} {minimal:>10.2f} {project / minimal:>5.2f}x "
            f"{sizes[page][0]:>6}/{sizes[page][1]:<6} {q_project:>2}/{q_minimal:<3} {r_project:>2}/{r_minimal:<3}  {spread}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
