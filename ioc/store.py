"""Redis connections: one place decides URL, decoding and timeouts for every process."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from ioc.datadir import secure_data_folder
from ioc.embedded import ensure_embedded
from ioc.settings import Settings

# Short timeouts: a wall display must show "stale" within seconds of losing Redis, not hang a worker.
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0


def connect_url(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A client for a redis://, rediss:// or unix:// URL, decoding replies to str.

    Bytes that are not UTF-8 (any producer can write them) are kept as lone surrogates instead of raising inside
    the reply parser, which would stop whoever reads them; code taking text from producers checks it
    (ioc.events.entry_problem) and writes it back escaped."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        encoding_errors="surrogateescape",
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=15,
        # Two quick retries ride over a blip; more would keep a wall callback waiting instead of showing "stale".
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
    )


def redis_url(settings: Settings) -> str:
    """The URL to use: the configured server, or the embedded one in the data folder (started if needed)."""
    if settings.redis_url is not None:
        return settings.redis_url
    return ensure_embedded(secure_data_folder(settings.data_dir) / "redis").url


def connect(settings: Settings, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> redis.Redis:
    """A client for the configured Redis, falling back to the embedded one."""
    return connect_url(redis_url(settings), socket_timeout=socket_timeout)
