"""Identity changes announced to the web processes, and the principals those keep meanwhile.

Every committed change of an account or a display token (created, disabled or enabled, role or password changed, a
password rehashed at login, revoked) bumps the identity version in Redis (`Keys.identity_version`). A web process
keeps the principals it checked in a small `ioc.caches.VersionedCache`, each under the version read before its SQL
query: a request whose version is still that one, and whose entry is younger than `MAX_AGE_S`, needs no SQL query.
A bump ends every entry at the next request; the max age bounds what a lost bump can cost (a revoked token or a
disabled account is refused within `MAX_AGE_S`, under 10 s); without a version (Redis not answering) nothing is
taken from the cache.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Final

import redis

from ioc.cluster import Client
from ioc.db import Database
from ioc.embedded import EmbeddedRedis
from ioc.keys import Keys
from ioc.store import connect_url

log = logging.getLogger(__name__)

MAX_AGE_S: Final = 5.0  # a change whose bump was lost is seen after this long at most
CACHE_SIZE: Final = 4096  # principals kept per process (a screen or a person each), oldest used dropped first
ANNOUNCE_TIMEOUT_S: Final = 2.0

_clients: weakref.WeakKeyDictionary[Database, Client] = weakref.WeakKeyDictionary()
_clients_lock = threading.Lock()


def identity_changed(db: Database) -> None:
    """Bump the identity version after a committed change made through `db`; Redis errors are logged, never raised
    (the change stands, and the web's max age bounds how long it goes unseen)."""
    settings = db.settings
    if settings is None:
        return  # a Database made by hand (not open_database): no Redis known to announce in
    try:
        client = _client(db)
        if client is not None:
            client.incr(Keys(settings.namespace).identity_version())
    except (redis.RedisError, OSError) as exc:
        log.warning(
            "cannot announce an identity change in Redis (%s): web processes see it within %.0f s", exc, MAX_AGE_S
        )


def _client(db: Database) -> Client | None:
    """A Redis client for the settings `db` was opened with (kept with it), or None when they name no Redis and no
    embedded one runs in their data folder (then no web process serves from it either)."""
    settings = db.settings
    assert settings is not None
    with _clients_lock:
        client = _clients.get(db)
        if client is not None:
            return client
        url = settings.redis_url
        if url is None:
            embedded = EmbeddedRedis(settings.data_dir / "redis")
            if not embedded.is_answering():
                return None
            url = embedded.url
        client = connect_url(url, socket_timeout=ANNOUNCE_TIMEOUT_S, cluster=settings.redis_cluster)
        _clients[db] = client
        return client


def read_identity_version(client: Client, keys: Keys) -> str | None:
    """The identity version now ("0" before the first change), or None when Redis does not answer."""
    try:
        value = client.get(keys.identity_version())
    except (redis.RedisError, OSError):
        return None
    return "0" if value is None else str(value)
