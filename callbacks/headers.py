"""Security headers on every response of the web app: a strict Content-Security-Policy (scripts only from this site
or the page's own inline scripts by hash, no framing), nosniff, no referrer, and no caching of pages or data.

- Framing is refused (`frame-ancestors 'none'` and X-Frame-Options: DENY): no other page, same site or not, can
  show the incidents or admin pages under its own buttons (clickjacking).
- Scripts: 'self' and the SHA-256 of each inline script the page carries (Dash's renderer start, the shell's
  watchdog, state tables and access watch, and any inline clientside callback), computed once at the app's first
  response, when every callback is registered. No 'unsafe-eval', no 'unsafe-inline' for scripts.
- Styles: 'self' and 'unsafe-inline': Dash's components and Plotly set styles in the page at run time. Styles
  cannot run code; scripts are what the policy holds tight.
- Images: this site, data: and blob: URIs (Leaflet and Plotly draw with them), and the map tile server of
  IOC_TILE_URL if one is set (the setting of the resources attached to the app, read at each response).
- Caching: pages and every Dash response (city data, a new display token's secret) are `no-store`; only the static
  files under /assets/ and Dash's versioned component bundles may be cached.
  The map's geometry files (callbacks/wall/geometry.py: guarded, their address versioned by their content) may be
  kept by the browser only (`private`), as they say.
- Referrer-Policy: no-referrer, since a wall screen's first address carries its display token.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

import dash
from flask import Flask, Response, request

from callbacks import resources_of
from callbacks.auth.gate import GEOMETRY_PREFIX
from layouts import shell

STATIC_PREFIXES: Final = ("/assets/", "/_dash-component-suites/")


def _private_file(path: str, response: Response) -> bool:
    """A geometry file of the map that says how it may be kept (private, by the browser only)."""
    kept = response.headers.get("Cache-Control", "")
    return path.startswith(GEOMETRY_PREFIX) and response.status_code in (200, 304) and kept.startswith("private")


HASHES_NOTE: Final = "ioc.csp-hashes"  # the app's inline script hashes in server.extensions, made at its first response


def script_hash(body: str) -> str:
    """A CSP source matching an inline script with this body."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


def tile_source(tile_url: str) -> str | None:
    """The CSP source of a Leaflet tile URL template ("https://{s}.tile.example/{z}/{x}/{y}.png" gives
    "https://*.tile.example"), or None when no tile server is used."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    host = parts.netloc
    if host.startswith("{s}."):
        host = "*." + host[4:]
    if "{" in host or "}" in host:
        return f"{parts.scheme}:"
    return f"{parts.scheme}://{host}"


def content_security_policy(script_hashes: Iterable[str], tile_url: str) -> str:
    """The policy for these inline script hashes and tile server."""
    images = ["'self'", "data:", "blob:"]
    tiles = tile_source(tile_url)
    if tiles is not None:
        images.append(tiles)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *sorted(set(script_hashes))],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": images,
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


@functools.lru_cache(maxsize=16)
def _policy(script_hashes: tuple[str, ...], tile_url: str) -> str:
    """content_security_policy, made once per script hashes and tile server."""
    return content_security_policy(script_hashes, tile_url)


def install(app: dash.Dash) -> None:
    """Add the headers to every response of this app's server."""
    server: Flask = app.server

    def policy() -> str:
        hashes = server.extensions.get(HASHES_NOTE)
        if not isinstance(hashes, tuple):
            made = (*app.csp_hashes(), *(script_hash(body) for body in shell.inline_scripts()))
            hashes = server.extensions[HASHES_NOTE] = tuple(sorted(set(made)))
        return _policy(hashes, resources_of(server).settings.tile_url)

    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy())
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        if not request.path.startswith(STATIC_PREFIXES) and not _private_file(request.path, response):
            headers["Cache-Control"] = "no-store"
            headers.pop("Expires", None)
        return response

    server.after_request(add_headers)
