"""Seen objects in Redis, shared by every ingest replica and surviving restarts."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from aquaflow_ingest.errors import DedupeUnavailable


class RedisSeenObjects:
    """``SET <prefix><id> 1 NX EX <ttl>``: the key's expiry bounds memory in Redis."""

    def __init__(self, url: str, *, key_prefix: str, ttl_seconds: int, timeout_seconds: float = 5.0) -> None:
        self._url = url
        self._prefix = key_prefix
        self._ttl = ttl_seconds
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

    async def contains(self, object_id: str) -> bool:
        try:
            return bool(await self._client().exists(self._prefix + object_id))
        except (RedisError, OSError) as error:
            raise DedupeUnavailable(f"Redis cannot be read: {type(error).__name__}: {error}") from error

    async def add(self, object_id: str) -> bool:
        try:
            created = await self._client().set(self._prefix + object_id, "1", nx=True, ex=self._ttl)
        except (RedisError, OSError) as error:
            raise DedupeUnavailable(f"Redis cannot be written: {type(error).__name__}: {error}") from error
        return bool(created)

    def _client(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("RedisSeenObjects used before open()")
        return self._redis
