"""The client's address behind trusted reverse proxies (ioc.proxies): believed only from a trusted peer, read from
the right, never past a hop that is not trusted; and the app's login and audit use it."""

from __future__ import annotations

import ipaddress
import re

from ioc.audit import entries
from ioc.proxies import client_address, client_scheme
from tests.sessions import app_database

PROXY = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    assert client_address("192.0.2.9", "203.0.113.1", PROXY) == "192.0.2.9"
    assert client_address("192.0.2.9", "203.0.113.1", ()) == "192.0.2.9"
    assert client_scheme("192.0.2.9", "https", "http", PROXY) == "http"


def test_the_nearest_untrusted_hop_is_the_client() -> None:
    assert client_address("10.0.0.2", "203.0.113.1", PROXY) == "203.0.113.1"
    # A client writes its own X-Forwarded-For; the proxy appends the address it saw: only that one is believed.
    assert client_address("10.0.0.2", "1.2.3.4, 203.0.113.1", PROXY) == "203.0.113.1"
    assert client_address("10.0.0.2", "203.0.113.1, 10.0.0.7", PROXY) == "203.0.113.1"  # two proxies in a row
    assert client_address("::1", "2001:db8::5", PROXY) == "2001:db8::5"
    assert client_address("::ffff:10.0.0.2", "[2001:db8::5]:443", PROXY) == "2001:db8::5"
    assert client_scheme("10.0.0.2", "http, https", "http", PROXY) == "https"
    assert client_scheme("10.0.0.2", "gopher", "http", PROXY) == "http"


def test_a_malformed_entry_stops_at_the_last_good_hop() -> None:
    assert client_address("10.0.0.2", "203.0.113.1, unknown", PROXY) == "10.0.0.2"
    assert client_address("10.0.0.2", "garbage, 10.0.0.3", PROXY) == "10.0.0.3"
    assert client_address("10.0.0.2", "", PROXY) == "10.0.0.2"
    assert client_address("10.0.0.2", "," * 10_000, PROXY) == "10.0.0.2"


def test_the_app_audits_the_forwarded_client_only_from_a_trusted_proxy(make_app) -> None:
    app = make_app(trusted_proxies="10.0.0.0/8")
    database = app_database(app)
    client = app.server.test_client()
    for peer, forwarded in (("10.1.2.3", "203.0.113.50"), ("192.0.2.9", "203.0.113.66")):
        form = client.get("/login", environ_base={"REMOTE_ADDR": peer}).get_data(as_text=True)
        found = re.search(r'name="csrf" value="([^"]*)"', form)  # the form's token (the session keeps its secret)
        assert found is not None
        csrf = found.group(1)
        reply = client.post(
            "/login",
            data={"csrf": csrf, "username": "nobody", "password": "x"},
            headers={"X-Forwarded-For": forwarded},
            environ_base={"REMOTE_ADDR": peer},
        )
        assert reply.status_code == 401
    addresses = [entry.address for entry in entries(database, action="login.failure")]
    assert addresses == ["192.0.2.9", "203.0.113.50"]  # newest first: the untrusted peer's forged header ignored
