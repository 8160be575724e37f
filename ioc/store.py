"""Redis connections: one place decides URL, decoding and timeouts for every process."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from ioc.cluster import Client
from ioc.datadir import secure_data_folder
from ioc.embedded import ensure_embedded
from ioc.settings import Settings

# Short timeouts: a wall display must show "stale" within seconds of losing Redis, not hang a worker.
SOCKET_TIMEOUT_S = 5.0
CONNECT_TIMEOUT_S = 2.0


def _retry() -> Retry:
    # Two quick retries ride over a blip; more would keep a wall callback waiting instead of showing "stale".
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)


def connect_url(url: str, *, socket_timeout: float = SOCKET_TIMEOUT_S, cluster: bool = False) -> Client:
    """A client for a redis://, rediss:// or unix:// URL, decoding replies to str; with `cluster`, a cluster client
    (redis.cluster.RedisCluster) that learns the cluster's nodes from the one in the URL, with the same decoding,
    timeouts and retry policy (its nodes' own connections do not retry: the cluster client retries, finding the
    slot's node again first).

    Bytes that are not UTF-8 (any producer can write them) are kept as lone surrogates instead of raising inside
    the reply parser, which would stop whoever reads them; code taking text from producers checks it
    (ioc.events.entry_problem) and writes it back escaped."""
    if cluster:
        try:
            return RedisCluster.from_url(
                url,
                decode_responses=True,
                encoding_errors="surrogateescape",
                socket_timeout=socket_timeout,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                retry=_retry(),
            )
        except RedisClusterException as exc:  # no node answered: reported like any unreachable Redis
            raise redis.ConnectionError(str(exc)) from exc
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        encoding_errors="surrogateescape",
        socket_timeout=socket_timeout,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        health_check_interval=15,
        retry=_retry(),
    )


def redis_url(settings: Settings) -> str:
    """The URL to use: the configured server, or the embedded one in the data folder (started if needed)."""
    if settings.redis_url is not None:
        return settings.redis_url
    return ensure_embedded(secure_data_folder(settings.data_dir) / "redis").url


def connect(settings: Settings, *, socket_timeout: float = SOCKET_TIMEOUT_S) -> Client:
    """A client for the configured Redis (a cluster client with IOC_REDIS_CLUSTER), falling back to the embedded
    one."""
    return connect_url(redis_url(settings), socket_timeout=socket_timeout, cluster=settings.redis_cluster)
