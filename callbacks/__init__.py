"""Page callbacks, one module per page, and the per-process resources they share (settings, Redis client, city).

The resources are cached read-only handles, not state: every gunicorn worker opens its own once and never
mutates them.
"""

from __future__ import annotations

from functools import cache

import redis

from ioc.city import City, cached_city
from ioc.keys import Keys
from ioc.settings import Settings, load_settings
from ioc.store import connect


@cache
def app_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return load_settings()


@cache
def redis_client() -> redis.Redis:
    """This process's Redis client (redis-py pools connections inside it)."""
    return connect(app_settings())


def app_keys() -> Keys:
    """Key names of the configured namespace."""
    return Keys(app_settings().namespace)


def app_city() -> City:
    """The configured city, loaded once per process."""
    return cached_city(app_settings().city_dir)


def reset_resources() -> None:
    """Forget the cached settings and client, so a changed environment takes effect (tests, reloads)."""
    client = redis_client() if redis_client.cache_info().currsize else None
    redis_client.cache_clear()
    app_settings.cache_clear()
    if client is not None:
        client.close()
