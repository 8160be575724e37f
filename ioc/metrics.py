"""Prometheus metrics: what each process measures itself, and the figures read from Redis and the database when
Prometheus scrapes.

Two kinds, so that no figure is counted twice or lost when a process restarts:
- Measured by the process doing the work, shared between the processes of one host through prometheus-client's
  multiprocess files (PROMETHEUS_MULTIPROC_DIR, set by `cli` before anything imports prometheus-client): the
  aggregator's round time, the incident engine's alerts applied and incidents opened, the web's request latency
  per endpoint and status, and logins by outcome.
- Read at scrape time (`CityCollector`), from where the truth already is: per domain the events processed and set
  aside (the aggregator's counters in Redis, exact across restarts and hosts), the streams' lengths, retained time
  and memory, each consumer group's pending entries and lag, the heartbeats' ages, and the open incidents by
  severity (SQL).

Every metric is listed, with example alert rules, in docs/OPERATIONS.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import redis
import sqlalchemy as sa
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from ioc.cluster import Client
from ioc.errors import DatabaseError
from ioc.health import group_backlog, heartbeat_age, stream_figures
from ioc.keys import AGGREGATOR_GROUP, DOMAINS, INCIDENTS_GROUP, Keys

MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

AGGREGATOR_ROUND_SECONDS: Final = Histogram(
    "ioc_aggregator_round_seconds",
    "Time the aggregator took for one round that had entries (read, check, compute, send the commits).",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
INCIDENT_ALERTS_APPLIED: Final = Counter(
    "ioc_incident_alerts_applied", "Alerts the incident engine applied (redeliveries included once).", ["domain"]
)
INCIDENTS_OPENED: Final = Counter("ioc_incidents_opened", "Incidents the incident engine opened.", ["domain"])
HTTP_REQUEST_SECONDS: Final = Histogram(
    "ioc_http_request_duration_seconds",
    "Web request latency by route (Flask's rule: Dash's callbacks are /_dash-update-component), method and status.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
STREAM_ENTRIES_TRIMMED: Final = Counter(
    "ioc_stream_entries_trimmed",
    "Stream entries the aggregator trimmed past their retention, per domain and stream (events, alerts, deadletter).",
    ["domain", "stream"],
)
ALERT_ROWS_PRUNED: Final = Counter(
    "ioc_incident_alert_rows_pruned", "Applied-alert rows of no incident removed after their retention."
)
LOGINS: Final = Counter("ioc_logins", "Sign-in attempts by outcome.", ["outcome"])
PUSH_STREAMS_OPEN: Final = Gauge(
    "ioc_push_streams_open",
    "Wall push streams (server-sent events) open now, summed over the live web processes.",
    multiprocess_mode="livesum",
)


def multiprocess() -> bool:
    """Whether this process shares its metrics through the multiprocess files."""
    return bool(os.environ.get(MULTIPROCESS_ENV))


class CityCollector(Collector):
    """The figures read from Redis and the database at each scrape, for one namespace (see the module's note)."""

    def __init__(self, client: Client, keys: Keys, open_incidents: Callable[[], dict[str, int]]) -> None:
        self.client = client
        self.keys = keys
        self.open_incidents = open_incidents  # severity -> count, from SQL (ioc.incidents.queries.open_by_severity)

    def collect(self) -> Iterator[Metric]:
        """Every figure, each family labelled with the namespace; a source that does not answer is reported down."""
        up = GaugeMetricFamily("ioc_up", "Whether a source answered this scrape (1) or not (0).", labels=["source"])
        try:
            yield from self._redis_figures()
            up.add_metric(["redis"], 1)
        except redis.RedisError:
            up.add_metric(["redis"], 0)
        try:
            yield from self._database_figures()
            up.add_metric(["database"], 1)
        except (DatabaseError, sa.exc.SQLAlchemyError):
            up.add_metric(["database"], 0)
        yield up

    def _redis_figures(self) -> Iterator[Metric]:
        namespace = self.keys.namespace
        labels = ["namespace", "domain"]
        processed = _counter("ioc_events_processed", "Events the aggregator processed.", labels)
        deadlettered = _counter("ioc_events_deadlettered", "Events set aside as dead letters, with a reason.", labels)
        length = GaugeMetricFamily("ioc_stream_length", "Entries in a stream.", labels=[*labels, "stream"])
        retained = GaugeMetricFamily(
            "ioc_stream_retained_seconds", "Time between a raw stream's oldest and newest entries.", labels=labels
        )
        memory = GaugeMetricFamily(
            "ioc_stream_memory_bytes", "Redis' estimate of a raw stream's memory.", labels=labels
        )
        group_labels = ["namespace", "group", "domain"]
        pending = GaugeMetricFamily(
            "ioc_consumer_pending", "Entries delivered to a consumer group, not yet acknowledged.", labels=group_labels
        )
        lag = GaugeMetricFamily(
            "ioc_consumer_lag", "Entries not yet delivered to a consumer group.", labels=group_labels
        )
        for domain in DOMAINS:
            stats = self.client.hgetall(self.keys.stats(domain))
            processed.add_metric([namespace, domain], float(stats.get("processed", 0)))
            deadlettered.add_metric([namespace, domain], float(stats.get("deadletter", 0)))
            figures = stream_figures(self.client, self.keys.events(domain))
            length.add_metric([namespace, domain, "events"], figures["length"])
            length.add_metric([namespace, domain, "alerts"], self.client.xlen(self.keys.alerts(domain)))
            length.add_metric([namespace, domain, "deadletter"], self.client.xlen(self.keys.deadletter(domain)))
            retained.add_metric([namespace, domain], figures["retained_s"])
            memory.add_metric([namespace, domain], figures["memory_bytes"])
            for group, stream in (
                (AGGREGATOR_GROUP, self.keys.events(domain)),
                (INCIDENTS_GROUP, self.keys.alerts(domain)),
            ):
                backlog = group_backlog(self.client, stream, group)
                if backlog is not None:
                    pending.add_metric([namespace, group, domain], backlog.pending)
                    lag.add_metric([namespace, group, domain], backlog.undelivered)
        yield from (processed, deadlettered, length, retained, memory, pending, lag)
        yield self._heartbeats(namespace)

    def _heartbeats(self, namespace: str) -> Metric:
        now = time.time()
        ages = GaugeMetricFamily(
            "ioc_heartbeat_age_seconds",
            "Seconds since a consumer's loop last beat (absent: it never did).",
            labels=["namespace", "process", "consumer"],
        )
        age = heartbeat_age(self.client, self.keys, now)
        if age is not None:
            consumer = self.client.hget(self.keys.heartbeat(), "consumer") or ""
            ages.add_metric([namespace, "aggregator", consumer], age)
        for consumer, text in self.client.hgetall(self.keys.incidents_heartbeat()).items():
            at = _beat_time(text)
            if at is not None:
                ages.add_metric([namespace, "incident_engine", consumer], max(0.0, now - at))
        return ages

    def _database_figures(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("ioc_incidents_open", "Incidents someone still has to act on.", labels=["severity"])
        for severity, count in self.open_incidents().items():
            family.add_metric([severity], count)
        yield family


def _counter(name: str, documentation: str, labels: list[str]) -> Any:
    """A counter family read from elsewhere (its `_total` sample added by prometheus-client)."""
    from prometheus_client.core import CounterMetricFamily

    return CounterMetricFamily(name, documentation, labels=labels)


def _beat_time(text: str) -> float | None:
    """The wall time in an incident engine's heartbeat (JSON with "at"), or None."""
    import orjson

    try:
        value = orjson.loads(text)
        return float(value["at"]) if isinstance(value, dict) else None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


class _ThisProcess(Collector):
    """The default registry's metrics (this process's, when not in multiprocess mode) inside another registry."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def exposition(city: CityCollector) -> bytes:
    """The text Prometheus scrapes: every process's own metrics on this host and the city's figures."""
    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(city)
    return generate_latest(registry)
