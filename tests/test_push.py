"""The wall's push stream under `ioc web` (gunicorn, gthread): guarded by the session, rung by a data change, cut when
its display token is revoked, bounded per worker, paced (a burst coalesced, a lone change at once), asking the screen
to reconnect at its age; a trainee's stream rung by its exercise's namespace (in process, both databases and both
Redis); and the process's bells on their own (ioc.push)."""

from __future__ import annotations

import contextlib
import http.client
import queue
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from benchmarks.browser import AppHttp, sign_in
from callbacks.wall.push import RECHECK_S
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.exercises.records import change_status, check_spec, start_exercise
from ioc.identity.roles import Role
from ioc.identity.tokens import revoke_display_token
from ioc.keys import Keys
from ioc.push import MAX_AGE_JITTER, RingPacer, StampWatch, StampWatches, StreamSlots, stream_lifetime_s
from ioc.settings import Settings
from ioc.store import connect_url
from tests.conftest import wipe_namespace
from tests.sessions import ACTOR, PASSWORD, new_account, new_display_token
from tests.test_exercises import base as base  # the fixture: the test's namespace, its exercises' keys removed
from tests.webserver import WebServer, server_env

PUSH_PATH = "/push/wall"
STREAMS = 2
MIN_INTERVAL_MS = 800  # the served app's pace: at most one ring per 0.8 s per stream
MAX_AGE_S = 10  # the served app's streams' age (the least the setting allows): reconnect after 7.5 to 12.5 s


@dataclass
class Pushing:
    """A served app with push on (STREAMS per worker), its namespace and data folder, and a display token."""

    server: WebServer
    keys: Keys
    data: Path
    token_name: str
    secret: str


@pytest.fixture(scope="module")
def served(embedded_redis: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebServer, Keys]]:
    """`ioc web` with one worker, push streams bounded to STREAMS, the data version read every 50 ms (one for the
    module: starting it is the slow part)."""
    keys = Keys(f"p{uuid.uuid4().hex[:10]}")
    folder = tmp_path_factory.mktemp("push")
    env = server_env(
        folder / "data",
        IOC_REDIS_URL=embedded_redis.url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_WORKERS="1",
        IOC_PUSH_STREAMS=str(STREAMS),
        IOC_PUSH_CHECK_MS="50",
        IOC_PUSH_MIN_INTERVAL_MS=str(MIN_INTERVAL_MS),
        IOC_PUSH_MAX_AGE_S=str(MAX_AGE_S),
    )
    server = WebServer(env, folder / "web.log")
    server.start()
    try:
        yield server, keys
    finally:
        server.stop()
        client = connect_url(embedded_redis.url)
        wipe_namespace(client, keys)
        client.close()


@pytest.fixture
def pushing(served: tuple[WebServer, Keys]) -> Pushing:
    """The served app and a display token of this test's own."""
    server, keys = served
    data = Path(server.env["IOC_DATA_DIR"])
    database = open_database(Settings(data_dir=data))
    try:
        token, secret = new_display_token(database)
    finally:
        database.close()
    return Pushing(server, keys, data, token.name, secret)


def display_cookie(port: int, secret: str) -> str:
    """The Cookie header of a wall screen signed in with its display token's link (on the web or nginx at `port`)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", f"/display?token={secret}")
        response = connection.getresponse()
        response.read()
        cookies = [value.split(";", 1)[0] for name, value in response.getheaders() if name.lower() == "set-cookie"]
    finally:
        connection.close()
    assert cookies, "the display link set no session cookie"
    return "; ".join(cookies)


class Stream:
    """An open push stream read line by line on a plain socket (the test's own client)."""

    def __init__(self, port: int, cookie: str | None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        headers = f"GET {PUSH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if cookie:
            headers += f"Cookie: {cookie}\r\n"
        self.sock.sendall((headers + "\r\n").encode())
        self.file = self.sock.makefile("rb")
        self.status = int(self.file.readline().split()[1])
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().decode().strip()) != "":
            name, _, value = line.partition(":")
            self.headers[name.lower()] = value.strip()

    def events(self, timeout_s: float) -> Iterator[str]:
        """Each event name (or "" for a comment or other line) until the stream ends (an "end" event, or closed) or
        `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                line = self.file.readline()
            except TimeoutError:
                return
            if not line:
                yield "<closed>"
                return
            text = line.decode().strip()
            name = text.removeprefix("event: ") if text.startswith("event: ") else ""
            yield name
            if name == "end":
                return

    def timed_events(self, timeout_s: float) -> Iterator[tuple[str, float]]:
        """Each event's name with when it was read (monotonic), until the stream ends or `timeout_s` passes."""
        for name in self.events(timeout_s):
            if name:
                yield name, time.monotonic()

    def body(self) -> bytes:
        """What is left of a plain (non-stream) answer."""
        self.sock.settimeout(5)
        length = int(self.headers.get("content-length", "0"))
        return self.file.read(length)

    def close(self) -> None:
        """Hang up."""
        self.file.close()
        self.sock.close()


def bump_version(redis_url: str, keys: Keys) -> None:
    """A new state version of the traffic domain, as every aggregator commit makes in its script."""
    client = connect_url(redis_url)
    try:
        client.hincrby(keys.stats("traffic"), "version", 1)
    finally:
        client.close()


def test_no_session_gets_401_and_no_stream(pushing: Pushing) -> None:
    stream = Stream(pushing.server.port, cookie=None)
    try:
        assert stream.status == 401
        assert "event-stream" not in stream.headers.get("content-type", "")
        assert b"login required" in stream.body()
    finally:
        stream.close()


def test_a_display_screen_is_rung_when_the_data_changes(pushing: Pushing, embedded_redis: EmbeddedRedis) -> None:
    stream = Stream(pushing.server.port, display_cookie(pushing.server.port, pushing.secret))
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers.get("x-accel-buffering") == "no"
        time.sleep(0.3)  # the process's reader has read the version once
        bump_version(embedded_redis.url, pushing.keys)
        started = time.monotonic()
        assert "change" in stream.events(timeout_s=5)
        assert time.monotonic() - started < 2
    finally:
        stream.close()


def test_a_revoked_display_token_loses_its_stream_within_10_s(pushing: Pushing) -> None:
    stream = Stream(pushing.server.port, display_cookie(pushing.server.port, pushing.secret))
    try:
        assert stream.status == 200
        database = open_database(Settings(data_dir=pushing.data))
        try:
            revoke_display_token(database, pushing.token_name, actor=ACTOR)
        finally:
            database.close()
        revoked = time.monotonic()
        seen = list(stream.events(timeout_s=12))
        assert "end" in seen or "<closed>" in seen, seen
        assert time.monotonic() - revoked < 10
    finally:
        stream.close()
    again = Stream(pushing.server.port, display_cookie_or_none(pushing))
    try:
        assert again.status == 401
    finally:
        again.close()


def display_cookie_or_none(pushing: Pushing) -> str | None:
    """The revoked token's link sets no session (None then)."""
    try:
        return display_cookie(pushing.server.port, pushing.secret)
    except AssertionError:
        return None


def test_a_full_worker_refuses_more_streams_and_the_rest_of_the_site_answers(pushing: Pushing) -> None:
    cookie = display_cookie(pushing.server.port, pushing.secret)
    streams: list[Stream] = []
    # A stream whose client hung up (earlier tests') gives its slot back at its next check.
    deadline = time.monotonic() + RECHECK_S + 5
    while len(streams) < STREAMS:
        stream = Stream(pushing.server.port, cookie)
        if stream.status == 200:
            streams.append(stream)
            continue
        stream.close()
        assert stream.status == 503 and time.monotonic() < deadline, stream.status
        time.sleep(0.5)
    try:
        busy = Stream(pushing.server.port, cookie)
        try:
            assert busy.status == 503
            assert busy.headers.get("retry-after")
        finally:
            busy.close()
        connection = http.client.HTTPConnection("127.0.0.1", pushing.server.port, timeout=5)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        for stream in streams:
            stream.close()


def test_the_bell_rings_each_change_once_while_someone_listens() -> None:
    version = ["a"]
    reads: list[float] = []

    def read() -> str | None:
        reads.append(time.monotonic())
        return version[0]

    watch = StampWatch(read, interval_s=0.01)
    seen = watch.listen()
    time.sleep(0.05)
    assert watch.wait(seen, 0.05) == seen  # no change, no ring
    version[0] = "b"
    rung = watch.wait(seen, 2)
    assert rung == seen + 1
    assert watch.wait(rung, 0.05) == rung
    watch.leave()
    assert watch.listeners == 0


def test_stream_slots_are_bounded_and_counted() -> None:
    counted: list[int] = []
    slots = StreamSlots(2, on_change=counted.append)
    assert slots.take() and slots.take() and not slots.take()
    slots.give_back()
    assert slots.open == 1 and slots.take()
    assert sum(counted) == 2


def open_stream(pushing: Pushing) -> Stream:
    """A display screen's open stream, once a slot is free (streams an earlier test hung up give theirs back at their
    next check, within RECHECK_S)."""
    cookie = display_cookie(pushing.server.port, pushing.secret)
    deadline = time.monotonic() + RECHECK_S + 5
    while True:
        stream = Stream(pushing.server.port, cookie)
        if stream.status != 503 or time.monotonic() > deadline:
            return stream
        stream.close()
        time.sleep(0.5)


def test_a_burst_of_changes_rings_at_the_pace_and_its_last_change_is_not_lost(
    pushing: Pushing, embedded_redis: EmbeddedRedis
) -> None:
    stream = open_stream(pushing)
    try:
        assert stream.status == 200
        time.sleep(0.3)  # the process's reader has read the version once
        client = connect_url(embedded_redis.url)
        lone = time.monotonic()
        client.hincrby(pushing.keys.stats("traffic"), "version", 1)
        first = next(stream.timed_events(timeout_s=5))
        assert first[0] == "change" and first[1] - lone < MIN_INTERVAL_MS / 1000, first[1] - lone  # at once
        ended: list[float] = []

        def burst() -> None:  # a change every 60 ms for 3 s: 50 versions
            started = time.monotonic()
            while time.monotonic() - started < 3.0:
                client.hincrby(pushing.keys.stats("traffic"), "version", 1)
                time.sleep(0.06)
            ended.append(time.monotonic())

        bumping = threading.Thread(target=burst)
        bumping.start()
        rings = [at for name, at in stream.timed_events(timeout_s=5.0) if name == "change"]
        bumping.join()
        client.close()
        last_change = ended[0]
        assert 3 <= len(rings) <= 3.0 / (MIN_INTERVAL_MS / 1000) + 2, rings
        assert all(b - a >= MIN_INTERVAL_MS / 1000 - 0.05 for a, b in zip([first[1], *rings], rings, strict=False))
        assert rings[-1] >= last_change - 0.1  # the burst's last change rang (coalesced), none left unsaid
    finally:
        stream.close()


def test_a_stream_asks_its_screen_to_reconnect_at_its_age(pushing: Pushing) -> None:
    stream = open_stream(pushing)
    try:
        assert stream.status == 200
        opened = time.monotonic()
        for name, at in stream.timed_events(timeout_s=MAX_AGE_S * (1 + MAX_AGE_JITTER) + RECHECK_S + 2):
            if name == "reconnect":
                assert MAX_AGE_S * (1 - MAX_AGE_JITTER) - 0.5 <= at - opened <= MAX_AGE_S * (1 + MAX_AGE_JITTER) + 1
                break
        else:
            raise AssertionError("no reconnect event")
    finally:
        stream.close()
    again = open_stream(pushing)
    try:
        assert again.status == 200  # the screen's new stream is taken
    finally:
        again.close()


def test_a_pacer_sends_a_lone_ring_at_once_and_holds_one_that_comes_too_soon() -> None:
    pacer = RingPacer(0.5)
    assert pacer.hold_s(100.0) == 0.0
    pacer.sent(100.0)
    assert pacer.hold_s(100.2) == pytest.approx(0.3)
    assert pacer.hold_s(100.5) == 0.0 and pacer.hold_s(107.0) == 0.0
    assert RingPacer(0.0).hold_s(1.0) == 0.0


def test_stream_lifetimes_spread_around_the_maximum_age() -> None:
    rng = random.Random(3)
    lives = [stream_lifetime_s(1200.0, rng) for _ in range(500)]
    assert all(1200 * (1 - MAX_AGE_JITTER) <= life <= 1200 * (1 + MAX_AGE_JITTER) for life in lives)
    assert max(lives) - min(lives) > 1200 * MAX_AGE_JITTER  # spread, not one instant for every screen


def test_bells_per_namespace_are_kept_and_idle_ones_make_room() -> None:
    made: list[str] = []

    def make(namespace: str) -> StampWatch:
        made.append(namespace)
        return StampWatch(lambda: None, interval_s=0.05)

    watches = StampWatches(make, size=2)
    live = watches.of("live")
    assert watches.of("live") is live and made == ["live"]
    live.listen()
    watches.of("ex1")
    watches.of("ex2")  # full: ex1 (nobody listens) makes room; live, listened to, stays
    assert sorted(watches.namespaces) == ["ex2", "live"]
    live.leave()


@pytest.fixture
def trainee_app(db: Database, db_settings: Settings, redis_url: str, base: str, make_app: Any) -> Any:
    """The app in the test's namespace on the database and Redis under test, the version read every 20 ms, unpaced."""
    return make_app(
        database_url=db_settings.database_url,
        redis_url=redis_url,
        namespace=base,
        push_check_ms=20,
        push_min_interval_ms=0,
    )


def test_a_trainees_stream_rings_for_the_exercise_not_live_and_moves_when_it_stops(
    trainee_app: Any, db: Database, r: redis.Redis, base: str
) -> None:
    trainee = new_account(db, Role.OPERATOR)
    spec = check_spec(name="push drill", scenario="rush-hour-crash", seed=7, speed=60.0, trainees=(trainee.id,))
    exercise = start_exercise(db, r, spec, actor="cli:trainer", base=base)
    http = AppHttp(trainee_app)
    sign_in(http, trainee.username, PASSWORD)
    chunks: queue.Queue[bytes] = queue.Queue()

    def read() -> None:
        """Ask for the stream and read it in one thread, as a web thread serves it (the request's context is this
        thread's)."""
        response = http.client.get(PUSH_PATH, buffered=False)
        chunks.put(f"HTTP {response.status_code}\n".encode())
        try:
            for chunk in response.response:
                chunks.put(chunk if isinstance(chunk, bytes) else chunk.encode())
        finally:
            response.close()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert chunks.get(timeout=10) == b"HTTP 200\n"
        assert b"open" in chunks.get(timeout=5)
        time.sleep(0.3)  # the bell has read the exercise's version once
        r.hincrby(Keys(base).stats("traffic"), "version", 1)  # live changes: not this screen's data
        with pytest.raises(queue.Empty):
            chunks.get(timeout=1.0)
        r.hincrby(Keys(exercise.namespace(base)).stats("traffic"), "version", 1)
        assert b"event: change" in chunks.get(timeout=3)
        # The exercise stops: the trainee works live again, and its screen is told to reconnect (to live's bell).
        change_status(db, r, exercise.id, "stop", actor="cli:trainer", base=base)
        said = b""
        deadline = time.monotonic() + RECHECK_S + 5
        while b"event: reconnect" not in said and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                said += chunks.get(timeout=0.5)
        assert b"event: reconnect\ndata: workspace" in said, said
    finally:
        reader.join(timeout=RECHECK_S + 5)  # the stream ended with its "reconnect"
    assert not reader.is_alive()
