"""`ioc status`: the namespace's streams, consumers, heartbeats and database, and an exit status monitoring can use."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import redis

from ioc.db import Database
from ioc.health import status_report
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, INCIDENTS_GROUP, Keys
from tests.webserver import IOC, server_env


def healthy_namespace(client: redis.Redis, keys: Keys) -> None:
    """What a running system leaves in Redis: streams read by both groups, counters, fresh heartbeats."""
    now = time.time()
    stream = keys.events("flood")
    client.xgroup_create(stream, AGGREGATOR_GROUP, id="0", mkstream=True)
    first_ms = int(now * 1000) - 3_600_000
    for number in range(8):
        client.xadd(stream, {"n": str(number)}, id=f"{first_ms + number * 600_000}-0")  # an hour and 10 min apart
    client.xreadgroup(AGGREGATOR_GROUP, "agg", {stream: ">"}, count=5)  # 5 delivered, none acknowledged yet
    client.hset(keys.stats("flood"), mapping={"processed": "1234"})
    client.xadd(keys.deadletter("flood"), {"reason": "bad"})
    client.xgroup_create(keys.alerts("flood"), INCIDENTS_GROUP, id="$", mkstream=True)
    client.xadd(keys.alerts("flood"), {"alert": "x"})
    client.hset(keys.heartbeat(), mapping={"loop": f"{now:.3f}", "event": f"{now - 2:.3f}", "consumer": "agg"})
    client.hset(keys.incidents_heartbeat(), "eng", orjson.dumps({"at": now, "handled": 0, "opened": 0}).decode())


def report(client: redis.Redis, database: Database | None, keys: Keys) -> dict[str, Any]:
    return status_report(client, database, keys, heartbeat_max_age_s=30, max_backlog=100)


def test_a_healthy_namespace_reports_its_figures(r: redis.Redis, keys: Keys, db: Database) -> None:
    healthy_namespace(r, keys)
    found = report(r, db, keys)
    assert found["ok"] and found["problems"] == []
    flood = found["domains"]["flood"]
    assert (flood["length"], flood["pending"], flood["undelivered"]) == (8, 5, 3)
    assert (flood["processed"], flood["deadletters"], flood["alerts"], flood["incidents_backlog"]) == (1234, 1, 1, 1)
    assert flood["retained_s"] == 7 * 600 and flood["memory_bytes"] > 0
    assert found["domains"]["traffic"]["length"] == 0 and found["domains"]["traffic"]["pending"] is None
    assert set(found["domains"]) == set(DOMAINS)
    assert found["database"]["reachable"] and found["database"]["revision"] == found["database"]["head"]
    assert found["aggregator"]["consumer"] == "agg" and found["aggregator"]["heartbeat_age_s"] < 5
    assert found["incident_engines"]["eng"]["heartbeat_age_s"] < 5


def test_each_kind_of_trouble_is_a_problem(r: redis.Redis, keys: Keys, db: Database) -> None:
    empty = report(r, None, keys)
    assert not empty["ok"]
    assert empty["problems"] == [
        "aggregator: no heartbeat",
        "incident engine: no fresh heartbeat",
        "database: cannot be opened",
    ]
    healthy_namespace(r, keys)
    r.hset(keys.heartbeat(), "loop", f"{time.time() - 90:.3f}")
    for number in range(200):
        r.xadd(keys.events("traffic"), {"n": str(number)})
    r.xgroup_create(keys.events("traffic"), AGGREGATOR_GROUP, id="0")
    troubled = report(r, db, keys)
    behind, old = troubled["problems"]
    assert behind == "aggregator behind on traffic: 200 entries"
    found = re.fullmatch(r"aggregator: heartbeat (\d+) s old", old)  # 90 s, or a little more on a busy machine
    assert found is not None and 90 <= int(found.group(1)) < 120, old


def test_the_command_prints_a_table_or_json_and_exits_1_on_trouble(tmp_path: Path, redis_url: str, keys: Keys) -> None:
    # Heartbeats count as fresh for 10 minutes here: a loaded machine may take long to start the command.
    env = server_env(tmp_path / "data", IOC_REDIS_URL=redis_url, IOC_NAMESPACE=keys.namespace, IOC_STALE_AFTER_S="600")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        fresh = subprocess.run([str(IOC), "status"], env=env, capture_output=True, text=True, timeout=60)
        assert fresh.returncode == 1, fresh.stderr
        assert f"namespace {keys.namespace}: PROBLEMS" in fresh.stdout and "! aggregator: no heartbeat" in fresh.stdout
        assert "database: at revision none" in fresh.stdout  # the SQLite file was never migrated
        upgraded = subprocess.run([str(IOC), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
        assert upgraded.returncode == 0, upgraded.stderr
        healthy_namespace(client, keys)
        good = subprocess.run([str(IOC), "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert good.returncode == 0, (good.stdout, good.stderr)
        parsed = json.loads(good.stdout)
        assert parsed["ok"] and parsed["domains"]["flood"]["length"] == 8
        table = subprocess.run([str(IOC), "status"], env=env, capture_output=True, text=True, timeout=60)
        assert table.returncode == 0 and f"namespace {keys.namespace}: ok" in table.stdout
        flood_row = next(line for line in table.stdout.splitlines() if line.startswith("flood "))
        assert flood_row.split()[:3] == ["flood", "8", "1"] and "1234" in flood_row.split()
    finally:
        for key in client.scan_iter(match=keys.all_keys_pattern()):
            client.delete(key)
        client.close()
