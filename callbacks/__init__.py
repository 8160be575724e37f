"""Page callbacks, one package per page, and the per-process resources they share.

The resources (settings, city, key names, session key, trusted proxies, Redis client, database) are opened by the app
factory (app_factory.create_app) from the settings it is given, and held in one place: the app's Flask server
(`server.extensions`). Callbacks, page layout functions and the server's own hooks (sessions, proxies, headers) reach
them with `resources()` while they serve a request: no setting is copied into the app or its server when it is
built, so the resources attached are the settings in force. They are read-only handles, not state: each gunicorn
worker builds its one app once, and no callback changes them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import cached_property

from flask import Flask, current_app

from ioc.city import City, cached_city
from ioc.cluster import Client
from ioc.db import Database, open_database
from ioc.i18n import Lang, normalize_lang
from ioc.keys import Keys
from ioc.secret_key import secret_key
from ioc.settings import Settings
from ioc.store import connect

EXTENSION = "ioc"  # the key of the resources in the Flask server's `extensions`


@dataclass(frozen=True)
class Resources:
    """What every callback of one app needs: its settings, the city, the namespace's key names, the key signing its
    cookies, the reverse proxies it believes, a Redis client and the database."""

    settings: Settings
    city: City = field(repr=False)
    keys: Keys
    secret_key: bytes = field(repr=False)
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    # What the callbacks note about these resources while serving (say, that the database stopped answering, so it
    # is logged once): kept with them, so other resources attached to the one app (tests, benchmarks) start afresh.
    notes: dict[str, object] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        """The resources of these settings: the city is loaded and the session key read (made the first time, in
        IOC_DATA_DIR, unless IOC_SECRET_KEY is set) now, so a bad city folder or key file fails at start."""
        return cls(
            settings=settings,
            city=cached_city(settings.city_dir),
            keys=Keys(settings.namespace),
            secret_key=secret_key(settings),
            trusted_proxies=settings.trusted_proxy_networks,
        )

    @cached_property
    def redis(self) -> Client:
        """The Redis client, opened at first use (redis-py pools connections inside it). Not at start: with no
        IOC_REDIS_URL it is the embedded Redis of the data folder, started if needed, and building the app (to
        serve its page, or in a test) must not start one."""
        return connect(self.settings)

    @cached_property
    def database(self) -> Database:
        """The database of accounts and records (opened, and checked, at first use)."""
        return open_database(self.settings)

    def close(self) -> None:
        """Close the Redis client and the database if they were opened (tests and benchmarks that attach resources of
        their own to the app)."""
        client = self.__dict__.pop("redis", None)
        if client is not None:
            client.close()
        database = self.__dict__.pop("database", None)
        if database is not None:
            database.close()


def attach(server: Flask, resources: Resources) -> None:
    """Give the app's server its resources: the factory does when it builds the app; tests and benchmarks attach
    others for a while (app_factory.serving)."""
    server.extensions[EXTENSION] = resources


def resources_of(server: Flask) -> Resources:
    """The resources attached to this server."""
    found = server.extensions.get(EXTENSION)
    if not isinstance(found, Resources):
        raise RuntimeError("this server has no IOC resources: build the app with app_factory.create_app(settings)")
    return found


def resources() -> Resources:
    """The resources of the app serving the current request (or app context)."""
    return resources_of(current_app)


def chosen_lang(value: object) -> Lang:
    """The language a page or callback was asked for, else the app's default (IOC_LANGUAGE)."""
    return normalize_lang(value, resources().settings.language)
