"""Who the client is behind reverse proxies: the address and scheme a request came from, believing the
X-Forwarded-For and X-Forwarded-Proto headers only when the peer that sent them is a trusted proxy
(IOC_TRUSTED_PROXIES).

Without this, behind nginx every client has the proxy's address: the login limit per address would count every
person's failures together, and the audit log would lose who acted from where. With it, anyone who reaches the web
directly (not through a trusted proxy) cannot forge an address by sending the headers: they are ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_HOPS: Final = 16  # more X-Forwarded-For entries than this are not read (a header made to be slow)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address from a header entry or a peer address, or None (a name, "unknown", garbage)."""
    cleaned = text.strip()
    if cleaned.startswith("[") and "]" in cleaned:  # "[2001:db8::1]:443"
        cleaned = cleaned[1 : cleaned.index("]")]
    elif cleaned.count(":") == 1:  # "192.0.2.1:5000"
        cleaned = cleaned.partition(":")[0]
    try:
        address = ipaddress.ip_address(cleaned)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped if mapped is not None else address


def is_trusted(peer: str | None, trusted: Iterable[Network]) -> bool:
    """Whether `peer` is one of the trusted proxies."""
    address = _address(peer or "")
    return address is not None and any(address in network for network in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str | None:
    """The client's address: the peer itself unless it is a trusted proxy; then the nearest X-Forwarded-For entry
    (read from the right) that is not a trusted proxy. A malformed entry stops the walk at the last good hop, so
    nothing a client writes in the header can be taken for its address past a proxy that vouches for it."""
    if not trusted or not is_trusted(peer, trusted) or not forwarded_for:
        return peer
    found = peer
    for entry in reversed(forwarded_for.split(",")[-MAX_HOPS:]):
        address = _address(entry)
        if address is None:
            break
        found = str(address)
        if not any(address in network for network in trusted):
            break
    return found


def client_scheme(peer: str | None, forwarded_proto: str | None, scheme: str, trusted: Sequence[Network]) -> str:
    """The scheme the client used: the nearest proxy's X-Forwarded-Proto when the peer is a trusted proxy."""
    if not forwarded_proto or not is_trusted(peer, trusted):
        return scheme
    nearest = forwarded_proto.split(",")[-1].strip().lower()
    return nearest if nearest in ("http", "https") else scheme


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR and the URL scheme as a trusted proxy in front reports them (the peer's own
    address is kept in the environ as `ioc.peer`); with no trusted proxies it changes nothing. `trusted` gives the
    trusted proxies at each request (the web app's are a setting of the resources attached to it)."""

    def __init__(self, app: Any, trusted: Callable[[], Sequence[Network]]) -> None:
        self.app = app
        self.trusted = trusted

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        """Rewrite the client's address and scheme, then call the wrapped app."""
        trusted = self.trusted()
        if trusted:
            peer = environ.get("REMOTE_ADDR")
            environ["ioc.peer"] = peer
            environ["REMOTE_ADDR"] = client_address(peer, environ.get("HTTP_X_FORWARDED_FOR"), trusted)
            proto = environ.get("HTTP_X_FORWARDED_PROTO")
            environ["wsgi.url_scheme"] = client_scheme(peer, proto, environ.get("wsgi.url_scheme", "http"), trusted)
        return self.app(environ, start_response)
