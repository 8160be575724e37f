"""/healthz and /readyz for load balancers, nginx and monitoring: public, JSON, no city data.

- /healthz: the web process answers (nothing else is asked, so a restart is not triggered by Redis being away).
- /readyz: Redis and the database answer, the aggregator's heartbeat is fresh (IOC_STALE_AFTER_S) and its backlog on
  every stream is under IOC_READY_MAX_BACKLOG (ioc.health); 503 with each check's verdict otherwise.
"""

from __future__ import annotations

from typing import Final

from flask import Blueprint, Response, jsonify

from callbacks import resources
from ioc.health import readiness

HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"

health = Blueprint("health", __name__)


@health.get(HEALTH_PATH)
def healthz() -> Response:
    """The process answers."""
    return jsonify(status="ok")


@health.get(READY_PATH)
def readyz() -> tuple[Response, int]:
    """Ready to serve the wall with fresh data, or 503 and what is wrong."""
    found = resources()
    try:
        database = found.database
    except Exception:  # any failure to open it means not ready, and the check says so
        database = None
    result = readiness(
        found.redis,
        database,
        found.keys,
        heartbeat_max_age_s=found.settings.stale_after_s,
        max_backlog=found.settings.ready_max_backlog,
    )
    status = "ready" if result.ready else "not ready"
    return jsonify(status=status, checks=result.checks), 200 if result.ready else 503
