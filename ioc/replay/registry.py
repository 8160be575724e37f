"""The replays asked for, in Redis: each a namespace `<base>-rp<16 hex>` described by its `replay` hash (who opened
it, which namespace it replays, the moment asked for, play or pause and speed; the moment built, written by the
replay runner), listed in the base's replay home (`<base>-replays`, never a key of the base itself) scored by the last
time a screen showed it. At most `max_replays` are held: opening one more is refused until one is closed or left idle
`idle_s`; an idle one leaves the list and the runner removes its keys, which also expire by themselves."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Final, Literal

from ioc.cluster import Client
from ioc.keys import Keys

Status = Literal["building", "ready", "refused"]
SPEEDS: Final = (1, 10, 60, 600)  # playing speeds a screen may choose: history seconds per second
META_TTL_MARGIN_S: Final = 60

# KEYS[1] the list; ARGV: idle cutoff, most replays, now, the new namespace. 1 if added, 0 if the list is full.
_OPEN_LUA: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
return 1
"""


def home(base: str) -> Keys:
    """The key names of a base namespace's replay home (the list of its replays)."""
    return Keys(f"{base}-replays")


def replay_pattern(base: str) -> re.Pattern[str]:
    """What a replay namespace of this base looks like (anything else sent by a browser is not one)."""
    return re.compile(rf"^{re.escape(base)}-rp[0-9a-f]{{16}}$")


@dataclass(frozen=True)
class ReplayState:
    """A replay as described in Redis."""

    namespace: str
    owner: str  # the principal that opened it ("a:<account id>")
    source: str  # the namespace replayed (live, or an exercise's)
    asked_ms: int  # the moment asked for (epoch ms of the raw streams: when the wall showed it)
    seq: int  # bumped by each new moment asked for, so the runner knows a jump from its own playing
    playing: bool
    speed: int
    built_ms: int | None  # the moment the replay namespace holds now (None: not built yet)
    status: Status
    note: str  # why it was refused

    @property
    def keys(self) -> Keys:
        """The replay namespace's key names."""
        return Keys(self.namespace)


def open_replay(
    client: Client, base: str, *, owner: str, source: str, at_ms: int, max_replays: int, idle_s: float
) -> str | None:
    """A new replay of `source` at `at_ms` for `owner`; its namespace, or None when `max_replays` are held."""
    namespace = f"{base}-rp{secrets.token_hex(8)}"
    now = time.time()
    added = client.eval(_OPEN_LUA, 1, home(base).replays(), f"{now - idle_s:.3f}", max_replays, f"{now:.3f}", namespace)
    if not int(added):
        return None
    meta = Keys(namespace).replay()
    pipe = client.pipeline(transaction=False)
    pipe.hset(
        meta,
        mapping={
            "owner": owner,
            "source": source,
            "asked_ms": str(at_ms),
            "seq": "1",
            "playing": "0",
            "speed": "1",
            "status": "building",
            "note": "",
        },
    )
    pipe.expire(meta, int(idle_s + META_TTL_MARGIN_S))
    pipe.execute()
    return namespace


def read_replay(client: Client, namespace: str) -> ReplayState | None:
    """A replay's description, None when it is gone (closed, expired) or damaged."""
    raw = client.hgetall(Keys(namespace).replay())
    try:
        built = raw.get("built_ms")
        status = raw.get("status", "building")
        return ReplayState(
            namespace=namespace,
            owner=raw["owner"],
            source=raw["source"],
            asked_ms=int(raw["asked_ms"]),
            seq=int(raw["seq"]),
            playing=raw.get("playing") == "1",
            speed=int(raw.get("speed", "1")),
            built_ms=int(built) if built else None,
            status=status if status in ("building", "ready", "refused") else "building",
            note=raw.get("note", ""),
        )
    except (KeyError, ValueError):
        return None


def ask(
    client: Client, namespace: str, *, at_ms: int | None = None, playing: bool | None = None, speed: int | None = None
) -> None:
    """Ask a replay for another moment (a jump), to play or pause, or another speed (checked by the caller)."""
    meta = Keys(namespace).replay()
    pipe = client.pipeline(transaction=True)
    if at_ms is not None:
        pipe.hset(meta, mapping={"asked_ms": str(at_ms), "status": "building", "note": ""})
        pipe.hincrby(meta, "seq", 1)
    if playing is not None:
        pipe.hset(meta, "playing", "1" if playing else "0")
    if speed is not None:
        pipe.hset(meta, "speed", str(speed))
    pipe.execute()


def touch(client: Client, base: str, namespace: str, idle_s: float) -> None:
    """A screen shows the replay now: it stays listed, and its description lives on."""
    pipe = client.pipeline(transaction=False)
    pipe.zadd(home(base).replays(), {namespace: time.time()}, xx=True)
    pipe.expire(Keys(namespace).replay(), int(idle_s + META_TTL_MARGIN_S))
    pipe.execute()


def listed(client: Client, base: str, idle_s: float) -> list[str]:
    """The replays a screen showed within `idle_s`."""
    return [str(m) for m in client.zrangebyscore(home(base).replays(), time.time() - idle_s, "+inf")]


def close_replay(client: Client, base: str, namespace: str) -> None:
    """Leave a replay: off the list and its description gone; the runner removes the rest (and it all expires)."""
    client.zrem(home(base).replays(), namespace)
    client.delete(Keys(namespace).replay())


def record_built(client: Client, state: ReplayState, *, built_ms: int, playing: bool, seq: int) -> None:
    """The runner's word: the moment built and that the replay is ready (a pause when playing reached the present);
    written only if nobody asked for another moment meanwhile (`seq`)."""
    meta = Keys(state.namespace).replay()
    current = client.hget(meta, "seq")
    if current is None or int(current) != seq:
        return
    client.hset(meta, mapping={"built_ms": str(built_ms), "status": "ready", "playing": "1" if playing else "0"})


def record_refused(client: Client, state: ReplayState, note: str) -> None:
    """The runner's word: the moment asked for cannot be rebuilt (outside the history kept), and why."""
    client.hset(Keys(state.namespace).replay(), mapping={"status": "refused", "note": note, "playing": "0"})
