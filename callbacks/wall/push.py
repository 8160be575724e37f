"""The wall's push stream, `/push/wall`: server-sent events telling a screen that the city's data changed, so it asks
its tick at once instead of at its next poll. Only a bell: no city data ever travels on it (the tick, guarded as
always, sends what changed).

Guarded like the tick: the gate answers 401 without a session; a principal that may not view the wall gets 403. On
an open stream the session's principal is checked again every RECHECK_S (the process's kept principals make that a
Redis round trip), so a revoked display token or a disabled account loses its stream within seconds. Each stream
holds one web thread; a worker holds at most IOC_PUSH_STREAMS (then 503: the screen goes on polling).
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from flask import Blueprint, Response, request, session, stream_with_context

from callbacks import resources
from callbacks.auth import sessions
from callbacks.auth.gate import PUSH_PREFIX
from callbacks.auth.guards import refusal
from callbacks.auth.principal import load_principal, principal
from ioc.identity.roles import Permission
from ioc.metrics import PUSH_STREAMS_OPEN
from ioc.push import StampWatch, StreamSlots
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
    """This process's bell (one data-version reader) and its bounded stream slots."""

    watch: StampWatch
    slots: StreamSlots


def wall_push() -> WallPush:
    """The bell kept with the resources attached (other resources, in tests and benchmarks, start afresh)."""
    res = resources()
    kept = res.notes.get(PUSH_NOTE)
    if kept is None:
        client, keys = res.redis, res.keys

        def read() -> str | None:
            stamp = read_data_stamp(client, keys)
            return None if stamp is None else stamp.version

        made = WallPush(
            StampWatch(read, interval_s=res.settings.push_check_ms / 1000),
            StreamSlots(res.settings.push_streams, on_change=PUSH_STREAMS_OPEN.inc),
        )
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
    bell = wall_push()
    if not bell.slots.take():
        busy = Response("push is full here: poll\n", status=503, mimetype="text/plain")
        busy.headers["Retry-After"] = str(BUSY_RETRY_AFTER_S)
        return busy
    principal_id = session.get(sessions.PRINCIPAL_KEY)
    peer = request.environ.get("gunicorn.socket")  # to notice a screen that hung up before the next write
    events = stream_with_context(
        _events(
            bell.watch,
            principal_id if isinstance(principal_id, str) else "",
            peer if isinstance(peer, socket.socket) else None,
        )
    )
    response = Response(events, mimetype="text/event-stream")
    response.headers["X-Accel-Buffering"] = "no"  # nginx passes each event on at once
    response.call_on_close(bell.slots.give_back)
    return response


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


def _events(watch: StampWatch, principal_id: str, peer: socket.socket | None) -> Iterator[str]:
    """The stream: a "change" event per new data version, a heartbeat comment, the principal (and whether the screen
    is still there) checked again every RECHECK_S."""
    seen = watch.listen()
    try:
        yield f"retry: {RETRY_MS}\n: open\n\n"
        now = time.monotonic()
        recheck_at, beat_at = now + RECHECK_S, now + HEARTBEAT_S
        while True:
            rings = watch.wait(seen, min(recheck_at, beat_at) - time.monotonic())
            if rings != seen:
                seen = rings
                yield f"event: change\ndata: {rings}\n\n"
            now = time.monotonic()
            if now >= recheck_at:
                if _hung_up(peer):
                    return
                if not _still_allowed(principal_id):
                    yield "event: end\ndata: session\n\n"
                    return
                recheck_at = now + RECHECK_S
            if now >= beat_at:
                yield ": beat\n\n"
                beat_at = now + HEARTBEAT_S
    finally:
        watch.leave()
