"""`ioc deploy nginx` in front of a real `ioc web`: Debian's nginx runs the generated configuration (installed by
.ci/run like chromium), and the tests show what it is for: hundreds of slow clients leave normal requests fast, the
client's address reaches the web, JSON is compressed, Dash's bundles are cached, and while the web is down a kiosk
gets a page that retries by itself instead of a browser error."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.browser import UrlHttp, login_form, post_login, sign_in
from cli.deploy import STARTING_PAGE
from ioc.db import open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.ratelimit import subject
from ioc.identity.roles import Role
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from tests.conftest import wipe_namespace
from tests.sessions import PASSWORD, new_account, new_display_token
from tests.test_push import Stream, bump_version, display_cookie
from tests.webserver import IOC, WebServer, free_port, server_env

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SLOW_HEADERS = 200  # connections sending their request line and headers a line a second
SLOW_BODIES = 200  # connections sending a 100 KB body a byte a second
HELD_S = 6.0  # how long the slow connections are held while normal requests run

if not Path(NGINX).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("nginx is missing: .ci/run installs Debian's nginx for these tests")
    pytestmark = pytest.mark.skip(reason="Debian's nginx is not installed (apt-get install -y nginx)")


@dataclass
class Proxied:
    """`ioc web` behind nginx running the generated configuration."""

    web: WebServer
    nginx_url: str
    prefix: Path
    settings: Settings
    keys: Keys


def start_nginx(prefix: Path, port: int) -> subprocess.Popen[bytes]:
    """nginx in the foreground with the configuration under `prefix`, answering on `port`."""
    process = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=(prefix / "nginx.out").open("ab"),
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError as refused:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log = (prefix / "error.log").read_text(errors="replace")
                raise AssertionError(f"nginx did not start: {log}") from refused
            time.sleep(0.1)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory, embedded_redis: EmbeddedRedis) -> Iterator[Proxied]:
    """The web (2 workers, SQLite, its own namespace, trusting nginx on 127.0.0.1) with nginx in front."""
    root = tmp_path_factory.mktemp("nginx")
    prefix = root / "nginx"
    prefix.mkdir()
    redis_url = os.environ.get("IOC_TEST_REDIS_URL") or embedded_redis.url
    keys = Keys(f"n{uuid.uuid4().hex[:10]}")
    env = server_env(
        root / "data",
        IOC_REDIS_URL=redis_url,
        IOC_NAMESPACE=keys.namespace,
        IOC_WEB_WORKERS="2",
        IOC_TRUSTED_PROXIES="127.0.0.1",
    )
    web = WebServer(env, root / "web.log")
    nginx_port = free_port()
    generated = subprocess.run(
        [str(IOC), "deploy", "nginx", "--listen", f"127.0.0.1:{nginx_port}", "--standalone", str(prefix)],
        env={**env, "IOC_WEB_HOST": "127.0.0.1", "IOC_WEB_PORT": str(web.port)},
        capture_output=True,
        text=True,
        check=True,
    )
    (prefix / "nginx.conf").write_text(generated.stdout)
    checked = subprocess.run(
        [NGINX, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    web.start()
    nginx = start_nginx(prefix, nginx_port)
    client = connect_url(redis_url)
    try:
        yield Proxied(web, f"http://127.0.0.1:{nginx_port}", prefix, Settings(data_dir=root / "data"), keys)
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
        web.stop()
        wipe_namespace(client, keys)
        client.close()


def test_the_generated_configuration_names_the_web_and_warns_without_trusted_proxies(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data", IOC_WEB_HOST="0.0.0.0", IOC_WEB_PORT="8123")
    printed = subprocess.run(
        [str(IOC), "deploy", "nginx", "--server-name", "ioc.tamky.gov.vn"], env=env, capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    assert "server 127.0.0.1:8123 " in printed.stdout  # a wildcard bind is reached on loopback
    assert "server_name ioc.tamky.gov.vn;" in printed.stdout and "# listen 443 ssl;" in printed.stdout
    assert "IOC_TRUSTED_PROXIES is empty" in printed.stderr
    for bad in (["--listen", "80; evil"], ["--server-name", "a b;"], ["--upstream", "x:99999"]):
        refused = subprocess.run([str(IOC), "deploy", "nginx", *bad], env=env, capture_output=True, text=True)
        assert refused.returncode == 2 and "expected" in refused.stderr, (bad, refused.stderr)
        assert refused.stdout == ""


def test_the_site_answers_through_nginx_with_the_clients_address(proxied: Proxied) -> None:
    outside = UrlHttp(proxied.nginx_url, headers={"X-Forwarded-For": "203.0.113.9"})
    assert outside.request("GET", "/").status == 302  # to the login page, through nginx
    assert outside.request("GET", "/metrics").status == 404  # the metrics are the scraper's, not the public's
    reply = post_login(outside, "nobody", "not the password", csrf=login_form(outside))
    assert reply.status == 401, reply.status
    client = connect_url(proxied.web.env["IOC_REDIS_URL"])
    try:
        # nginx appended 127.0.0.1, which the web trusts, so it counted the attempt against the client's address.
        assert client.get(proxied.keys.login_failures_address(subject("203.0.113.9"))) == "1"
        assert client.get(proxied.keys.login_failures_address(subject("127.0.0.1"))) is None
    finally:
        client.close()


def test_json_is_compressed_and_bundles_are_cached(proxied: Proxied) -> None:
    database = open_database(proxied.settings)
    try:
        account = new_account(database, Role.OPERATOR)
    finally:
        database.close()
    http = UrlHttp(proxied.nginx_url)
    sign_in(http, account.username, PASSWORD)
    http.headers["Accept-Encoding"] = "gzip"
    layout = http.request("GET", "/_dash-dependencies")  # JSON longer than gzip_min_length
    assert layout.status == 200 and layout.headers.get("content-encoding") == "gzip", layout.headers
    page = http.request("GET", "/")
    assert page.status == 200
    html = gzip.decompress(page.body) if page.headers.get("content-encoding") == "gzip" else page.body
    bundle = next(
        part.split(b'"')[0].decode() for part in html.split(b'src="')[1:] if b"/_dash-component-suites/" in part
    )
    fetched = http.request("GET", bundle)
    assert fetched.status == 200 and "immutable" in fetched.headers["cache-control"], fetched.headers
    assert fetched.headers.get("x-content-type-options") == "nosniff"


def _slow_clients(address: tuple[str, int]) -> list[socket.socket]:
    """Connections that have begun a request and will take minutes to finish it."""
    opened: list[socket.socket] = []
    for number in range(SLOW_HEADERS + SLOW_BODIES):
        connection = socket.create_connection(address, timeout=5)
        if number < SLOW_HEADERS:
            connection.sendall(b"GET /login HTTP/1.1\r\nHost: ioc\r\n")
        else:
            connection.sendall(
                b"POST /_dash-update-component HTTP/1.1\r\nHost: ioc\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
        opened.append(connection)
    return opened


@pytest.mark.slow
def test_hundreds_of_slow_clients_leave_normal_requests_fast(proxied: Proxied) -> None:
    host, port = proxied.nginx_url.removeprefix("http://").split(":")
    slow = _slow_clients((host, int(port)))
    try:
        normal = UrlHttp(proxied.nginx_url, timeout=5)
        took: list[float] = []
        held_until = time.monotonic() + HELD_S
        while time.monotonic() < held_until:
            for number, connection in enumerate(slow):  # a header line or a byte each: nginx keeps waiting
                connection.sendall(b"X-Slow: 1\r\n" if number < SLOW_HEADERS else b" ")
            started = time.monotonic()
            assert normal.request("GET", "/login").status == 200  # within 5 s, or urllib raises
            took.append(time.monotonic() - started)
            time.sleep(0.2)
        still_open = sum(1 for connection in slow if _open(connection))
        assert still_open == len(slow), f"nginx closed {len(slow) - still_open} slow clients: the load was not held"
        print(f"{len(took)} normal requests beside {len(slow)} slow clients: slowest {max(took) * 1000:.0f} ms")
        assert len(took) >= 5
    finally:
        for connection in slow:
            connection.close()


def _open(connection: socket.socket) -> bool:
    """Whether the peer has not closed the connection (nothing to read, no EOF)."""
    connection.setblocking(False)
    try:
        return connection.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        connection.setblocking(True)


def test_while_the_web_is_down_nginx_serves_a_page_that_retries(proxied: Proxied) -> None:
    proxied.web.stop()
    try:
        kiosk = UrlHttp(proxied.nginx_url)
        down = kiosk.request("GET", "/?token=x")
        assert down.status == 503 and down.body == STARTING_PAGE.encode(), down.status
        assert down.headers["retry-after"] == "5" and "no-store" in down.headers["cache-control"]
        assert "http-equiv='refresh'" in down.text and "Màn hình đang khởi động" in down.text
        assert "The wall is starting" in down.text
        assert kiosk.request("POST", "/_dash-update-component", json_body={}).status == 503
    finally:
        proxied.web.start()
    assert UrlHttp(proxied.nginx_url).request("GET", "/login").status == 200  # and it comes back by itself


def test_push_streams_pass_through_nginx_unbuffered(proxied: Proxied) -> None:
    assert "location ^~ /push/" in (proxied.prefix / "nginx.conf").read_text()
    database = open_database(proxied.settings)
    try:
        _, secret = new_display_token(database)
    finally:
        database.close()
    port = int(proxied.nginx_url.rsplit(":", 1)[1])
    stream = Stream(port, display_cookie(port, secret))
    try:
        assert stream.status == 200, stream.headers
        time.sleep(0.5)  # the web's reader has read the version once
        bump_version(proxied.web.env["IOC_REDIS_URL"], proxied.keys)
        started = time.monotonic()
        assert "change" in stream.events(timeout_s=5)  # buffered, it would wait for the buffer to fill
        assert time.monotonic() - started < 2
    finally:
        stream.close()
