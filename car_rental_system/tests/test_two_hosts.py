"""Two web hosts at once (SPEC §15): two gunicorn instances on two ports share
one PostgreSQL database; bookings of one car, a payment and cancels are split
across both, at the same moment. One booking wins and every stored figure
equals the ledger."""

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Payment
from accounts.tests.assertions import assert_ledger_consistent
from customers.tests.factories import CustomerFactory
from rentals.models import Rental
from vehicles.tests.factories import VehicleFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Two-hosts-2026"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    user = urllib.parse.quote(db["USER"] or "")
    password = f":{urllib.parse.quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def two_hosts():
    """Two gunicorn servers on the test database, configured as in production
    (car_rental_system/gunicorn.conf.py: two gthread workers each, persistent
    database connections)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "REDIS_URL")}
    env.update(DATABASE_URL=_database_url(), LOG_LEVEL="WARNING", PAYMENT_SANDBOX_ENABLED="true")
    hosts, processes = [], []
    for _ in range(2):
        port = _free_port()
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "car_rental_system/gunicorn.conf.py",
                    "car_rental_system.wsgi",
                ],
                cwd=ROOT,
                env={**env, "PORT": str(port), "WEB_CONCURRENCY": "2", "GUNICORN_TIMEOUT": "60", "CONN_MAX_AGE": "600"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        hosts.append(f"http://127.0.0.1:{port}")
    try:
        for host in hosts:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{host}/healthz", timeout=5).read()
                    break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        yield hosts
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A person's browser: cookies (shared across both hosts: one session in
    the database), CSRF tokens from the form pages, no automatic redirects."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def _csrf(self) -> str:
        return next(cookie.value for cookie in self.jar if cookie.name == "csrftoken")

    def get(self, url: str) -> tuple[int, str, str]:
        return self._open(urllib.request.Request(url))

    def post(self, url: str, data: dict) -> tuple[int, str, str]:
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": self._csrf()}).encode()
        return self._open(urllib.request.Request(url, data=body, headers={"Referer": url}))

    def _open(self, request) -> tuple[int, str, str]:
        request.add_header("Accept-Language", "en")
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, response.headers.get("Location", ""), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()

    def login(self, host: str, username: str) -> None:
        self.get(f"{host}/accounts/login/")
        status, location, _body = self.post(f"{host}/accounts/login/", {"username": username, "password": PASSWORD})
        assert status == 302, (status, location)
        # the session now lives in the database: the other host knows it too


def _at_once(calls):
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait(timeout=30)
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return results


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def test_two_hosts_book_pay_and_cancel_one_car_exactly_once(two_hosts, settings):
    # the servers check passwords with the production hasher
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    host_a, host_b = two_hosts
    car = VehicleFactory(daily_rate=Decimal("300.00"), deposit_amount=Decimal("2000.00"))
    customers = []
    for n in range(6):
        customer = CustomerFactory()
        customer.user.username = f"driver{n}"
        customer.user.set_password(PASSWORD)
        customer.user.save()
        customers.append(customer)
    browsers = []
    for n, customer in enumerate(customers):
        browser = Browser()
        browser.login(two_hosts[n % 2], customer.user.username)
        browsers.append(browser)
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=2)
    period = {
        "start_time": _local(start),
        "end_time": _local(start + timedelta(days=3)),
        "pickup_location": car.location_id,
        "return_location": car.location_id,
    }
    for n, browser in enumerate(browsers):
        browser.get(f"{two_hosts[n % 2]}/rentals/new/{car.pk}/")

    # six customers book the same car for the same days, half on each host
    answers = _at_once(
        [lambda b=b, n=n: b.post(f"{two_hosts[n % 2]}/rentals/new/{car.pk}/", period) for n, b in enumerate(browsers)]
    )

    assert sorted(status for status, _location, _body in answers) == [200] * 5 + [302]
    winner = next(n for n, (status, _l, _b) in enumerate(answers) if status == 302)
    assert all("already booked" in body for status, _l, body in answers if status == 200)
    rental = Rental.objects.get(vehicle=car)
    assert rental.customer == customers[winner]
    owner = browsers[winner]

    # the owner pays on one host and finishes the sandbox checkout on the other
    status, _location, _body = owner.get(f"{host_b}/accounts/orders/{rental.pk}/pay/")
    assert status == 200
    status, checkout, _body = owner.post(
        f"{host_b}/accounts/orders/{rental.pk}/pay/", {"payment_method": "WECHAT", "expected_amount": "2900.00"}
    )
    assert status == 302 and "/payments/sandbox/" in checkout, (status, checkout)
    checkout_url = host_a + urllib.parse.urlparse(checkout).path
    owner.get(checkout_url)
    status, _location, _body = owner.post(checkout_url, {"outcome": "succeeded"})
    assert status == 302
    rental.refresh_from_db()
    assert rental.amount_paid == Decimal("2900.00")

    # two cancels of the paid order at once, one on each host
    cancel = f"/rentals/{rental.pk}/cancel/"
    owner.get(host_a + cancel)
    answers = _at_once([lambda h=h: owner.post(h + cancel, {"reason": "Plans changed"}) for h in two_hosts])

    assert all(status in (200, 302) for status, _l, _b in answers), answers
    rental.refresh_from_db()
    assert rental.status == Rental.Status.CANCELLED
    refunds = Payment.objects.filter(rental=rental, transaction_type=Payment.TransactionType.REFUND)
    assert [(r.amount, r.payment_method) for r in refunds] == [(Decimal("2900.00"), "WECHAT")]
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED
    assert_ledger_consistent(rental)
    assert re.fullmatch(r"PAY\w+", Payment.objects.get(rental=rental, transaction_type="CHARGE").transaction_id)
