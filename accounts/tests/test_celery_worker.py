"""A real Celery worker on this machine's Redis (SPEC §12): a cancel that
commits asks the provider for its refund exactly once, after the commit; a
cancel that rolls back enqueues nothing. Skipped, with the reason, when no
Redis answers."""

import logging
import os
import threading
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.db import transaction
from django.utils import timezone

from accounts.models import Payment
from accounts.providers import sandbox
from car_rental_system.celery import app
from car_rental_system.request_context import RequestContextFilter
from rentals.models import Rental
from rentals.services import cancel_rental
from rentals.tests.factories import book, pay


def _broker_url() -> str:
    """Redis db 7 for a plain run; one database per pytest-xdist worker and
    pass (SQLite pass gw0 → 8, gw1 → 9, …, up to 11; PostgreSQL pass 12, 13,
    14), so two test processes, even of the two passes `make test` runs at
    once, never flush or consume each other's jobs."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    on_postgres = os.environ.get("DATABASE_URL", "").startswith("postgres")
    if worker.startswith("gw") and worker[2:].isdigit():
        db = 12 + int(worker[2:]) % 3 if on_postgres else 8 + int(worker[2:]) % 4
    else:
        db = 7
    return os.environ.get("TEST_CELERY_BROKER_URL", f"redis://127.0.0.1:6379/{db}")


BROKER_URL = _broker_url()


def _forget_broker_connections() -> None:
    """Drop the app's cached connection and producer pools, so the next job
    goes to the broker_url now configured (not one cached by an earlier test)."""
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def _redis():
    import redis

    client = redis.Redis.from_url(BROKER_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"needs Redis at {BROKER_URL} for a real Celery worker ({exc.__class__.__name__}); CI has one")
    return client


@pytest.fixture
def broker(settings):
    client = _redis()
    client.flushdb()
    settings.CELERY_BROKER_URL = BROKER_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    old = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=BROKER_URL, task_always_eager=False)
    _forget_broker_connections()
    yield client
    app.conf.update(old)
    _forget_broker_connections()
    client.flushdb()


class Done:
    def __init__(self):
        self.event = threading.Event()
        self.runs = []

    def __call__(self, sender=None, task_id=None, args=None, retval=None, **kwargs):
        self.runs.append((sender.name, tuple(args or ()), retval))
        self.event.set()


@pytest.mark.django_db(transaction=True)
def test_a_committed_cancel_asks_the_provider_once_and_a_rolled_back_one_enqueues_nothing(broker, customer, vehicle):
    start = timezone.now() + timedelta(days=1)
    rental = book(customer, vehicle, start, start + timedelta(days=3))
    pay(rental, "2900.00")
    done = Done()
    task_postrun.connect(done, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            # rolled back: no refund row, nothing on the broker
            with pytest.raises(RuntimeError):
                with transaction.atomic():
                    cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
                    assert Payment.objects.filter(transaction_type="REFUND").count() == 1
                    assert broker.llen("celery") == 0  # nothing is sent before the commit
                    raise RuntimeError("the flow failed after the refund was written")
            assert not Payment.objects.filter(transaction_type="REFUND").exists()
            assert broker.llen("celery") == 0
            assert Rental.objects.get(pk=rental.pk).status == Rental.Status.PENDING

            # committed: one job, one provider request, after the commit
            cancel_rental(rental=rental, reason="Plans changed", by_user=customer.user)
            assert done.event.wait(timeout=60), "the worker ran no job"
    finally:
        task_postrun.disconnect(done)

    refund = Payment.objects.get(transaction_type="REFUND")
    assert done.runs == [("accounts.tasks.send_refund", (refund.pk,), Payment.Status.REFUNDED)]
    assert sandbox.book_entry("refund", refund.transaction_id)["requests"] == 1
    assert refund.status == Payment.Status.REFUNDED
    rental.refresh_from_db()
    assert rental.settlement_status == Rental.SettlementStatus.SETTLED


class JobLines(logging.Handler):
    """The job log lines as the console handler would write them (with the
    request id its filter adds)."""

    def __init__(self):
        super().__init__()
        self.addFilter(RequestContextFilter())
        self.records = []
        self.event = threading.Event()

    def emit(self, record):
        self.records.append(record)
        self.event.set()

    def wait_for(self, prefix: str, timeout: float) -> bool:
        """Wait until a line starting with ``prefix`` has been logged."""
        deadline = time.monotonic() + timeout
        while not any(record.getMessage().startswith(prefix) for record in self.records):
            if time.monotonic() > deadline:
                return False
            self.event.wait(0.1)
            self.event.clear()
        return True


# The page's session and the worker thread share SQLite's in-memory test
# database badly ("table is locked"); the PostgreSQL pass runs it.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_enqueued_by_a_request_logs_the_requests_id(broker, client, customer, vehicle):
    start = timezone.now() + timedelta(days=1)
    rental = book(customer, vehicle, start, start + timedelta(days=3))
    pay(rental, "2900.00")
    client.force_login(customer.user)
    lines = JobLines()
    job_logger = logging.getLogger("car_rental_system.jobs")
    job_logger.addHandler(lines)
    # the test worker turns the root logger down to errors; keep the job lines
    level = job_logger.level
    job_logger.setLevel(logging.INFO)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
            response = client.post(
                f"/rentals/{rental.pk}/cancel/", {"reason": "Plans changed"}, headers={"X-Request-ID": "req-cancel-77"}
            )
            assert response.status_code == 302
            assert response["X-Request-ID"] == "req-cancel-77"
            assert lines.wait_for("job accounts.tasks.send_refund(", timeout=60), "the worker ran no refund job"
    finally:
        job_logger.removeHandler(lines)
        job_logger.setLevel(level)

    [line] = [record for record in lines.records if record.getMessage().startswith("job accounts.tasks.send_refund(")]
    assert line.request_id == "req-cancel-77"
    # so does every other job that request enqueued (the page's status refresh)
    assert {record.request_id for record in lines.records} == {"req-cancel-77"}
