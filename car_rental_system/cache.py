"""Django's Redis cache with one Redis client per connection pool.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` object for every
cache call; each one sets up its table of response callbacks (a few hundred
dictionary entries), which a signed-in page pays two or three times (session,
status-refresh window, rate limits). A ``redis.Redis`` object is safe to share
between threads (each command borrows a connection from the pool, and the
pool starts afresh in a forked child), so one per pool serves every call.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        # _get_connection_pool_index, _get_connection_pool and _client are
        # RedisCacheClient's own (not in the type stubs).
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            # Two threads may both build one here; either is fine to keep.
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._clients.setdefault(index, self._client(connection_pool=pool))  # type: ignore[attr-defined]
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
