"""/metrics for Prometheus, and the web's own measurements: each request's latency by route, method and status.

/metrics tells how busy the city is, never what is in it (no places, no readings), but it is still not for the
public: with IOC_METRICS_TOKEN set it needs `Authorization: Bearer <token>`; without, it answers only a scraper on
this host reaching the web directly (a loopback peer, no proxy's forwarded header), so nginx in front never serves
it (its configuration refuses the path too).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from typing import Final

from flask import Blueprint, Flask, Response, g, request

from callbacks import resources
from ioc.incidents.queries import open_by_severity
from ioc.metrics import CONTENT_TYPE, HTTP_REQUEST_SECONDS, CityCollector, exposition

METRICS_PATH: Final = "/metrics"

metrics = Blueprint("metrics", __name__)


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def allowed() -> bool:
    """Whether this request may read the metrics (see the module's note)."""
    token = resources().settings.metrics_token
    if token is not None:
        sent = request.headers.get("Authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        return hmac.compare_digest(sent.encode(), expected.encode())
    peer = request.environ.get("ioc.peer", request.environ.get("REMOTE_ADDR"))
    proxied = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return _loopback(peer) and not proxied


@metrics.get(METRICS_PATH)
def scrape() -> Response:
    """Every process's metrics on this host and the city's figures, in Prometheus' text format."""
    if not allowed():
        return Response("metrics need IOC_METRICS_TOKEN, or a scraper on this host\n", 403, mimetype="text/plain")
    found = resources()
    city = CityCollector(found.redis, found.keys, lambda: open_by_severity(found.database))
    return Response(exposition(city), 200, content_type=CONTENT_TYPE)


def _started() -> None:
    g.ioc_request_started = time.perf_counter()


def _finished(response: Response) -> Response:
    started = g.pop("ioc_request_started", None)
    if started is not None:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        HTTP_REQUEST_SECONDS.labels(rule, request.method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


def install(server: Flask) -> None:
    """The /metrics view and the timing of every request (first before and last after every other hook)."""
    server.before_request_funcs.setdefault(None, []).insert(0, _started)
    server.after_request(_finished)  # after_request hooks run in reverse order: this one runs last
    server.register_blueprint(metrics)
