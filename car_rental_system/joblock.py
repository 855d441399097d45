"""One run at a time for the periodic jobs and their commands (SPEC §12).

On PostgreSQL a session advisory lock (``pg_try_advisory_lock``), which the
server frees should the process die; elsewhere the cache's atomic ``add``
(expiring after ``CACHE_LOCK_SECONDS`` in case a run dies holding it). The
second run does not wait: it is told the lock is held and does nothing.
"""

import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps

from django.core.cache import cache
from django.db import connection
from django.utils.translation import gettext as _

CACHE_LOCK_SECONDS = 60 * 60


def _advisory_key(name: str) -> int:
    return zlib.crc32(f"car_rental.job.{name}".encode())


@contextmanager
def single_run(name: str) -> Iterator[bool]:
    """``with single_run("sync_payments") as acquired:`` — False when another run holds it."""
    if connection.vendor == "postgresql":
        key = _advisory_key(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    cache_key, token = f"job-lock:{name}", uuid.uuid4().hex
    acquired = cache.add(cache_key, token, CACHE_LOCK_SECONDS)
    try:
        yield acquired
    finally:
        if acquired and cache.get(cache_key) == token:
            cache.delete(cache_key)


def lock_held_message(name: str) -> str:
    return _("Another run of %(job)s holds the lock; this run did nothing.") % {"job": name}


def holds_run_lock(name: str):
    """Decorate a command's ``handle``: run it under ``single_run(name)``; when
    the lock is held, say so and exit 0."""

    def decorate(handle):
        @wraps(handle)
        def wrapper(self, *args, **options):
            with single_run(name) as acquired:
                if not acquired:
                    self.stdout.write(lock_held_message(name))
                    return None
                return handle(self, *args, **options)

        return wrapper

    return decorate
