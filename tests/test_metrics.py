"""/metrics: who may read it, the city's figures read from Redis and SQL at scrape time, and, under `ioc web` with
two workers, every worker's measurements summed (prometheus-client's multiprocess files), the aggregator's too."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.browser import UrlHttp
from ioc.city import load_city
from ioc.embedded import EmbeddedRedis
from ioc.identity.roles import Role
from ioc.incidents.lifecycle import open_by_hand
from ioc.incidents.model import Limits
from ioc.keys import AGGREGATOR_GROUP, Keys
from ioc.settings import Settings
from ioc.store import connect_url
from tests.conftest import wipe_namespace
from tests.sessions import app_database
from tests.webserver import IOC, WebServer, server_env

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, or None."""
    return found.get((name, tuple(sorted(labels.items()))))


def test_metrics_are_for_a_scraper_on_this_host_or_with_the_token(make_app, redis_url: str, keys: Keys) -> None:
    app = make_app(redis_url=redis_url, namespace=keys.namespace)
    client = app.server.test_client()  # its peer is 127.0.0.1
    assert client.get("/metrics").status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403  # through a proxy
    outside = client.get("/metrics", environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert outside.status_code == 403 and b"ioc_" not in outside.data


def test_with_a_token_only_its_bearer_reads_the_metrics(make_app, redis_url: str, keys: Keys) -> None:
    app = make_app(redis_url=redis_url, namespace=keys.namespace, metrics_token="s3cret-scrape")
    client = app.server.test_client()
    assert client.get("/metrics").status_code == 403  # loopback is not enough once a token is set
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    good = client.get(
        "/metrics", headers={"Authorization": "Bearer s3cret-scrape"}, environ_overrides={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert good.status_code == 200 and good.content_type.startswith("text/plain")


def test_the_city_figures_come_from_redis_and_sql(make_app, redis_url: str, r: redis.Redis, keys: Keys) -> None:
    app = make_app(redis_url=redis_url, namespace=keys.namespace)
    r.hset(keys.stats("flood"), mapping={"processed": "41", "deadletter": "2"})
    stream = keys.events("traffic")
    r.xgroup_create(stream, AGGREGATOR_GROUP, id="0", mkstream=True)
    for number in range(7):
        r.xadd(stream, {"n": str(number)})
    r.xreadgroup(AGGREGATOR_GROUP, "agg", {stream: ">"}, count=3)
    r.hset(keys.heartbeat(), mapping={"loop": f"{time.time() - 4:.3f}", "consumer": "agg-1"})
    city = load_city()
    for severity in ("critical", "critical", "info"):
        open_by_hand(
            app_database(app),
            city=city,
            limits=Limits.of(Settings()),
            actor="op",
            role=Role.OPERATOR,
            incident_type="fallen_tree",
            lat=city.center[0],
            lon=city.center[1],
            description="metrics test",
            severity=severity,
        )
    client = app.server.test_client()
    client.get("/healthz")
    found = samples(client.get("/metrics").get_data(as_text=True))
    ns = keys.namespace
    assert value(found, "ioc_events_processed_total", namespace=ns, domain="flood") == 41
    assert value(found, "ioc_events_deadlettered_total", namespace=ns, domain="flood") == 2
    assert value(found, "ioc_stream_length", namespace=ns, domain="traffic", stream="events") == 7
    assert value(found, "ioc_consumer_pending", namespace=ns, group="aggregator", domain="traffic") == 3
    assert value(found, "ioc_consumer_lag", namespace=ns, group="aggregator", domain="traffic") == 4
    age = value(found, "ioc_heartbeat_age_seconds", namespace=ns, process="aggregator", consumer="agg-1")
    assert age is not None and 3 <= age < 30
    assert value(found, "ioc_incidents_open", severity="critical") == 2
    assert value(found, "ioc_incidents_open", severity="info") == 1
    assert value(found, "ioc_incidents_open", severity="warning") == 0
    assert value(found, "ioc_up", source="redis") == 1 and value(found, "ioc_up", source="database") == 1
    healthz = value(found, "ioc_http_request_duration_seconds_count", endpoint="/healthz", method="GET", status="200")
    assert healthz is not None and healthz >= 1


def test_a_redis_that_is_gone_is_reported_down_not_an_error(make_app) -> None:
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    app_database(app)  # migrated, as `ioc web` does at start
    reply = app.server.test_client().get("/metrics")
    assert reply.status_code == 200
    found = samples(reply.get_data(as_text=True))
    assert value(found, "ioc_up", source="redis") == 0 and value(found, "ioc_up", source="database") == 1


def test_every_process_on_the_host_is_counted_once(tmp_path: Path, embedded_redis: EmbeddedRedis) -> None:
    keys = Keys(f"m{uuid.uuid4().hex[:10]}")
    env = server_env(tmp_path / "data", IOC_REDIS_URL=embedded_redis.url, IOC_NAMESPACE=keys.namespace)
    web = WebServer({**env, "IOC_WEB_WORKERS": "2"}, tmp_path / "web.log")
    client = connect_url(embedded_redis.url)
    aggregator: subprocess.Popen[bytes] | None = None
    try:
        web.start()
        http = UrlHttp(web.url)
        for _ in range(40):  # new connections each: the two workers share them
            assert http.request("GET", "/healthz").status == 200
        log = (tmp_path / "aggregator.log").open("ab")
        aggregator = subprocess.Popen([str(IOC), "aggregator"], env=env, stdout=log, stderr=log)
        simulated = subprocess.run(
            [str(IOC), "simulate", "normal-day", "--seed", "3", "--limit", "200", "--speed", "3600", "--rate", "2000"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert simulated.returncode == 0, simulated.stderr
        deadline = time.monotonic() + 60
        while True:
            found = samples(http.request("GET", "/metrics").text)
            rounds = value(found, "ioc_aggregator_round_seconds_count")
            if rounds or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert rounds is not None and rounds >= 1, "the aggregator's rounds never reached the web's /metrics"
        assert (
            value(found, "ioc_http_request_duration_seconds_count", endpoint="/healthz", method="GET", status="200")
            == 40
        )
        processed = sum(
            value(found, "ioc_events_processed_total", namespace=keys.namespace, domain=domain) or 0
            for domain in ("traffic", "flood", "wifi", "device")
        )
        assert processed > 0
        assert (tmp_path / "data" / "metrics").is_dir() and any((tmp_path / "data" / "metrics").glob("histogram_*.db"))
    finally:
        if aggregator is not None:
            aggregator.terminate()
            aggregator.wait(timeout=30)
        web.stop()
        wipe_namespace(client, keys)
        client.close()
