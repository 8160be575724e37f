"""The wall's push stream, `/push/wall`: server-sent events telling a screen that the city's data changed, so it asks
its tick at once instead of at its next poll. Only a bell: no city data ever travels on it (the tick, guarded as
always, sends what changed).

Guarded like the tick: the gate answers 401 without a session; a principal that may not view the wall gets 403. On
an open stream the session's principal is checked again every RECHECK_S (the process's kept principals make that a
Redis round trip), so a revoked display token or a disabled account loses its stream within seconds. Each stream
holds one web thread; a worker holds at most IOC_PUSH_STREAMS (then 503: the screen goes on polling).

A stream watches the namespace its screen's tick reads (`callbacks.auth.workspace`: live, or a trainee's exercise),
rings at most once per IOC_PUSH_MIN_INTERVAL_MS (a lone change at once, a burst coalesced), and after about
IOC_PUSH_MAX_AGE_S tells the screen to reconnect at once ("reconnect"), so screens spread back over the workers after
one restarted; so does a trainee whose workspace changed (an exercise started or ended).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from flask import Blueprint, Response, request, session, stream_with_context

from callbacks import resources
from callbacks.auth import sessions
from callbacks.auth.gate import PUSH_PREFIX
from callbacks.auth.guards import refusal
from callbacks.auth.principal import load_principal, principal, workspace
from ioc.errors import DatabaseError
from ioc.exercises.workspace import workspace_of
from ioc.identity.roles import Permission
from ioc.keys import Keys
from ioc.metrics import PUSH_STREAMS_OPEN
from ioc.push import RingPacer, StampWatch, StampWatches, StreamSlots, stream_lifetime_s
from ioc.snapshot import read_data_stamp

PUSH_PATH: Final = PUSH_PREFIX + "wall"
PUSH_NOTE: Final = "ioc.wall.push"  # the resources' note holding this process's WallPush
RECHECK_S: Final = 3.0  # an open stream's principal is checked again this often (revoked: cut within 10 s)
HEARTBEAT_S: Final = 15.0  # a comment line this often: proxies keep the stream, a gone client is noticed
RETRY_MS: Final = 2_000  # the browser's own reconnect delay after a dropped stream
BUSY_RETRY_AFTER_S: Final = 30

push = Blueprint("push", __name__)


@dataclass(frozen=True)
class WallPush:
    """This process's bells (one data-version reader per watched namespace) and its bounded stream slots."""

    watches: StampWatches
    slots: StreamSlots


def wall_push() -> WallPush:
    """The bells kept with the resources attached (other resources, in tests and benchmarks, start afresh)."""
    res = resources()
    kept = res.notes.get(PUSH_NOTE)
    if kept is None:
        client, interval_s = res.redis, res.settings.push_check_ms / 1000

        def watch(namespace: str) -> StampWatch:
            keys = Keys(namespace)

            def read() -> str | None:
                stamp = read_data_stamp(client, keys)
                return None if stamp is None else stamp.version

            return StampWatch(read, interval_s=interval_s)

        made = WallPush(StampWatches(watch), StreamSlots(res.settings.push_streams, on_change=PUSH_STREAMS_OPEN.inc))
        kept = res.notes.setdefault(PUSH_NOTE, made)  # two threads at once: both use the one kept
    assert isinstance(kept, WallPush)
    return kept


@push.get(PUSH_PATH)
def wall_stream() -> Response:
    """An event stream of "change" events for a screen that may view the wall (see the module's note)."""
    who = principal(Permission.VIEW_WALL)
    if who is None:
        return refusal(401)
    if not who.may(Permission.VIEW_WALL):
        return refusal(403)
    try:
        namespace = workspace().namespace  # a trainee's exercise, else live: what the screen's tick reads
    except DatabaseError:
        namespace = resources().keys.namespace  # only a bell: the tick, which reads the right namespace, follows it
    bell = wall_push()
    if not bell.slots.take():
        busy = Response("push is full here: poll\n", status=503, mimetype="text/plain")
        busy.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        return busy
    principal_id = session.get(sessions.PRINCIPAL_KEY)
    peer = request.environ.get("gunicorn.socket")  # to notice a screen that hung up before the next write
    settings = resources().settings
    moved = _workspace_moved(namespace) if who.kind == "account" else None
    events = stream_with_context(
        _events(
            bell.watches.of(namespace),
            principal_id if isinstance(principal_id, str) else "",
            peer if isinstance(peer, socket.socket) else None,
            pacer=RingPacer(settings.push_min_interval_ms / 1000),
            lifetime_s=stream_lifetime_s(settings.push_max_age_s),
            moved=moved,
        )
    )
    response = Response(events, mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # nginx passes each event on at once
    response.call_on_close(bell.slots.give_back)
    return response


def _workspace_moved(namespace: str) -> Callable[[str], bool]:
    """For a person's stream: whether the account now works elsewhere than `namespace` (an exercise it trains in
    started or ended), asked at each re-check (no SQL unless an exercise is running or paused)."""
    res = resources()

    def moved(principal_id: str) -> bool:
        who = load_principal(principal_id) if principal_id else None
        if who is None or who.kind != "account" or who.degraded:
            return False
        try:
            return workspace_of(res.database, res.redis, res.keys.namespace, who.ref).namespace != namespace
        except DatabaseError:
            return False  # asked again at the next re-check

    return moved


def _still_allowed(principal_id: str) -> bool:
    """Whether the stream's session still stands and may view the wall (checked inside the stream's request)."""
    who = load_principal(principal_id) if principal_id else None
    return who is not None and who.may(Permission.VIEW_WALL)


def _hung_up(peer: socket.socket | None) -> bool:
    """Whether the screen closed its connection (a write would notice only at the second attempt, up to two
    heartbeats later, holding the slot meanwhile): readable with nothing to read. Unknown (no socket): False."""
    if peer is None:
        return False
    try:
        readable, _, _ = select.select([peer], [], [], 0)
        return bool(readable) and peer.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except (OSError, ValueError):
        return True


def _events(
    watch: StampWatch,
    principal_id: str,
    peer: socket.socket | None,
    *,
    pacer: RingPacer,
    lifetime_s: float,
    moved: Callable[[str], bool] | None = None,
) -> Iterator[str]:
    """The stream: a "change" event per new data version (paced), a heartbeat comment, the principal (and whether
    the screen is still there, and for a person where it works) checked again every RECHECK_S; "reconnect" after
    `lifetime_s`."""
    seen = watch.listen()
    try:
        yield f"retry: {RETRY_MS}\n: open\n\n"
        now = time.monotonic()
        recheck_at, beat_at, end_at = now + RECHECK_S, now + HEARTBEAT_S, now + lifetime_s
        while True:
            rings = watch.wait(seen, min(recheck_at, beat_at, end_at) - time.monotonic())
            if rings != seen:
                hold = pacer.hold_s(time.monotonic())
                if hold > 0:
                    time.sleep(hold)  # this stream's own thread: the changes meanwhile go out as this one ring
                    rings = watch.rings
                seen = rings
                pacer.sent(time.monotonic())
                yield f"event: change\ndata: {rings}\n\n"
            now = time.monotonic()
            if now >= recheck_at:
                if _hung_up(peer):
                    return
                if not _still_allowed(principal_id):
                    yield "event: end\ndata: session\n\n"
                    return
                if moved is not None and moved(principal_id):
                    yield "event: reconnect\ndata: workspace\n\n"
                    return
                recheck_at = now + RECHECK_S
            if now >= end_at:
                yield "event: reconnect\ndata: age\n\n"
                return
            if now >= beat_at:
                yield ": beat\n\n"
                beat_at = now + HEARTBEAT_S
    finally:
        watch.leave()
