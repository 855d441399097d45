"""One run at a time for the periodic jobs and their commands (SPEC §12): the
second run exits 0 saying another run holds the lock. On PostgreSQL the lock is
an advisory lock, so two runs with two database sessions really overlap here."""

import importlib
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import translation

from car_rental_system.joblock import single_run

# command, the module it runs in, the work function it calls there
COMMANDS = [
    ("expire_payments", "accounts.management.commands.expire_payments", "expire_stale_payments"),
    ("update_expired_rentals", "rentals.management.commands.update_expired_rentals", "advance_statuses"),
    ("update_historical_orders", "rentals.management.commands.update_historical_orders", "update_historical_orders"),
    ("sync_payments", "accounts.management.commands.sync_payments", "sync_payments"),
]


def _run(name) -> str:
    out = StringIO()
    with translation.override("en"):
        call_command(name, stdout=out)
    return out.getvalue()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name,module,work", COMMANDS)
def test_two_runs_at_once_one_works_the_other_says_the_lock_is_held(name, module, work, monkeypatch):
    command_module = importlib.import_module(module)
    real_work = getattr(command_module, work)
    working, second_done = threading.Event(), threading.Event()
    calls = []

    def slow_work(*args, **kwargs):
        # The first run holds the lock until the second one has come and gone.
        calls.append(threading.current_thread().name)
        working.set()
        assert second_done.wait(timeout=30)
        return real_work(*args, **kwargs)

    monkeypatch.setattr(command_module, work, slow_work)
    results = {}

    def first():
        try:
            results["first"] = _run(name)
        finally:
            working.set()
            connection.close()

    thread = threading.Thread(target=first, name="first")
    thread.start()
    assert working.wait(timeout=30)
    try:
        second = _run(name)  # exits normally: call_command raises on a non-zero exit
    finally:
        second_done.set()
        thread.join(timeout=60)

    assert not thread.is_alive()
    assert f"Another run of {name} holds the lock" in second
    assert calls == ["first"]
    assert "holds the lock" not in results["first"]
    # the lock is free again afterwards
    assert "holds the lock" not in _run(name)


@pytest.mark.django_db
def test_the_cache_lock_elsewhere_lets_one_run_in(settings):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL uses the advisory lock (tested above)")
    with single_run("sync_payments") as first:
        assert first is True
        with single_run("sync_payments") as second:
            assert second is False
        assert "Another run of sync_payments holds the lock" in _run("sync_payments")
    with single_run("sync_payments") as again:
        assert again is True


@pytest.mark.django_db
def test_the_periodic_tasks_run_their_job_and_skip_while_another_run_holds_it():
    from accounts import tasks as payment_tasks
    from rentals import tasks as rental_tasks

    assert payment_tasks.expire_payments() == 0
    assert payment_tasks.sync_payments() == 0
    assert rental_tasks.update_expired_rentals() == {"lapsed": 0, "to_ongoing": 0, "to_overdue": 0}
    assert rental_tasks.update_historical_orders() == 0
    if connection.vendor == "postgresql":
        return  # the advisory lock is per session: the overlap is tested with two sessions above
    with single_run("sync_payments"):
        assert payment_tasks.sync_payments() is None
    with single_run("update_historical_orders"):
        assert rental_tasks.update_historical_orders() is None
