"""Readiness (ioc.health) on both Redis versions and both databases, and the web's public /healthz and /readyz."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis

from ioc.db import Database
from ioc.embedded import EmbeddedRedis
from ioc.health import Backlog, Readiness, aggregator_backlog, group_backlog, readiness
from ioc.keys import AGGREGATOR_GROUP, Keys
from tests.sessions import app_database
from tests.webserver import IOC, server_env


def check(client: redis.Redis, database: Database | None, keys: Keys, max_backlog: int = 5) -> Readiness:
    """Readiness with a 30 s heartbeat limit and a small backlog limit."""
    return readiness(client, database, keys, heartbeat_max_age_s=30.0, max_backlog=max_backlog)


def beat(client: redis.Redis, keys: Keys, age_s: float) -> None:
    """Write the aggregator's loop heartbeat as if it beat `age_s` ago."""
    client.hset(keys.heartbeat(), mapping={"loop": f"{time.time() - age_s:.3f}", "consumer": "test"})


def test_a_groups_backlog_counts_pending_and_undelivered_entries(r: redis.Redis, keys: Keys) -> None:
    stream = keys.events("flood")
    assert group_backlog(r, stream, AGGREGATOR_GROUP) is None  # no stream yet
    r.xgroup_create(stream, AGGREGATOR_GROUP, id="0", mkstream=True)
    assert group_backlog(r, stream, AGGREGATOR_GROUP) == Backlog(0, 0)
    assert group_backlog(r, stream, "nobody") is None
    for number in range(10):
        r.xadd(stream, {"n": str(number)})
    delivered = r.xreadgroup(AGGREGATOR_GROUP, "c1", {stream: ">"}, count=4)
    r.xack(stream, AGGREGATOR_GROUP, delivered[0][1][0][0])  # one of the four finished
    backlog = group_backlog(r, stream, AGGREGATOR_GROUP)
    assert backlog == Backlog(pending=3, undelivered=6) and backlog.total == 9  # on Redis 6.2 (counted) and 7 (lag)
    assert aggregator_backlog(r, keys)["flood"] == backlog and aggregator_backlog(r, keys)["traffic"] is None


def test_readiness_names_what_is_wrong(r: redis.Redis, keys: Keys, db: Database) -> None:
    assert check(r, db, keys).checks == {
        "redis": "ok",
        "database": "ok",
        "aggregator": "no heartbeat yet",
    }
    beat(r, keys, 120)
    stale = check(r, db, keys)
    assert not stale.ready and stale.checks["aggregator"] == "heartbeat 120 s old (limit 30 s)"
    beat(r, keys, 1)
    assert check(r, db, keys).ready
    stream = keys.events("traffic")
    r.xgroup_create(stream, AGGREGATOR_GROUP, id="$", mkstream=True)
    for number in range(6):
        r.xadd(stream, {"n": str(number)})
    behind = check(r, db, keys)
    assert behind.checks["aggregator"] == "behind: traffic 6 entries" and not behind.ready
    assert check(r, None, keys, max_backlog=6).checks == {
        "redis": "ok",
        "database": "does not answer",
        "aggregator": "ok",
    }


def test_readiness_without_redis_says_so_quickly(db: Database, keys: Keys) -> None:
    gone = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1, decode_responses=True)
    started = time.monotonic()
    checks = check(gone, db, keys).checks
    assert checks == {
        "redis": "does not answer: ConnectionError",
        "database": "ok",
        "aggregator": "unknown: Redis does not answer",
    }
    assert time.monotonic() - started < 10
    gone.close()


def test_the_web_answers_health_and_readiness_to_anyone_without_city_data(
    make_app, redis_url: str, r: redis.Redis, keys: Keys
) -> None:
    app = make_app(redis_url=redis_url, namespace=keys.namespace)
    client = app.server.test_client()  # no session
    health = client.get("/healthz")
    assert health.status_code == 200 and health.get_json() == {"status": "ok"}
    waiting = client.get("/readyz")
    assert waiting.status_code == 503
    assert waiting.get_json() == {
        "status": "not ready",
        "checks": {"redis": "ok", "database": "ok", "aggregator": "no heartbeat yet"},
    }
    beat(r, keys, 0)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"
    assert "no-store" in ready.headers["Cache-Control"]


def test_readiness_of_a_web_whose_redis_is_gone(make_app) -> None:
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    reply = app.server.test_client().get("/readyz")
    assert reply.status_code == 503 and reply.get_json()["checks"]["redis"].startswith("does not answer")
    assert app.server.test_client().get("/healthz").status_code == 200


@pytest.mark.slow
def test_readiness_follows_the_aggregator_and_redis_going_and_coming_back(make_app, tmp_path: Path) -> None:
    own = EmbeddedRedis(tmp_path / "redis")  # a Redis of the test's own, to stop and start
    own.start()
    keys = Keys(f"h{uuid.uuid4().hex[:10]}")
    env = server_env(tmp_path / "data", IOC_REDIS_URL=own.url, IOC_NAMESPACE=keys.namespace)
    app = make_app(redis_url=own.url, namespace=keys.namespace, stale_after_s=3)
    app_database(app)
    client = app.server.test_client()

    def ready_within(seconds: float, wanted: int) -> dict[str, str]:
        deadline = time.monotonic() + seconds
        while True:
            reply = client.get("/readyz")
            if reply.status_code == wanted or time.monotonic() > deadline:
                assert reply.status_code == wanted, reply.get_json()
                return dict(reply.get_json()["checks"])
            time.sleep(0.25)

    def aggregator() -> subprocess.Popen[bytes]:
        log = (tmp_path / "aggregator.log").open("ab")
        return subprocess.Popen([str(IOC), "aggregator"], env=env, stdout=log, stderr=log)

    running = aggregator()
    try:
        ready_within(30, 200)
        running.terminate()
        running.wait(timeout=30)
        assert ready_within(10, 503)["aggregator"].startswith("heartbeat")  # stopped: said within seconds
        running = aggregator()
        ready_within(30, 200)
        own.stop()
        checks = ready_within(15, 503)
        assert checks["redis"].startswith("does not answer") and checks["database"] == "ok"
        own.start()
        ready_within(60, 200)  # the aggregator reconnected by itself, and the web's client too
    finally:
        running.terminate()
        running.wait(timeout=30)
        own.stop()
