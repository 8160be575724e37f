"""`ioc deploy nginx`: the reverse proxy's configuration for the current settings, printed, ready to install.

gunicorn alone is open to slow clients (a few connections that send their headers a byte at a time hold its
workers, and normal requests time out). nginx in front reads every request whole and buffers every reply before
gunicorn sees either, so slow clients cost nginx a connection each and gunicorn nothing. The configuration also
compresses JSON, lets browsers keep Dash's versioned bundles, forwards the client's address (which the web believes
from the addresses in IOC_TRUSTED_PROXIES), and answers with a small page that retries by itself while the web is
down or starting, so a kiosk never sits on a browser error page.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from ioc.errors import InvalidInput
from ioc.settings import Settings, load_settings

RETRY_AFTER_S: Final = 5
# Dash's bundles carry a fingerprint in their file name and the app's assets a ?m=<mtime> query: a changed file gets
# a new URL, so browsers may keep them. The assets' cache is shorter, as an unversioned asset (an image) may change.
BUNDLE_MAX_AGE_S: Final = 365 * 86_400
ASSET_MAX_AGE_S: Final = 7 * 86_400
_SERVER_NAME: Final = re.compile(r"^[A-Za-z0-9*_.-]{1,253}$")
_LISTEN: Final = re.compile(r"^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$")

# Shown by nginx (not the app) while the web does not answer: both languages, no script, a refresh that retries.
STARTING_PAGE: Final = (
    "<!doctype html><html lang='vi'><head><meta charset='utf-8'>"
    f"<meta http-equiv='refresh' content='{RETRY_AFTER_S}'>"
    "<meta name='viewport' content='width=device-width, initial-scale=1'>"
    "<title>IOC Tam Kỳ</title><style>"
    "html,body{height:100%;margin:0;background:#0b1220;color:#c9d4e5;font-family:system-ui,sans-serif}"
    "main{display:flex;flex-direction:column;align-items:center;justify-content:center;height:100%;gap:.6em}"
    "h1{font-size:1.6em;font-weight:500;margin:0}p{margin:0;color:#8a99b3}"
    "</style></head><body><main id='ioc-starting'>"
    "<h1>Màn hình đang khởi động</h1><p>Trang sẽ tự tải lại sau vài giây.</p>"
    "<h1 lang='en'>The wall is starting</h1><p lang='en'>This page reloads by itself in a few seconds.</p>"
    "</main></body></html>"
)


def _check_listen(text: str) -> str:
    """An nginx `listen` address: PORT, HOST:PORT or [IPv6]:PORT."""
    match = _LISTEN.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise InvalidInput(f"--listen {text!r}: expected PORT, ADDRESS:PORT or [IPv6]:PORT")
    return text


def _check_server_name(text: str) -> str:
    """A host name nginx matches (letters, digits, dots, dashes; a leading * for a wildcard)."""
    if _SERVER_NAME.match(text) is None:
        raise InvalidInput(f"--server-name {text!r}: expected a host name such as ioc.tamky.gov.vn")
    return text


def upstream_address(settings: Settings) -> str:
    """Where nginx reaches the web: IOC_WEB_HOST:IOC_WEB_PORT, with a wildcard bind replaced by loopback."""
    host = settings.web_host
    if host in ("0.0.0.0", "", "*"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a host name
    return f"{host}:{settings.web_port}"


def _starting_page_literal() -> str:
    """The starting page as an nginx string: double quotes and backslashes escaped, no variables inside."""
    if "$" in STARTING_PAGE:
        raise AssertionError("nginx would read $ in the starting page as a variable")
    return '"' + STARTING_PAGE.replace("\\", "\\\\").replace('"', '\\"') + '"'


def nginx_site(settings: Settings, *, listen: str = "80", server_name: str = "_", upstreams: Sequence[str] = ()) -> str:
    """The http-level configuration (an upstream and a server) for nginx's conf.d, for these settings."""
    servers = list(upstreams) or [upstream_address(settings)]
    upstream_lines = "\n".join(f"    server {address} max_fails=0;" for address in servers)
    proxy = "\n".join(
        [
            "        proxy_pass http://ioc_web;",
            "        proxy_http_version 1.1;",
            '        proxy_set_header Connection "";',
            "        proxy_set_header Host $host;",
            "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
            "        proxy_set_header X-Forwarded-Proto $scheme;",
        ]
    )
    trusted = settings.trusted_proxies or "(empty)"
    return f"""# nginx in front of the Tam Kỳ IOC web, written by `ioc deploy nginx` for the current IOC_* settings.
# Install as /etc/nginx/conf.d/ioc.conf (http level: an upstream and a server), then `nginx -t && nginx -s reload`.
# The web must believe this proxy's forwarded headers: IOC_TRUSTED_PROXIES lists the address nginx connects from
# (127.0.0.1 on the same host; it is now {trusted}). Keep the web on a loopback or private address: gunicorn alone
# is open to slow clients.

upstream ioc_web {{
{upstream_lines}
    keepalive 32;
}}

server {{
    listen {listen};
    server_name {server_name};

    # HTTPS: uncomment, fill in the certificate, drop the plain listen above (or redirect it), and set
    # IOC_COOKIE_SECURE=true for the web so the session cookie only travels encrypted.
    # listen 443 ssl;
    # http2 on;
    # ssl_certificate     /etc/ssl/certs/ioc.pem;
    # ssl_certificate_key /etc/ssl/private/ioc.key;
    # ssl_protocols TLSv1.2 TLSv1.3;
    # ssl_session_cache shared:ioc_tls:10m;
    # add_header Strict-Transport-Security "max-age=31536000" always;

    # Slow clients wait on nginx, never on gunicorn: a request reaches the web only once read whole, and a reply is
    # buffered here. No per-address connection limit: a wall of many screens may share one office address.
    client_header_timeout 10s;
    client_body_timeout 10s;
    send_timeout 30s;
    keepalive_timeout 30s;
    client_max_body_size 1m;
    large_client_header_buffers 4 16k;
    proxy_request_buffering on;
    proxy_buffering on;
    proxy_connect_timeout 5s;
    proxy_send_timeout 35s;
    proxy_read_timeout 35s;  # gunicorn gives a request 30 s

    # The wall's refreshes and Dash's bundles are JSON and JavaScript: compressed for every client, proxies included.
    gzip on;
    gzip_proxied any;
    gzip_vary on;
    gzip_comp_level 5;
    gzip_min_length 1024;
    gzip_types application/json application/javascript text/css text/plain image/svg+xml;

    # While the web does not answer (stopped, restarting, starting), nginx answers for it with a page that retries.
    # Only nginx's own 502/503/504 are replaced: the web's own replies pass unchanged.
    error_page 502 503 504 = @ioc_starting;

    location / {{
{proxy}
    }}

    # The wall's push streams (server-sent events): each event passes at once, never buffered or compressed; the web
    # writes a heartbeat every 15 s, so a stream outlives the read timeout of other requests.
    location ^~ /push/ {{
{proxy}
        proxy_buffering off;
        proxy_cache off;
        gzip off;
        proxy_read_timeout 1h;
    }}

    # Prometheus scrapes the web directly (or with IOC_METRICS_TOKEN); the public never gets the metrics.
    location = /metrics {{
        return 404;
    }}

    # Dash's bundles: fingerprinted file names, kept by browsers for a year.
    location ^~ /_dash-component-suites/ {{
{proxy}
        proxy_hide_header Cache-Control;
        add_header Cache-Control "public, max-age={BUNDLE_MAX_AGE_S}, immutable" always;
        add_header X-Content-Type-Options nosniff always;
    }}

    # The app's own assets (styles, scripts, images): versioned by ?m= where Dash links them, kept a week.
    location ^~ /assets/ {{
{proxy}
        proxy_hide_header Cache-Control;
        add_header Cache-Control "public, max-age={ASSET_MAX_AGE_S}" always;
        add_header X-Content-Type-Options nosniff always;
    }}

    location @ioc_starting {{
        default_type text/html;
        charset utf-8;
        add_header Retry-After {RETRY_AFTER_S} always;
        add_header Cache-Control "no-store" always;
        return 503 {_starting_page_literal()};
    }}
}}
"""


def nginx_standalone(site: str, prefix: Path) -> str:
    """A whole nginx.conf around `site` that runs as the current user with every file under `prefix`
    (`nginx -p PREFIX -c PREFIX/nginx.conf`): to try the configuration, and for the tests."""
    indented = "\n".join(f"    {line}" if line else "" for line in site.splitlines())
    return f"""# A whole nginx.conf around the IOC site, its files under {prefix}.
# Run: nginx -p {prefix} -c {prefix}/nginx.conf
worker_processes auto;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{
        text/html html;
        text/css css;
        application/javascript js;
        application/json json;
    }}
    default_type application/octet-stream;
    server_tokens off;

{indented}
}}
"""


def cmd_deploy_nginx(args: argparse.Namespace) -> int:
    """Print nginx's configuration for the current settings (or a whole nginx.conf with --standalone)."""
    settings = load_settings()
    site = nginx_site(
        settings,
        listen=_check_listen(args.listen),
        server_name=_check_server_name(args.server_name),
        upstreams=[_check_listen(address) for address in args.upstream or ()],
    )
    if args.standalone is not None:
        prefix = args.standalone.resolve()
        print(nginx_standalone(site, prefix), end="")
    else:
        print(site, end="")
    if not settings.trusted_proxies:
        print(
            "ioc deploy nginx: IOC_TRUSTED_PROXIES is empty: set it to the address nginx connects from (e.g. "
            "127.0.0.1), or every client will have nginx's address",
            file=sys.stderr,
        )
    return 0


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `ioc deploy nginx` to the command line."""
    deploy = add("deploy", lambda _args: 2, "print deployment configuration (nginx in front of the web)")
    targets = deploy.add_subparsers(dest="target", required=True, metavar="TARGET")
    nginx = targets.add_parser(
        "nginx",
        help="print nginx's configuration for the current settings",
        description="Print nginx's configuration (conf.d, http level) for the current IOC_* settings.",
    )
    nginx.set_defaults(handler=cmd_deploy_nginx)
    nginx.add_argument("--listen", default="80", help="nginx's listen address: PORT or ADDRESS:PORT (default 80)")
    nginx.add_argument("--server-name", default="_", help="the site's host name (default _: any)")
    nginx.add_argument(
        "--upstream",
        action="append",
        metavar="HOST:PORT",
        help="a web server to proxy to (repeatable; default IOC_WEB_HOST:IOC_WEB_PORT)",
    )
    nginx.add_argument(
        "--standalone",
        type=Path,
        metavar="PREFIX",
        default=None,
        help="print a whole nginx.conf that runs as you with its files under PREFIX (to try it out)",
    )
