"""Claims in Redis, shared by every ingest replica and surviving restarts.

``SET <prefix><id> leased NX EX <lease>`` is the atomic claim; the key's expiry
bounds memory in Redis and lets a dead holder's lease lapse.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from aquaflow_ingest.errors import DedupeUnavailable

_LEASED = "leased"
_KEPT = "kept"
# Drops the key only while it is a lease: a kept claim must survive a late release.
_RELEASE_LEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RedisClaims:
    def __init__(
        self, url: str, *, key_prefix: str, ttl_seconds: int, lease_seconds: int, timeout_seconds: float = 5.0
    ) -> None:
        self._url = url
        self._prefix = key_prefix
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._timeout = timeout_seconds
        self._redis: Redis | None = None

    async def open(self) -> None:
        self._redis = Redis.from_url(
            self._url, socket_timeout=self._timeout, socket_connect_timeout=self._timeout, decode_responses=True
        )

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> bool:
        try:
            return bool(await self._client().ping())
        except (RedisError, OSError):
            return False

    async def claim(self, identity: str) -> bool:
        try:
            created = await self._client().set(self._prefix + identity, _LEASED, nx=True, ex=self._lease)
        except (RedisError, OSError) as error:
            raise DedupeUnavailable(f"Redis cannot be written: {type(error).__name__}: {error}") from error
        return bool(created)

    async def keep(self, identity: str) -> None:
        try:
            await self._client().set(self._prefix + identity, _KEPT, ex=self._ttl)
        except (RedisError, OSError) as error:
            raise DedupeUnavailable(f"Redis cannot be written: {type(error).__name__}: {error}") from error

    async def release(self, identity: str) -> None:
        try:
            await self._client().eval(_RELEASE_LEASE, 1, self._prefix + identity, _LEASED)  # type: ignore[misc]
        except (RedisError, OSError) as error:
            # The lease lapses by itself; a retry then claims again.
            raise DedupeUnavailable(f"Redis cannot be written: {type(error).__name__}: {error}") from error

    async def is_kept(self, identity: str) -> bool:
        try:
            return await self._client().get(self._prefix + identity) == _KEPT
        except (RedisError, OSError) as error:
            raise DedupeUnavailable(f"Redis cannot be read: {type(error).__name__}: {error}") from error

    def _client(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisClaims used before open()")
        return self._redis
