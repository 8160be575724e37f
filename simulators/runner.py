"""Running a scenario: print events as JSON lines (dry run), or append them to the raw Redis streams, paced.

Producers only append (XADD with an approximate MAXLEN) to the raw stream of each event's domain; they never
compute state. Pacing follows the simulated clock: sim time = start + wall elapsed × speed.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from itertools import dropwhile, islice
from typing import Any, Final, TextIO, TypeVar, cast
from zoneinfo import ZoneInfo

import redis

from ioc.city import City
from ioc.clock import declare_replay, declare_simulated, read_timebase
from ioc.cluster import Client
from ioc.keys import Keys
from simulators.engine import SimEvent, as_epoch, generate
from simulators.episodes import Episode
from simulators.scenario import load_scenario

logger = logging.getLogger(__name__)
T = TypeVar("T")

# A fixed Monday 05:00 in Tam Kỳ, so a dry run with the same seed prints the same lines on any day.
DRY_RUN_START: Final = datetime(2026, 1, 5, 5, 0, tzinfo=timezone(timedelta(hours=7)))
DRY_RUN_NAMESPACE: Final = "live"
BATCH_SIZE: Final = 500
MAX_BACKOFF_S: Final = 5.0
_TICK_S: Final = 0.2  # the loop looks at `stop` at least this often (wall seconds)
_LAG_WARNING_WALL_S: Final = 5.0  # warn once when the events sent trail the simulated clock by this much


def dry_run(
    city: City,
    scenario_name: str,
    seed: int,
    limit: int | None,
    out: TextIO,
    start: datetime | None = None,
    duration_s: float | None = None,
) -> int:
    """Write events as JSON lines {"stream", "fields"} to `out`, touching no Redis; the count written.

    It stops after `limit` events (None: no cap), at `duration_s` of simulated time after the start (None: the
    scenario's own end), whichever comes first. The start is `start`, else the scenario's own `start`, else
    DRY_RUN_START, so the same seed prints the same lines on any day."""
    scenario = load_scenario(scenario_name)
    keys = Keys(DRY_RUN_NAMESPACE)
    begin = start or scenario.start or DRY_RUN_START
    end = as_epoch(begin, city) + duration_s if duration_s is not None else math.inf
    events: Iterable[SimEvent] = generate(city, scenario, seed, begin)
    if limit is not None:
        events = islice(events, max(0, limit))
    count = 0
    for event in events:
        if event.at >= end:
            break
        line = json.dumps({"stream": keys.events(event.domain), "fields": event.fields}, ensure_ascii=False)
        out.write(line + "\n")
        count += 1
    return count


def _batches(events: Iterable[SimEvent], size: int) -> Iterator[list[SimEvent]]:
    iterator = iter(events)
    while batch := list(islice(iterator, size)):
        yield batch


def _append(client: Client, keys: Keys, batch: list[SimEvent], maxlen: int) -> None:
    """XADD a batch to the raw streams in one round trip (no MULTI: the domains live in different slots)."""
    pipe = client.pipeline(transaction=False)
    for event in batch:
        pipe.xadd(keys.events(event.domain), cast(Any, event.fields), maxlen=maxlen, approximate=True)
    pipe.execute()


def write_events(client: Client, keys: Keys, events: Iterable[SimEvent], maxlen: int) -> int:
    """Append a finite batch of events as fast as possible (pipelines of 500), for benchmarks and tests.

    That is a replay: unless the namespace already runs on a declared clock, its clock is declared a replay from
    the first event's time, so the events are not judged against real time (ioc/clock.py)."""
    count = 0
    for batch in _batches(events, BATCH_SIZE):
        if not count and not read_timebase(client, keys).simulated:
            declare_replay(client, keys, start=min(event.at for event in batch), source="replay")
        _append(client, keys, batch, maxlen)
        count += len(batch)
    return count


def _call_or_stop(action: Callable[[], T], stop: threading.Event, name: str) -> tuple[bool, T | None]:
    """Run action() in a helper thread while watching `stop`: (True, its result), or (False, None) if stopped
    before it finished.

    redis-py retries a failing command by itself (seconds with the default policy, longer when the network
    hangs), so the call runs aside and the caller stays able to stop within a tick whatever the client's policy.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    def call() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # handed to the caller's thread, re-raised there
            failure.append(exc)

    worker = threading.Thread(target=call, name=name, daemon=True)
    worker.start()
    while True:
        worker.join(_TICK_S)
        if not worker.is_alive():
            break
        if stop.is_set():
            return False, None
    if failure:
        raise failure[0]
    return True, outcome[0]


def _append_with_retry(client: Client, keys: Keys, batch: list[SimEvent], maxlen: int, stop: threading.Event) -> bool:
    """Append a batch, waiting out a Redis outage with bounded back-off; False only if stopped meanwhile.

    A retried pipeline may have been partly applied before the connection broke, so delivery is at least once.
    """
    written = _with_retry(
        lambda: _call_or_stop(lambda: _append(client, keys, batch, maxlen), stop, "ioc-simulator-xadd")[0],
        f"{len(batch)} events",
        stop,
    )
    return bool(written)


def _with_retry(action: Callable[[], T], what: str, stop: threading.Event) -> T | None:
    """action(), tried again with bounded back-off while Redis is unreachable or refuses it; None if stopped
    meanwhile."""
    delay = 0.25
    failures = 0
    while not stop.is_set():
        try:
            result = action()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            failures += 1
            logger.warning("Redis unavailable (%s); retrying %s in %.2g s", exc, what, delay)
            stop.wait(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            continue
        except redis.ResponseError as exc:
            # Say, a raw stream key replaced by a string: the aggregator moves it aside, then appends work again.
            failures += 1
            logger.error("Redis refused %s (%s); retrying in %.2g s", what, exc, delay)
            stop.wait(delay)
            delay = min(delay * 2, MAX_BACKOFF_S)
            continue
        if failures:
            logger.info("Redis is back after %d failed attempts", failures)
        return result
    return None


def _begin_clock(
    client: Client,
    keys: Keys,
    city: City,
    start: datetime | None,
    speed: float,
    source: str,
    scenario_start: datetime | None = None,
) -> datetime:
    """When the simulated clock begins: `start`, else where the namespace's declared simulated clock is now (a
    restarted simulator goes on with it), else the scenario's own start (`scenario_start`), else now. Declares that
    clock, so events are checked against it and not real time (ioc/clock.py): a day played at 60x is not "ahead"."""
    zone = ZoneInfo(city.timezone)
    declared = read_timebase(client, keys)
    if start is not None:
        begin = start
    elif declared.simulated:
        begin = datetime.fromtimestamp(declared.now(), zone)
        logger.info("continuing the simulated clock of %s at %s", keys.namespace, begin.isoformat(timespec="seconds"))
    elif scenario_start is not None:
        begin = scenario_start
    else:
        begin = datetime.now(zone)
    declare_simulated(client, keys, start=as_epoch(begin, city), speed=speed, source=source)
    return begin


def run_simulation(
    client: Client,
    keys: Keys,
    city: City,
    scenario_name: str,
    *,
    seed: int,
    speed: float = 1.0,
    rate: float | None = None,
    start: datetime | None = None,
    limit: int | None = None,
    duration_s: float | None = None,
    maxlen: int = 200_000,
    stop: threading.Event | None = None,
    resume_at: float | None = None,
    progress: Callable[[float], None] | None = None,
    extra_episodes: Sequence[Episode] = (),
) -> int:
    """Append a scenario's events to the raw streams as the simulated clock reaches them; the number written.

    `speed` is the clock speed-up, `rate` an optional cap on events per wall second (the simulated clock then
    falls behind), `limit` a cap on events, `duration_s` a span of simulated time, `stop` ends the run promptly.
    `resume_at` (simulated epoch s, with `start` the scenario's own beginning) goes on with a run stopped there: the
    same events as the whole run from `start` (same seed), those before `resume_at` skipped, the clock declared at
    `resume_at`. `progress` is told, as it goes, the simulated time up to which every event has been written.
    """
    if speed <= 0 or not math.isfinite(speed):
        raise ValueError(f"speed must be a positive number, got {speed}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    scenario = load_scenario(scenario_name)
    if extra_episodes:
        scenario = replace(scenario, episodes=(*scenario.episodes, *extra_episodes))
    stop = stop if stop is not None else threading.Event()
    source = f"simulator {scenario_name}"
    if resume_at is not None:
        if start is None:
            raise ValueError("resuming a run needs the start it began from")
        declared = _with_retry(
            lambda: _call_or_stop(
                lambda: declare_simulated(client, keys, start=resume_at, speed=speed, source=source), stop, "ioc-clock"
            )[1],
            "the clock",
            stop,
        )
        begin: datetime | None = start if declared is not None else None
    else:
        begin = _with_retry(
            lambda: _call_or_stop(
                lambda: _begin_clock(client, keys, city, start, speed, source, scenario.start), stop, "ioc-clock"
            )[1],
            "the clock",
            stop,
        )
    if begin is None:
        return 0
    sim_start = as_epoch(begin, city)
    sim_end = sim_start + duration_s if duration_s is not None else math.inf
    events: Iterator[SimEvent] = generate(city, scenario, seed, begin)
    if resume_at is not None:
        events = dropwhile(lambda event: event.at < resume_at, events)
        sim_start = resume_at
    pending = next(events, None)
    wall_start = last_refill = time.monotonic()
    bucket = max(1.0, rate * _TICK_S) if rate is not None else math.inf
    tokens = bucket
    written = 0
    warned_rate = warned_lag = False
    logger.info("simulating %s from %s at %gx (seed %d) into %s", scenario_name, begin, speed, seed, keys.namespace)
    while not stop.is_set():
        if limit is not None and written >= limit:
            break
        now = time.monotonic()
        sim_now = sim_start + (now - wall_start) * speed
        if progress is not None:
            progress(min(sim_now, sim_end) if pending is None or pending.at > sim_now else pending.at)
        if pending is None or pending.at >= sim_end:
            if pending is None or sim_now >= sim_end:
                break
            stop.wait(min(_TICK_S, (sim_end - sim_now) / speed))
            continue
        room = BATCH_SIZE if limit is None else min(BATCH_SIZE, limit - written)
        if rate is not None:
            tokens = min(bucket, tokens + (now - last_refill) * rate)
            last_refill = now
            room = min(room, int(tokens))
        batch: list[SimEvent] = []
        while pending is not None and pending.at <= sim_now and pending.at < sim_end and len(batch) < room:
            batch.append(pending)
            pending = next(events, None)
        if batch:
            if not _append_with_retry(client, keys, batch, maxlen, stop):
                break
            written += len(batch)
            tokens -= len(batch)
            if progress is not None:
                progress(sim_now if pending is None else min(sim_now, pending.at))
            lag_s = sim_now - batch[-1].at
            if not warned_lag and rate is None and lag_s > _LAG_WARNING_WALL_S * speed:
                logger.warning(
                    "events trail the %gx clock by %.0f simulated s (slow CPU or Redis, or a catch-up)", speed, lag_s
                )
                warned_lag = True
            continue
        if pending is not None and pending.at <= sim_now and rate is not None:
            if not warned_rate:
                logger.warning("event rate cap %g/s binds: the simulated clock falls behind %gx", rate, speed)
                warned_rate = True
            stop.wait(min(_TICK_S, (1.0 - tokens) / rate))
            continue
        if pending is not None:
            stop.wait(min(_TICK_S, max(0.0, (pending.at - sim_now) / speed)))
    logger.info("simulation of %s ended after %d events", scenario_name, written)
    return written
