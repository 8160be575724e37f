"""Redis stream replies as they come: entries kept as Redis sent them (ids and flat field lists), for every consumer
of a stream. A client's own parser would merge a repeated field name into a dict; these keep it visible."""

from __future__ import annotations

from typing import Any

import redis

Fields = list[str]  # an entry's fields as read: [name, value, name, value, ...]
Entry = tuple[str, Fields | None]  # an entry id and its fields (None or empty: the entry was deleted)


def raw_client(client: redis.Redis) -> redis.Redis:
    """A client on the same connection pool whose stream replies are left as Redis sent them (entry ids and flat
    field lists), so a repeated field name is seen rather than merged into a dict."""
    raw = redis.Redis(connection_pool=client.connection_pool)
    for command in ("XREADGROUP", "XCLAIM"):
        raw.set_response_callback(command, lambda response, **_options: response)
    return raw


def entries_of(reply: Any) -> list[Entry]:
    """The entries of a one-stream XREADGROUP reply, each [id, flat fields] as parsed (not copied: read as pairs);
    a deleted entry has no fields."""
    if not reply:
        return []
    entries: list[Entry] = next(iter(reply.values())) if isinstance(reply, dict) else reply[0][1]  # RESP3, RESP2
    return entries


def as_dict(fields: Fields | None) -> dict[str, str] | None:
    """An entry's fields as a dict (a repeated name keeps its last value, as redis-py's parser does), or None for a
    deleted entry."""
    if not fields:
        return None
    names = iter(fields)
    return dict(zip(names, names, strict=False))


def pairs(reply: dict[str, str] | list[str] | None) -> dict[str, str]:
    """A hash as HGETALL replies: a map (RESP3) or a flat list (RESP2)."""
    if isinstance(reply, dict):
        return reply
    items = iter(reply or ())
    return dict(zip(items, items, strict=False))


def drop(pool: redis.ConnectionPool, connection: Any) -> None:
    """Close a connection whose replies may be unread, and give it back to the pool."""
    if connection is not None:
        connection.disconnect()
        pool.release(connection)
