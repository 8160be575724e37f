"""Redis Cluster (IOC_REDIS_CLUSTER): the cluster client, every domain's keys in one slot, the aggregator reading and
committing per node, the login limiter's scripts, the clock, the wall's snapshot, readiness, status and metrics, all
on a local three-master cluster (tests/cluster.py) and compared with a single server. The long end-to-end run with
processes and a restarted master is in tests/test_cluster_e2e.py (slow)."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

import pytest
import redis
from redis.cluster import RedisCluster

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.clock import declare_real, declare_simulated, read_timebase
from ioc.cluster import Client, is_cluster, key_slot, node_client
from ioc.errors import SettingsError
from ioc.health import readiness, status_report
from ioc.identity.ratelimit import LoginLimiter
from ioc.incidents.engine import IncidentEngine, Rules
from ioc.incidents.model import Limits
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, Keys
from ioc.metrics import CityCollector, exposition
from ioc.settings import Settings, load_settings
from ioc.snapshot import read_wall_snapshot
from ioc.store import CONNECT_TIMEOUT_S, SOCKET_TIMEOUT_S, connect, connect_url
from simulators import load_scenario
from simulators.engine import generate
from simulators.runner import write_events
from tests.cluster import LocalCluster, local_cluster
from tests.conftest import wipe_namespace

START = datetime(2026, 1, 5, 6, 0, tzinfo=timezone(timedelta(hours=7)))
EVENTS = 3000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One local three-master cluster for this module's tests."""
    with local_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


@pytest.fixture
def rc(cluster: LocalCluster, keys: Keys) -> Iterator[Client]:
    """A cluster client as the processes make it; the test's namespace wiped afterwards."""
    client = connect(Settings(redis_url=cluster.url, redis_cluster=True))
    yield client
    wipe_namespace(client, keys)
    client.close()


def derived_state(client: Client, keys: Keys) -> dict[str, Any]:
    """Everything the aggregator derives for a namespace (the raw streams left out), by key name within it."""
    state: dict[str, Any] = {}
    for domain in DOMAINS:
        stats = client.hgetall(keys.stats(domain))
        stats.pop("version", None)  # how many commits it took: batching, not state
        state[f"{domain}:stats"] = stats
        for name in ("latest", "lastseen", "active"):
            state[f"{domain}:{name}"] = client.hgetall(getattr(keys, name)(domain))
        state[f"{domain}:alerts"] = [fields for _, fields in client.xrange(keys.alerts(domain))]
        state[f"{domain}:deadletter"] = [
            {k: v for k, v in fields.items() if k != "at"} for _, fields in client.xrange(keys.deadletter(domain))
        ]
    for name in ("segments", "stations", "gauges", "health", "violations"):
        state[name] = client.hgetall(getattr(keys, name)())
    clock = float(client.hget(keys.stats("traffic"), "clock") or 0)
    minute = int(clock) // 60
    state["minutes"] = {m: client.hgetall(keys.speed_minute(m)) for m in range(minute - 120, minute + 1)}
    return state


def load(client: Client, keys: Keys, city: City, count: int = EVENTS) -> int:
    events = islice(generate(city, load_scenario("normal-day"), 7, START), count)
    return write_events(client, keys, events, maxlen=count * 2)


def test_the_cluster_setting_needs_a_node_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="IOC_REDIS_CLUSTER=true needs IOC_REDIS_URL"):
        Settings(redis_cluster=True)
    with pytest.raises(ValueError, match="not a unix socket"):
        Settings(redis_cluster=True, redis_url="unix:///run/redis.sock")
    with pytest.raises(ValueError, match="only database 0"):
        Settings(redis_cluster=True, redis_url="redis://127.0.0.1:7000/3")
    monkeypatch.setenv("IOC_REDIS_CLUSTER", "true")
    monkeypatch.delenv("IOC_REDIS_URL", raising=False)
    with pytest.raises(SettingsError, match="IOC_REDIS_CLUSTER=true needs IOC_REDIS_URL"):
        load_settings()
    monkeypatch.delenv("IOC_REDIS_CLUSTER")
    assert Settings().redis_cluster is False


def test_the_cluster_client_has_the_single_server_policy(cluster: LocalCluster) -> None:
    client = connect(Settings(redis_url=cluster.url, redis_cluster=True))
    try:
        assert isinstance(client, RedisCluster) and is_cluster(client)
        assert client.ping()
        assert len(client.get_primaries()) == 3
        kwargs = node_client(client, "x").connection_pool.connection_kwargs
        assert kwargs["decode_responses"] is True
        assert kwargs["encoding_errors"] == "surrogateescape"
        assert kwargs["socket_timeout"] == SOCKET_TIMEOUT_S
        assert kwargs["socket_connect_timeout"] == CONNECT_TIMEOUT_S
        assert client.retry.get_retries() == 2
        client.set("ioc:cluster-check", "\u00e9")
        assert client.get("ioc:cluster-check") == "\u00e9"
        client.delete("ioc:cluster-check")
    finally:
        client.close()
    assert not is_cluster(connect_url(cluster.url))  # without the setting: a plain client, as before


def test_each_domain_lives_in_one_slot_and_domains_spread_over_nodes(rc: Client) -> None:
    keys = Keys("live")
    slots: dict[str, int | None] = {}
    for domain in DOMAINS:
        names = [keys.events(domain), keys.deadletter(domain), keys.alerts(domain), keys.active(domain)]
        names += [keys.latest(domain), keys.lastseen(domain), keys.stats(domain)]
        names += [keys.quarantined(keys.events(domain), 1)]
        names += {
            "traffic": [keys.segments(), keys.violations(), keys.speed_minute(29_000_000)],
            "flood": [keys.stations(), keys.gauges()],
            "device": [keys.health()],
            "wifi": [],
        }[domain]
        assert len({key_slot(rc, name) for name in names}) == 1, domain
        slots[domain] = key_slot(rc, keys.events(domain))
    auth = [keys.login_failures_account("a"), keys.login_failures_address("b"), keys.login_failures_device("a", "d")]
    auth += [keys.login_lockouts("a"), keys.ended_session("s"), f"{keys.login_failures_account('a')}:lockouts"]
    assert len({key_slot(rc, name) for name in auth}) == 1
    meta = [keys.heartbeat(), keys.clock(), keys.incidents_heartbeat()]
    assert len({key_slot(rc, name) for name in meta}) == 1
    assert isinstance(rc, RedisCluster)
    nodes = {rc.get_node_from_key(keys.events(domain)).name for domain in DOMAINS}
    assert len(nodes) >= 2, "the four domains of `live` should not all hash to one node of three"
    assert key_slot(connect_url("redis://127.0.0.1:1"), keys.events("traffic")) is None


def test_a_cluster_refuses_one_read_over_two_domains(rc: Client, keys: Keys) -> None:
    """Why the consumers read one stream at a time, each on its node: a read over two slots is refused."""
    for domain in ("traffic", "flood"):
        rc.xgroup_create(keys.events(domain), AGGREGATOR_GROUP, id="0", mkstream=True)
    node = node_client(rc, keys.events("traffic"))
    with pytest.raises(redis.ResponseError, match="same slot"):
        node.xreadgroup(AGGREGATOR_GROUP, "c", {keys.events("traffic"): ">", keys.events("flood"): ">"})


def test_the_aggregator_on_a_cluster_derives_what_it_does_on_one_server(
    rc: Client, r: redis.Redis, keys: Keys, city: City
) -> None:
    assert load(rc, keys, city) == EVENTS
    assert load(r, keys, city) == EVENTS
    on_cluster = Aggregator(rc, keys, city, consumer="agg-cluster")
    on_server = Aggregator(r, keys, city, consumer="agg-server")
    on_cluster.setup()
    on_server.setup()
    assert on_cluster.drain() == EVENTS
    assert on_server.drain() == EVENTS
    plan = on_cluster._reader._plan
    # the test's namespace is random, so its four domains fall on one, two or three of the masters
    nodes = {rc.get_node_from_key(keys.events(domain)).name for domain in DOMAINS}
    assert plan is not None and len(plan) == len(nodes), "reads were not split per node"
    assert sum(len(domains) for _, domains, _ in plan) == len(DOMAINS)
    on_cluster.close()
    on_server.close()
    processed = sum(int(rc.hget(keys.stats(d), "processed") or 0) for d in DOMAINS)
    deadletters = sum(int(rc.hget(keys.stats(d), "deadletter") or 0) for d in DOMAINS)
    assert processed + deadletters == EVENTS
    assert derived_state(rc, keys) == derived_state(r, keys)
    for domain in DOMAINS:
        assert rc.xpending(keys.events(domain), AGGREGATOR_GROUP)["pending"] == 0

    # The wall's snapshot (one pipeline over every domain) reads the same on both.
    def snapshot(client: Client) -> dict[str, Any]:
        shown = dataclasses.asdict(read_wall_snapshot(client, keys, city, stale_after_s=30.0, now=0.0))
        shown.pop("last_event_age_s")
        for listed in ("recent_alerts", "active_alerts", "critical_alerts"):
            for alert in shown[listed]:
                alert.pop("id")  # made of the alert's stream entry id: each server numbers its own
        return shown

    assert snapshot(rc) == snapshot(r)
    assert snapshot(rc)["kpis"]["sensors_total"] == len(city.sensors)


def test_a_stopped_consumer_s_entries_are_claimed_per_node(rc: Client, keys: Keys, city: City) -> None:
    load(rc, keys, city, 600)
    first = Aggregator(rc, keys, city, consumer="agg-a", claim_idle_ms=1_000)
    first.setup()
    for domain in DOMAINS:  # read, never processed: left pending on agg-a as by a crash
        first.read_entries(domain, ">", 1_000)
    first.close()
    second = Aggregator(rc, keys, city, consumer="agg-b", claim_idle_ms=1_000)
    second.setup()
    time.sleep(1.1)
    assert second.drain() == 600
    second.close()
    for domain in DOMAINS:
        assert rc.xpending(keys.events(domain), AGGREGATOR_GROUP)["pending"] == 0


def test_login_limits_and_the_clock_work_on_a_cluster(rc: Client, keys: Keys) -> None:
    limiter = LoginLimiter(rc, keys, max_failures=3, window_s=60, address_max_failures=100)
    for _ in range(3):
        assert limiter.acquire("ana", "10.0.0.1") is None
    assert limiter.acquire("ana", "10.0.0.1") is not None  # the fourth is refused
    assert limiter.failures("ana", "10.0.0.1") == (3, 3)
    limiter.succeeded("bob", "10.0.0.1")
    assert limiter.acquire("ana", "10.0.0.1", device="d1") is None  # a known browser counts on its own
    declare_simulated(rc, keys, start=START.timestamp(), speed=60.0, source="test")
    assert read_timebase(rc, keys).speed == 60.0
    declare_real(rc, keys)
    assert not read_timebase(rc, keys).simulated


def test_readiness_status_metrics_and_incidents_on_a_cluster(rc: Client, keys: Keys, city: City, db) -> None:
    load(rc, keys, city, 2000)
    aggregator = Aggregator(rc, keys, city, consumer="agg-health")
    aggregator.setup()
    aggregator.drain()
    aggregator.heartbeat(1)
    aggregator.close()
    ready = readiness(rc, db, keys, heartbeat_max_age_s=30, max_backlog=10)
    assert ready.ready, ready.checks
    engine = IncidentEngine(
        rc,
        db,
        keys,
        city,
        rules=Rules.of(Settings()),
        limits=Limits.of(Settings()),
        consumer=f"e-{uuid.uuid4().hex[:6]}",
    )
    engine.setup()
    alerts = sum(rc.xlen(keys.alerts(d)) for d in DOMAINS)
    assert engine.drain() == alerts
    engine.heartbeat(0)
    report = status_report(rc, db, keys, heartbeat_max_age_s=30, max_backlog=10)
    assert report["ok"], report["problems"]
    assert sum(d["processed"] + d["deadletters"] for d in report["domains"].values()) == 2000
    assert all(d["incidents_backlog"] == 0 for d in report["domains"].values())
    text = exposition(CityCollector(rc, keys, lambda: {})).decode()
    assert 'ioc_up{source="redis"} 1.0' in text
    assert f'ioc_events_processed_total{{domain="traffic",namespace="{keys.namespace}"}}' in text


def move_slot(cluster: LocalCluster, slot: int, source_port: int, target_port: int) -> None:
    """Move one slot and its keys from one master to another, as `redis-cli --cluster reshard` does."""
    source, target = cluster.node(source_port), cluster.node(target_port)
    source_id, target_id = source.cluster("myid"), target.cluster("myid")
    target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    while moved := source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source.execute_command("MIGRATE", "127.0.0.1", target_port, "", 0, 10_000, "KEYS", *moved)
    for port in cluster.ports:
        cluster.node(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)


def test_a_running_aggregator_follows_its_domain_to_another_node(
    rc: Client, cluster: LocalCluster, keys: Keys, city: City
) -> None:
    assert isinstance(rc, RedisCluster)
    load(rc, keys, city, 1000)
    aggregator = Aggregator(rc, keys, city, consumer="agg-moving", claim_idle_ms=60_000)
    stop = threading.Event()
    worker = threading.Thread(target=aggregator.run_forever, args=(stop, 0.05), daemon=True)
    worker.start()

    def processed() -> int:
        return sum(
            int(rc.hget(keys.stats(d), "processed") or 0) + int(rc.hget(keys.stats(d), "deadletter") or 0)
            for d in DOMAINS
        )

    try:
        deadline = time.monotonic() + 30
        while processed() < 1000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processed() == 1000
        slot = rc.keyslot(keys.events("traffic"))
        source = rc.get_node_from_key(keys.events("traffic")).port
        target = next(port for port in cluster.ports if port != source)
        move_slot(cluster, slot, source, target)
        events = islice(generate(city, load_scenario("normal-day"), 8, START + timedelta(hours=1)), 1000)
        write_events(rc, keys, events, maxlen=10_000)
        deadline = time.monotonic() + 30
        while processed() < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processed() == 2000
        assert rc.get_node_from_key(keys.events("traffic")).port == target
    finally:
        stop.set()
        worker.join(timeout=30)
    assert not worker.is_alive()
    for domain in DOMAINS:
        assert rc.xpending(keys.events(domain), AGGREGATOR_GROUP)["pending"] == 0
