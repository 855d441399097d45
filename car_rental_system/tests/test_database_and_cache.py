"""Production database and cache settings: parameters bound on the server and
prepared statements on PostgreSQL (``PG_PREPARE_THRESHOLD``), and Django's
Redis cache with one Redis client per connection pool
(``car_rental_system.cache``)."""

import secrets
import threading

import pytest
from django.db import connection

from car_rental_system.cache import RedisCache
from car_rental_system.tests.test_production_profile import run_django
from vehicles.models import Location

SHOW_OPTIONS = (
    "django.setup(); from django.conf import settings; "
    "o = settings.DATABASES['default'].get('OPTIONS', {}); "
    "print(o.get('server_side_binding'), o.get('prepare_threshold'), settings.CACHES['default']['BACKEND'])"
)


@pytest.mark.parametrize(
    "env, expected",
    [
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/any", "REDIS_URL": "redis://127.0.0.1:6379/0"},
            ["True", "5", "car_rental_system.cache.RedisCache"],
        ),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/any", "PG_PREPARE_THRESHOLD": "off"},
            ["None", "None", "django.core.cache.backends.locmem.LocMemCache"],
        ),
        (
            {"DATABASE_URL": "sqlite:///unused.sqlite3"},
            ["None", "None", "django.core.cache.backends.locmem.LocMemCache"],
        ),
    ],
)
def test_postgres_binds_parameters_on_the_server_and_prepares_repeated_queries(env, expected):
    """Each case starts its own process: the settings are read at start-up."""
    result = run_django(SHOW_OPTIONS, **{"REDIS_URL": "", **env})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == expected


@pytest.mark.django_db
def test_a_query_repeated_on_one_connection_is_prepared_once(on_postgres):
    if not on_postgres:
        pytest.skip("prepared statements are PostgreSQL's; `make test` runs this in its PostgreSQL pass")
    probe = f"probe-{secrets.token_hex(4)}"

    def prepared() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ['%FROM "vehicles_location" WHERE ("vehicles_location"."city" = $1 AND%'],
            )
            return cursor.fetchone()[0]

    for _ in range(3):
        assert list(Location.objects.filter(city=probe, name__startswith="x")) == []
    assert prepared() == 0  # the first runs are planned each time
    for _ in range(5):
        assert list(Location.objects.filter(city=probe, name__startswith="x")) == []
    assert prepared() == 1  # then planned once and kept by this connection
    Location.objects.create(name="x-store", city=probe, address="1 Probe Road")
    assert [loc.name for loc in Location.objects.filter(city=probe, name__startswith="x")] == ["x-store"]


@pytest.fixture
def redis_cache():
    import redis

    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as exc:
        pytest.skip(f"needs Redis at {url} ({exc.__class__.__name__}); CI has one")
    backend = RedisCache(url, {"KEY_PREFIX": f"cache-test-{secrets.token_hex(4)}"})
    keys: list[str] = []
    yield backend, keys
    backend.delete_many(keys)


def test_every_cache_call_uses_the_one_client_of_its_pool(redis_cache):
    cache, keys = redis_cache
    keys += ["a", "n", "gone"]

    cache.set("a", {"amount": "2900.00"}, 30)
    assert cache.get("a") == {"amount": "2900.00"}
    assert cache.add("n", 1, 30) is True and cache.add("n", 5, 30) is False
    assert cache.incr("n") == 2
    cache.set("gone", 1, 30)
    assert cache.delete("gone") is True and cache.get("gone") is None

    client = cache._cache
    assert client.get_client() is client.get_client(write=True)
    assert len(client._clients) == 1


def test_threads_share_the_client_and_each_reads_its_own_values(redis_cache):
    cache, keys = redis_cache
    keys += [f"t{n}" for n in range(8)]
    errors: list[str] = []

    def work(n: int) -> None:
        for round_ in range(50):
            cache.set(f"t{n}", (n, round_), 30)
            if cache.get(f"t{n}") != (n, round_):
                errors.append(f"thread {n} round {round_}")

    cache.get("warm-up")  # the pool and its client exist before the threads start
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(cache._cache._clients) == 1
