"""The incident engine on a real Redis (embedded 6.2 and Redis 7) and a real database (SQLite and PostgreSQL): which
alerts open incidents, deduplication, conditions that must last, bursts, time limits, damaged alerts, redelivery."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from benchmarks.incidents import alarm_storm as storm
from ioc.audit import AuditRow
from ioc.city import City
from ioc.db import Database, utcnow
from ioc.documents import Alert, AlertKind
from ioc.incidents.engine import KIND_RULES, Decision, IncidentEngine, Rules, decide
from ioc.incidents.lifecycle import timeline
from ioc.incidents.model import AUDITED_FIELDS, ENGINE_TYPES, Limits
from ioc.incidents.tables import IncidentAlertRow, IncidentConditionRow, IncidentRow
from ioc.keys import INCIDENTS_GROUP, Domain, Keys
from ioc.rules import Severity
from ioc.settings import Settings

T0 = 1_790_000_000.0  # an event time in 2026
STATION = "wl-tam-ky"
RULES = Rules(flood_alarm=2, congestion_s=900, offline_s=600, violations=5, violations_window_s=600)


@pytest.fixture
def engine(r: redis.Redis, db: Database, keys: Keys, city: City, db_settings: Settings) -> Iterator[IncidentEngine]:
    """An engine on the Redis and database under test, its group created."""
    made = IncidentEngine(r, db, keys, city, rules=RULES, limits=Limits.of(db_settings), consumer="test-engine")
    made.setup()
    yield made


def station_id(city: City, index: int = 0) -> str:
    """A water station of the city."""
    return city.sensors_of("water_station")[index].id


def send(
    r: redis.Redis,
    keys: Keys,
    domain: Domain,
    kind: AlertKind,
    place: str,
    new: str,
    *,
    ts: float = T0,
    old: str = "",
    severity: Severity = "warning",
) -> str:
    """Append an alert as the aggregator would; its entry id."""
    alert = Alert(kind=kind, ts=ts, place=place, old=old, new=new, severity=severity, lat=15.57, lon=108.48)
    return str(r.xadd(keys.alerts(domain), alert.stream_fields()))


def incidents(db: Database) -> list[IncidentRow]:
    """Every incident, oldest first."""
    with db.read() as session:
        return list(session.scalars(sa.select(IncidentRow).order_by(IncidentRow.id)))


def assert_log_explains(db: Database) -> None:
    """For every incident: the audit rows chain (each before = the previous after) and end at its current state."""
    for row in incidents(db):
        entries = timeline(db, row.id)
        assert entries[0].action == "incident.open"
        previous = entries[0].after
        assert previous is not None
        for entry in entries[1:]:
            assert entry.before is not None and entry.after is not None
            assert {k: entry.before[k] for k in AUDITED_FIELDS} == {k: previous[k] for k in AUDITED_FIELDS}, entry
            previous = entry.after
        assert {k: previous[k] for k in AUDITED_FIELDS} == {k: getattr(row, k) for k in AUDITED_FIELDS}


def pending(r: redis.Redis, keys: Keys, domain: Domain) -> int:
    """Entries of the incidents group read but not acknowledged."""
    return int(r.xpending(keys.alerts(domain), INCIDENTS_GROUP)["pending"])


def test_a_station_at_bd_ii_opens_one_incident_that_takes_later_alerts(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    station = station_id(city)
    send(r, keys, "flood", "flood.level.changed", station, "1", old="0")  # BĐ I: no incident
    engine.drain()
    assert incidents(db) == []
    send(r, keys, "flood", "flood.level.changed", station, "2", old="1", ts=T0 + 60)
    send(r, keys, "flood", "flood.level.changed", station, "3", old="2", ts=T0 + 120, severity="critical")
    send(r, keys, "flood", "flood.level.changed", station, "2", old="3", ts=T0 + 180, severity="info")
    engine.drain()
    [incident] = incidents(db)
    assert (incident.type, incident.place, incident.status) == ("flood", station, "new")
    assert incident.severity == incident.peak_severity == "critical"  # raised by BĐ III, kept after it receded
    assert incident.alert_count == 3 and incident.condition == "active"
    assert incident.ward == city.sensors[station].ward and len(incident.cameras) == 3
    send(r, keys, "flood", "flood.level.changed", station, "0", old="1", ts=T0 + 240, severity="info")
    engine.drain()
    [incident] = incidents(db)
    assert incident.condition == "cleared" and incident.status == "new"  # a person still resolves it
    assert incident.alert_count == 4
    with db.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(IncidentAlertRow)) == 5  # every alert kept
    assert pending(r, keys, "flood") == 0
    assert_log_explains(db)


def test_heavy_rain_opens_and_very_heavy_raises_it(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    gauge = city.sensors_of("rain_gauge")[0].id
    send(r, keys, "flood", "flood.rain.changed", gauge, "moderate", old="light", severity="info")
    send(r, keys, "flood", "flood.rain.changed", gauge, "heavy", old="moderate")
    send(r, keys, "flood", "flood.rain.changed", gauge, "very_heavy", old="heavy")
    engine.drain()
    [incident] = incidents(db)
    assert (incident.type, incident.severity, incident.alert_count) == ("heavy_rain", "critical", 2)


def test_each_alert_kind_is_one_rule_naming_an_engine_incident_type() -> None:
    """What an alert kind means for incidents is one entry of KIND_RULES: its type, and how its new value reads."""
    assert {rule.incident_type for rule in KIND_RULES.values()} <= set(ENGINE_TYPES)

    def alert(kind: AlertKind, new: str) -> Alert:
        return Alert(kind=kind, ts=T0, place="p", old="", new=new, severity="warning", lat=0.0, lon=0.0)

    assert [
        decide(alert("flood.level.changed", "3"), RULES),
        decide(alert("flood.level.changed", "1"), RULES),
        decide(alert("flood.level.changed", "0"), RULES),
        decide(alert("flood.rain.changed", "heavy"), RULES),
        decide(alert("flood.rain.changed", "light"), RULES),
        decide(alert("traffic.congestion.changed", "congested"), RULES),
        decide(alert("traffic.congestion.changed", "free"), RULES),
        decide(alert("device.health.changed", "fault"), RULES),
        decide(alert("device.health.changed", "online"), RULES),
        decide(alert("traffic.violation.detected", "80"), RULES),
    ] == [
        Decision("raise", "flood", "critical"),
        Decision("note", "flood", "info"),
        Decision("clear", "flood"),
        Decision("raise", "heavy_rain", "warning"),
        Decision("clear", "heavy_rain"),
        Decision("start", "congestion"),
        Decision("clear", "congestion"),
        Decision("start", "device_offline"),
        Decision("clear", "device_offline"),
        Decision("count", "speed_violations"),
    ]


def test_a_redelivered_alert_changes_nothing(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City, db_settings: Settings
) -> None:
    """The engine died after its commit and before its XACK: the entries come again and are only acknowledged."""
    station = station_id(city)
    for level in ("2", "3", "2"):
        send(r, keys, "flood", "flood.level.changed", station, level)
    entries = engine._read("flood", ">")
    engine._commit("flood", [(entry_id, engine_alert(fields)) for entry_id, fields in entries])  # no XACK: "crash"
    assert pending(r, keys, "flood") == 3
    restarted = IncidentEngine(r, db, keys, city, rules=RULES, limits=Limits.of(db_settings), consumer="test-engine")
    assert restarted.drain() == 3
    assert restarted.totals.skipped == 3 and restarted.totals.opened == 0
    [incident] = incidents(db)
    assert incident.alert_count == 3
    assert pending(r, keys, "flood") == 0
    assert_log_explains(db)


def engine_alert(fields: dict[str, str] | None) -> Alert:
    """An alerts stream entry as the engine decodes it."""
    from ioc.documents import decode_stream_alert

    alert = decode_stream_alert(fields or {})
    assert alert is not None
    return alert


def test_congestion_opens_an_incident_only_once_it_lasts(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    short, long = list(city.segments)[:2]
    send(r, keys, "traffic", "traffic.congestion.changed", short, "congested", old="flowing")
    send(r, keys, "traffic", "traffic.congestion.changed", long, "congested", old="flowing")
    send(r, keys, "traffic", "traffic.congestion.changed", short, "flowing", old="congested", ts=T0 + 300)
    engine.drain()
    assert engine.check(city_now=T0 + 899) == (0, 0)
    assert incidents(db) == []
    assert engine.check(city_now=T0 + 900) == (1, 0)
    assert engine.check(city_now=T0 + 1000) == (0, 0)  # opened once
    [incident] = incidents(db)
    assert (incident.type, incident.place, incident.alert_count) == ("congestion", long, 1)
    assert incident.detected_at.timestamp() == T0
    with db.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(IncidentConditionRow)) == 0
        linked = session.scalar(sa.select(IncidentAlertRow.incident_id).where(IncidentAlertRow.place == long))
    assert linked == incident.id
    send(r, keys, "traffic", "traffic.congestion.changed", long, "flowing", old="congested", ts=T0 + 1200)
    engine.drain()
    [incident] = incidents(db)
    assert incident.condition == "cleared" and incident.alert_count == 2
    assert_log_explains(db)


def test_an_outage_that_lasted_while_the_engine_was_away_is_still_recorded(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    camera = city.sensors_of("traffic_camera")[0].id
    send(r, keys, "device", "device.health.changed", camera, "offline", old="online")
    send(r, keys, "device", "device.health.changed", camera, "online", old="offline", ts=T0 + 3600, severity="info")
    engine.drain()  # both at once: nobody checked in between
    [incident] = incidents(db)
    assert (incident.type, incident.condition, incident.alert_count) == ("device_offline", "cleared", 2)
    assert_log_explains(db)


def test_a_burst_of_violations_at_one_camera_opens_an_incident(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    camera, other = (s.id for s in city.sensors_of("speed_camera")[:2])
    for minute in range(4):
        send(
            r,
            keys,
            "traffic",
            "traffic.violation.detected",
            camera,
            "95",
            old="60",
            ts=T0 + 60 * minute,
            severity="info",
        )
    send(r, keys, "traffic", "traffic.violation.detected", other, "95", old="60", ts=T0 + 100, severity="info")
    send(r, keys, "traffic", "traffic.violation.detected", camera, "99", old="60", ts=T0 + 5000, severity="info")
    engine.drain()
    assert incidents(db) == []  # four in ten minutes, then one far later: no burst
    for second in range(1, 5):
        send(
            r,
            keys,
            "traffic",
            "traffic.violation.detected",
            camera,
            "90",
            old="60",
            ts=T0 + 5000 + second,
            severity="info",
        )
    send(r, keys, "traffic", "traffic.violation.detected", camera, "90", old="60", ts=T0 + 5010, severity="info")
    engine.drain()
    [incident] = incidents(db)
    assert (incident.type, incident.place, incident.alert_count) == ("speed_violations", camera, 6)
    with db.read() as session:
        linked = session.scalar(sa.select(sa.func.count()).where(IncidentAlertRow.incident_id == incident.id))
    assert linked == 6  # the five of the burst and the one after it
    assert_log_explains(db)


def test_time_limits_escalate_once_even_with_two_engines(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City, db_settings: Settings
) -> None:
    send(r, keys, "flood", "flood.level.changed", station_id(city), "2")
    engine.drain()
    [incident] = incidents(db)
    assert incident.severity == "warning"
    assert engine.check(now=incident.ack_due_at - timedelta(seconds=1), city_now=T0) == (0, 0)
    other = IncidentEngine(r, db, keys, city, rules=RULES, limits=Limits.of(db_settings), consumer="second")
    late = incident.ack_due_at + timedelta(seconds=1)
    results: list[tuple[int, int]] = []
    barrier = threading.Barrier(2)

    def check(which: IncidentEngine) -> None:
        barrier.wait()
        results.append(which.check(now=late, city_now=T0))

    threads = [threading.Thread(target=check, args=(e,)) for e in (engine, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(escalated for _, escalated in results) == [0, 1]
    [incident] = incidents(db)
    assert incident.ack_overdue and not incident.resolve_overdue and incident.severity == "critical"
    assert engine.check(now=late, city_now=T0) == (0, 0)
    assert engine.check(now=incident.resolve_due_at + timedelta(seconds=1), city_now=T0) == (0, 1)
    with db.read() as session:
        actions = session.scalars(sa.select(AuditRow.action).where(AuditRow.action == "incident.escalate")).all()
    assert len(actions) == 2
    assert_log_explains(db)


def test_damaged_alerts_become_dead_letters_and_the_rest_flows(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    station = station_id(city)
    stream = keys.alerts("flood")
    r.xadd(stream, {"kind": "nonsense", "ts": "1"})
    r.xadd(
        stream,
        {
            "kind": "flood.level.changed",
            "ts": "nan",
            "place": station,
            "new": "2",
            "severity": "warning",
            "lat": "1",
            "lon": "1",
        },
    )
    r.xadd(stream, {"kind": "flood.level.changed", "ts": "99999999999", "place": station, "new": "2"})
    r.xadd(stream, {"kind": "flood.level.changed", "ts": str(T0), "place": "no-such-place", "new": "2"})
    r.xadd(
        stream,
        {
            b"kind": b"flood.level.changed",
            b"ts": str(T0).encode(),
            b"place": station.encode(),
            b"new": b"2\xff\xfe",
            b"old": b"x" * 5000,
        },
    )
    send(r, keys, "flood", "flood.level.changed", station, "2")
    engine.drain()
    assert [i.type for i in incidents(db)] == ["flood"]
    letters = r.xrange(keys.deadletter("flood"))
    reasons = [fields["reason"] for _, fields in letters]
    assert len(reasons) == 5, reasons
    assert any("unknown kind" in reason for reason in reasons)
    assert any("out of range" in reason for reason in reasons)
    assert any("unknown place" in reason for reason in reasons)
    assert pending(r, keys, "flood") == 0


def test_a_level_that_only_looks_like_a_number_opens_nothing_and_stops_nothing(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    """ "²" passes str.isdigit() but not int(): the level travels typed (ioc.documents.alarm_level), so such an
    entry reads as no level instead of stopping the engine; the alerts after it flow."""
    station = station_id(city)
    send(r, keys, "flood", "flood.level.changed", station, "²")
    send(r, keys, "flood", "flood.level.changed", station, "3")
    engine.drain()
    assert [(i.type, i.severity) for i in incidents(db)] == [("flood", "critical")]
    assert pending(r, keys, "flood") == 0


def test_storm_of_5000_alerts_stays_a_short_list(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    stations = [s.id for s in city.sensors_of("water_station")]
    segments = list(city.segments)[:40]
    sent = storm(r, keys, stations, segments, 5000)
    started = time.perf_counter()
    assert engine.drain() == 5000
    seconds = time.perf_counter() - started
    opened = incidents(db)
    print(f"storm: 5000 alerts drained in {seconds:.2f} s ({5000 / seconds:.0f}/s), {len(opened)} incidents")
    assert len(opened) == len(stations)  # flapping congestion never lasts: no incident
    assert sum(i.alert_count for i in opened) == sent["flood"]
    with db.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(IncidentAlertRow)) == 5000
    assert_log_explains(db)


def test_conditions_are_visible_in_the_database_after_each_batch(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, db: Database, city: City
) -> None:
    """A condition that begins, ends and begins again in one batch is kept once, since its second beginning."""
    segment = next(iter(city.segments))
    send(r, keys, "traffic", "traffic.congestion.changed", segment, "congested")
    engine.drain()
    send(r, keys, "traffic", "traffic.congestion.changed", segment, "flowing", ts=T0 + 10)
    send(r, keys, "traffic", "traffic.congestion.changed", segment, "congested", ts=T0 + 20)
    engine.drain()
    with db.read() as session:
        [condition] = session.scalars(sa.select(IncidentConditionRow)).all()
    assert condition.since.timestamp() == T0 + 20
    assert utcnow() > condition.since


def applied_rows(db: Database) -> int:
    """Alerts the engine has committed."""
    with db.read() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(IncidentAlertRow)) or 0)


@pytest.mark.slow
def test_engine_killed_in_a_storm_loses_nothing_and_opens_nothing_twice(
    r: redis.Redis, keys: Keys, db: Database, db_env: dict[str, str], redis_url: str, city: City, tmp_path: Path
) -> None:
    """`ioc incidents-engine` is SIGKILLed three times while it drains a storm (small batches, so a kill lands
    between a commit and its XACK or inside a transaction), then runs to the end: exact counts."""
    stations = [s.id for s in city.sensors_of("water_station")]
    # From now on: congestion never lasts long enough on the running engine's (real) clock to open an incident.
    sent = storm(r, keys, stations, list(city.segments)[:40], 5000, base=time.time())
    env = {
        **os.environ,
        **db_env,
        "IOC_REDIS_URL": redis_url,
        "IOC_NAMESPACE": keys.namespace,
        "IOC_BATCH_SIZE": "20",
        "IOC_INCIDENT_CONSUMER": "kill-test",
        "IOC_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "engine.log").open("w")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "incidents-engine"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    killed_at: list[int] = []
    for round_ in range(3):
        proc = start()
        target = applied_rows(db) + 600 + 150 * round_
        deadline = time.monotonic() + 60
        while applied_rows(db) < target and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "engine.log").read_text()
            time.sleep(0.01)
        proc.kill()
        proc.wait()
        killed_at.append(applied_rows(db))
    assert killed_at[-1] < 5000, "the storm must still be draining when the engine is killed"
    proc = start()
    deadline = time.monotonic() + 120
    while (applied_rows(db) < 5000 or pending(r, keys, "flood") or pending(r, keys, "traffic")) and (
        time.monotonic() < deadline
    ):
        assert proc.poll() is None, (tmp_path / "engine.log").read_text()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    log.close()
    print(f"killed after {killed_at} applied alerts")
    assert applied_rows(db) == 5000
    assert pending(r, keys, "flood") == pending(r, keys, "traffic") == 0
    opened = incidents(db)
    assert len(opened) == len(stations)
    assert sum(i.alert_count for i in opened) == sent["flood"]
    assert_log_explains(db)


def test_alerts_trimmed_before_the_engine_read_them_are_reported(
    engine: IncidentEngine, r: redis.Redis, keys: Keys, city: City
) -> None:
    station = station_id(city)
    send(r, keys, "flood", "flood.level.changed", station, "2")
    engine.drain()
    assert engine.missed() == {}
    for _ in range(5):
        send(r, keys, "flood", "flood.level.changed", station, "3")
    r.xtrim(keys.alerts("flood"), maxlen=2, approximate=False)  # three unread alerts gone
    first = r.xrange(keys.alerts("flood"), count=1)[0][0]
    assert engine.missed() == {"flood": first}
    engine.drain()
    assert engine.missed() == {}


def test_applied_alerts_past_their_retention_go_once_no_redelivery_can_come(
    r: redis.Redis, keys: Keys, db: Database, city: City, db_settings: Settings
) -> None:
    engine = IncidentEngine(
        r, db, keys, city, rules=RULES, limits=Limits.of(db_settings), consumer="test-engine", alert_retention_days=1
    )
    engine.setup()
    station, now = station_id(city), time.time()
    three_days_ago_ms = int((now - 3 * 86_400) * 1000)
    for number, level in enumerate(("1", "2", "3", "2", "1", "0")):  # BĐ I alone opens nothing; BĐ II opens one
        alert = Alert(
            kind="flood.level.changed",
            ts=T0 + number,
            place=station,
            old="",
            new=level,
            severity="warning",
            lat=15.57,
            lon=108.48,
        )
        r.xadd(keys.alerts("flood"), alert.stream_fields(), id=f"{three_days_ago_ms + number}-0")
    engine.drain()
    two_days_ago = datetime.fromtimestamp(now - 2 * 86_400, UTC)
    with db.transaction() as session:
        session.execute(sa.update(IncidentAlertRow).values(received_at=two_days_ago))
        session.add(  # another namespace's row (an exercise's): never this engine's to remove
            IncidentAlertRow(
                entry="elsewhere/flood/1-0",
                kind="flood.level.changed",
                place=station,
                old="",
                new="2",
                severity="warning",
                at=two_days_ago,
                received_at=two_days_ago,
            )
        )
    [incident] = incidents(db)
    with db.read() as session:
        unattached = session.scalar(sa.select(sa.func.count()).where(IncidentAlertRow.incident_id.is_(None)))
    assert unattached == 1 + 1 and incident.alert_count == 5, unattached  # BĐ I alone, and the other namespace's row
    assert engine.prune_alerts(now) == 0  # their entries are still in the stream: a redelivery must find them
    assert applied_rows(db) == 7
    r.xtrim(keys.alerts("flood"), maxlen=0)
    assert engine.prune_alerts(now) == 1  # BĐ I alone; not the incident's alerts, not the other namespace's row
    assert applied_rows(db) == 6
    recent = send(r, keys, "flood", "flood.level.changed", station, "1", old="0", ts=T0 + 10)
    engine.drain()
    assert engine.prune_alerts(now) == 0 and applied_rows(db) == 7, recent  # a fresh one stays


def test_a_cleared_incident_stops_escalating_and_is_resolved_by_the_system_if_nobody_acknowledged_it(
    r: redis.Redis, keys: Keys, db: Database, city: City, db_settings: Settings
) -> None:
    engine = IncidentEngine(
        r, db, keys, city, rules=RULES, limits=Limits.of(db_settings), consumer="t", auto_resolve_cleared_s=3600
    )
    engine.setup()
    station, gauge = station_id(city), city.sensors_of("rain_gauge")[0].id
    send(r, keys, "flood", "flood.level.changed", station, "2", old="1")
    send(r, keys, "flood", "flood.rain.changed", gauge, "very_heavy", old="heavy", severity="critical")
    engine.drain()
    send(r, keys, "flood", "flood.level.changed", station, "0", old="2", ts=T0 + 60, severity="info")
    send(r, keys, "flood", "flood.rain.changed", gauge, "none", old="very_heavy", ts=T0 + 60, severity="info")
    engine.drain()

    def both() -> tuple[IncidentRow, IncidentRow]:
        rows = {row.type: row for row in incidents(db)}
        return rows["flood"], rows["heavy_rain"]

    water, storm = both()
    assert (water.condition, water.severity, storm.condition, storm.severity) == (
        "cleared",
        "warning",
        "cleared",
        "critical",
    )
    cleared_at = water.condition_at
    assert cleared_at is not None
    engine.check(now=cleared_at + timedelta(minutes=59), city_now=T0)  # past the time to acknowledge
    water, storm = both()
    assert water.ack_overdue and water.severity == "warning" and water.status == "new"  # missed, not raised
    engine.check(now=cleared_at + timedelta(minutes=61), city_now=T0)
    water, storm = both()
    assert water.status == "resolved" and water.open_key is None  # back to normal for an hour, nobody came
    assert storm.status == "new" and storm.severity == "critical"  # a critical one always waits for a person
    with db.read() as session:
        resolved = session.scalars(
            sa.select(AuditRow).where(AuditRow.action == "incident.resolve", AuditRow.object_id == str(water.id))
        ).all()
    assert len(resolved) == 1 and resolved[0].actor == "incident-engine"
    assert "Resolved by the system" in (resolved[0].after or {}).get("text", "")
    assert_log_explains(db)
