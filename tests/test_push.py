"""The wall's push stream under `ioc web` (gunicorn, gthread): guarded by the session, rung by a data change, cut when
its display token is revoked, bounded per worker; and the process's bell on its own (ioc.push)."""

from __future__ import annotations

import http.client
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from callbacks.wall.push import RECHECK_S
from ioc.db import open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.tokens import revoke_display_token
from ioc.keys import Keys
from ioc.push import StampWatch, StreamSlots
from ioc.settings import Settings
from ioc.store import connect_url
from tests.conftest import wipe_namespace
from tests.sessions import ACTOR, new_display_token
from tests.webserver import WebServer, server_env

PUSH_PATH = "/push/wall"
STREAMS = 2


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
