"""Streams age out by time on real Redis servers: alerts once the incident engine acknowledged them, dead letters
after their retention, raw events as before; in bounded batches, counted in the metrics."""

from __future__ import annotations

import time

import redis
from prometheus_client import REGISTRY

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.keys import INCIDENTS_GROUP, Keys
from ioc.streams.retention import entry_pair, trim_before

DAY = 86_400.0


def trimmed(domain: str, stream: str) -> float:
    """The aggregator's counter of entries trimmed, as Prometheus would read it from this process."""
    return REGISTRY.get_sample_value("ioc_stream_entries_trimmed_total", {"domain": domain, "stream": stream}) or 0.0


def fill(r: redis.Redis, key: str, *, days_ago: float, count: int, now: float) -> list[str]:
    """Append `count` entries received `days_ago` days before `now` (1 ms apart); their ids."""
    start = int((now - days_ago * DAY) * 1000)
    return [str(r.xadd(key, {"n": str(n)}, id=f"{start + n}-0")) for n in range(count)]


def make(r: redis.Redis, keys: Keys, city: City) -> Aggregator:
    """An aggregator keeping alerts 30 days, dead letters 10, raw events a day."""
    agg = Aggregator(r, keys, city, consumer="agg-test", alerts_retention_s=30 * DAY, deadletter_retention_s=10 * DAY)
    agg.setup()
    return agg


def test_alerts_age_out_only_once_the_incident_engine_acknowledged_them(r, keys, city) -> None:
    now = time.time()
    agg = make(r, keys, city)
    flood, traffic = keys.alerts("flood"), keys.alerts("traffic")
    old = fill(r, flood, days_ago=40, count=300, now=now)  # three stream nodes and more, all past 30 days
    fresh = fill(r, flood, days_ago=2, count=20, now=now)
    fill(r, traffic, days_ago=40, count=250, now=now)
    assert agg.age_out(now)["alerts"] == {"traffic": 0, "flood": 0}  # no engine yet (no alerts of wifi, device)

    r.xgroup_create(flood, INCIDENTS_GROUP, id="0")
    r.xgroup_create(traffic, INCIDENTS_GROUP, id="0")
    assert agg.age_out(now)["alerts"]["flood"] == 0  # the engine has read nothing
    r.xreadgroup(INCIDENTS_GROUP, "engine", {flood: ">"}, count=150)  # read, 150 pending
    r.xack(flood, INCIDENTS_GROUP, *old[:120])  # the first 120 acknowledged, 30 still pending
    r.xreadgroup(INCIDENTS_GROUP, "engine", {traffic: ">"})
    r.xack(traffic, INCIDENTS_GROUP, *[entry_id for entry_id, _ in r.xrange(traffic)])
    before = trimmed("flood", "alerts")
    removed = agg.age_out(now)["alerts"]
    assert 0 < removed["flood"] <= 120  # whole nodes before the oldest entry still pending
    assert 200 <= removed["traffic"] <= 250  # everything acknowledged and past 30 days, in whole nodes
    left = {entry_id for entry_id, _ in r.xrange(flood)}
    assert set(old[120:]) <= left and set(fresh) <= left  # nothing pending or unread, nothing recent
    assert trimmed("flood", "alerts") - before == removed["flood"]

    r.xreadgroup(INCIDENTS_GROUP, "engine", {flood: ">"})  # the engine catches up and acknowledges everything
    r.xack(flood, INCIDENTS_GROUP, *left)
    agg.age_out(now)
    kept = [entry_id for entry_id, _ in r.xrange(flood)]
    assert set(fresh) <= set(kept) and len(kept) <= 20 + 100  # the node holding the first fresh one may stay
    assert all(entry_pair(entry_id)[0] >= (now - 40 * DAY) * 1000 for entry_id in kept)

    wifi = keys.alerts("wifi")  # a quiet stream: its one alert read and acknowledged long ago, a new one unread
    fill(r, wifi, days_ago=35, count=100, now=now)  # one full stream node: the new alert starts the next one
    r.xgroup_create(wifi, INCIDENTS_GROUP, id="0")
    r.xreadgroup(INCIDENTS_GROUP, "engine", {wifi: ">"})
    r.xack(wifi, INCIDENTS_GROUP, *[entry_id for entry_id, _ in r.xrange(wifi)])
    r.xadd(wifi, {"n": "new"})
    agg.age_out(now)  # the engine's last delivered alert stays: a first entry past it would mean alerts it missed
    assert [fields["n"] for _, fields in r.xrange(wifi)][-2:] == ["99", "new"]


def test_dead_letters_age_out_after_their_retention_in_bounded_batches(r, keys, city) -> None:
    now = time.time()
    agg = make(r, keys, city)
    letters = keys.deadletter("wifi")
    fill(r, letters, days_ago=12, count=2_000, now=now)
    recent = fill(r, letters, days_ago=9, count=30, now=now)
    before = trimmed("wifi", "deadletter")
    assert trim_before(r, letters, int((now - 10 * DAY) * 1000), batch=500, max_batches=2) <= 1_000  # bounded
    removed = agg.age_out(now)["deadletter"]["wifi"]
    assert 900 <= removed <= 2_000 and r.xlen(letters) >= 30
    assert {entry_id for entry_id, _ in r.xrange(letters)} >= set(recent)
    assert trimmed("wifi", "deadletter") - before == removed
    assert agg.age_out(now)["deadletter"]["wifi"] == 0  # the node with the boundary stays until all of it is old


def test_a_missing_or_wrong_stream_is_skipped(r, keys, city) -> None:
    agg = make(r, keys, city)
    r.set(keys.deadletter("flood"), "not a stream")
    removed = agg.age_out()
    assert removed["deadletter"] == {} and removed["alerts"] == {}  # no stream there, or one of another type
    assert r.get(keys.deadletter("flood")) == "not a stream"
