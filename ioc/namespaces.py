"""Which key namespaces the consumers work in: the base one (`live`, or IOC_NAMESPACE) and each active training
exercise's own, `ex<id>` (`<base>-ex<id>` under another base, so test namespaces never meet).

An exercise is active while it runs or is paused: its namespace is then in the base's `exercises` set (ioc/keys.py),
which the aggregator and the incident engine read at each check to add or drop its streams, and which the exercise
runner rebuilds from the exercises table (the truth) at each of its checks. Every process working in exercise
namespaces says which it held at each pass (`announce`), so a reset waits until none holds the namespace it is
about to wipe (`wait_released`) and nothing is written back into it afterwards.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Collection, Iterable
from typing import Final

import orjson
import redis

from ioc.keys import Keys

log = logging.getLogger(__name__)

LIVE: Final = "live"
STALE_MEMBER_S: Final = 15.0  # a member silent this long is taken for dead: it holds nothing any more
_EXERCISE: Final = re.compile(r"^(?:(?P<base>.+)-)?ex(?P<id>[1-9][0-9]{0,9})$")


def exercise_namespace(base: str, exercise_id: int) -> str:
    """The key namespace of an exercise of the base namespace: `ex<id>` for live, `<base>-ex<id>` otherwise."""
    return f"ex{exercise_id}" if base == LIVE else f"{base}-ex{exercise_id}"


def exercise_of(base: str, namespace: str) -> int | None:
    """The id of the exercise whose namespace this is under `base`, or None (the base itself, or anything else)."""
    match = _EXERCISE.match(namespace)
    if match is None or (match["base"] or LIVE) != base:
        return None
    return int(match["id"])


def active_namespaces(client: redis.Redis, base: str) -> set[str]:
    """The namespaces of the base's active exercises (running or paused), as the exercises set holds them."""
    members = client.smembers(Keys(base).exercises())
    return {str(m) for m in members if exercise_of(base, str(m)) is not None}


def followed(client: redis.Redis, base: str) -> set[str]:
    """The namespaces a consumer process follows: the base one and its active exercises'."""
    return {base} | active_namespaces(client, base)


def set_active(client: redis.Redis, base: str, namespaces: Collection[str]) -> None:
    """Make the exercises set hold exactly these namespaces (the runner's check, from the exercises table)."""
    key = Keys(base).exercises()
    pipe = client.pipeline(transaction=True)
    pipe.delete(key)
    if namespaces:
        pipe.sadd(key, *namespaces)
    pipe.execute()


def activate(client: redis.Redis, base: str, namespace: str) -> None:
    """Add an exercise's namespace to the set the consumers follow."""
    client.sadd(Keys(base).exercises(), namespace)


def deactivate(client: redis.Redis, base: str, namespace: str) -> None:
    """Take an exercise's namespace out of the set the consumers follow (they drop it at their next check)."""
    client.srem(Keys(base).exercises(), namespace)


def announce(client: redis.Redis, base: str, member: str, namespaces: Iterable[str]) -> None:
    """Say that `member` (a process, e.g. `aggregator:host`) works in these exercise namespaces as of now."""
    held = sorted(ns for ns in namespaces if ns != base)
    value = orjson.dumps({"at": time.time(), "namespaces": held}).decode()
    client.hset(Keys(base).namespace_users(), member, value)


def holders(client: redis.Redis, base: str, namespace: str, *, since: float) -> list[str]:
    """The members that may still work in `namespace`: those alive (heard within STALE_MEMBER_S) that held it at
    their last pass, or have not made a pass since `since` (they may be in the middle of one that holds it)."""
    now = time.time()
    found = []
    for member, raw in client.hgetall(Keys(base).namespace_users()).items():
        try:
            said = orjson.loads(raw)
            at, held = float(said["at"]), list(said["namespaces"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
        if now - at > STALE_MEMBER_S:
            continue
        if namespace in held or at <= since:
            found.append(str(member))
    return found


def wait_released(
    client: redis.Redis, base: str, namespace: str, *, since: float, timeout_s: float = STALE_MEMBER_S + 5
) -> list[str]:
    """Wait until no live member works in `namespace` any more (taken out of the set at `since`); the members
    still holding it when the timeout passed (empty when it was released)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = holders(client, base, namespace, since=since)
        if not left or time.monotonic() >= deadline:
            if left:
                log.warning("%s still worked in %s after %.0f s", ", ".join(left), namespace, timeout_s)
            return left
        time.sleep(0.1)


def wipe(client: redis.Redis, namespace: str) -> int:
    """Delete every key of a namespace (SCAN, then DEL in batches); how many went."""
    found = list(client.scan_iter(match=Keys(namespace).all_keys_pattern(), count=1000))
    for start in range(0, len(found), 500):
        client.delete(*found[start : start + 500])
    return len(found)
