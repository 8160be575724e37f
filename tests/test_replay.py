"""Replay of the wall's history against real Redis servers (embedded 6.2 and Redis 7): a replay at a past moment
equals what the wall showed then; it writes no key of the namespace it replays; replays are bounded and go away."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

import pytest
import redis

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.clock import TimeCheck
from ioc.keys import DOMAINS, Keys
from ioc.replay import NotReplayable, Replay, close_replay, history_reach, open_replay, read_replay
from ioc.replay.registry import ask, home, listed, touch
from ioc.replay.runner import ReplayRunner
from ioc.snapshot import WallSnapshot, read_speed_series, read_wall_snapshot
from simulators import load_scenario
from simulators.engine import generate
from simulators.runner import write_events
from tests.conftest import wipe_namespace

ICT = timezone(timedelta(hours=7))
START = datetime(2026, 11, 23, 6, 30, tzinfo=ICT)


def wall_view(snapshot: WallSnapshot) -> dict[str, Any]:
    """What the wall shows of a snapshot: everything but its freshness (a replay is never stale) and the alerts
    stream's newest entries, which the wall does not show (their ids are the time they were written)."""
    shown = dataclasses.asdict(snapshot)
    for name in ("stale", "stale_reason", "last_event_age_s", "recent_alerts"):
        shown.pop(name)
    return shown


def picture(client: redis.Redis, keys: Keys, city: City) -> tuple[dict[str, Any], Any]:
    """The wall's picture of a namespace now: its snapshot as shown, and its chart's series."""
    snapshot = read_wall_snapshot(client, keys, city, stale_after_s=3600)
    series = read_speed_series(client, keys, city, since_minute=None, window_minutes=60)
    return wall_view(snapshot), series


@pytest.fixture
def replay_keys(r: redis.Redis, keys: Keys) -> Iterator[Keys]:
    """A replay namespace of the test's namespace, wiped afterwards (with the base's replay home)."""
    target = Keys(f"{keys.namespace}-rp{'0' * 16}")
    yield target
    wipe_namespace(r, target)
    wipe_namespace(r, home(keys.namespace))


def every_key(client: redis.Redis, keys: Keys) -> dict[str, Any]:
    """Every key of a namespace with what it holds (type and serialized value), to tell whether any was written."""
    found = {}
    for key in client.scan_iter(match=keys.all_keys_pattern(), count=1000):
        found[key] = (client.type(key), client.execute_command("DUMP", key, NEVER_DECODE=True), client.pttl(key) > 0)
    return found


def feed_phases(
    r: redis.Redis, keys: Keys, city: City, phases: int, per_phase: int, checkpoint_after: set[int]
) -> list[tuple[int, tuple[dict[str, Any], Any]]]:
    """Play the normal day into the namespace phase by phase, the aggregator working through each (and taking its
    checkpoints after the phases named); after each, the moment (epoch ms) and the wall's picture then."""
    aggregator = Aggregator(r, keys, city, consumer="live-test")
    aggregator.setup()
    events = generate(city, load_scenario("normal-day"), 11, START)
    moments = []
    for phase in range(phases):
        write_events(r, keys, islice(events, per_phase), maxlen=1_000_000)
        aggregator.drain()
        if phase in checkpoint_after:
            assert aggregator.take_checkpoints() >= 3
        time.sleep(0.005)
        moments.append((int(time.time() * 1000), picture(r, keys, city)))
        time.sleep(0.005)
    aggregator.close()
    return moments


def test_a_replay_at_a_past_moment_equals_what_the_wall_showed_then(r, keys, replay_keys, city) -> None:
    moments = feed_phases(r, keys, city, phases=6, per_phase=700, checkpoint_after={1, 3})
    before = every_key(r, keys)
    replay = Replay(r, keys, replay_keys, city, time_check=TimeCheck())
    for at_ms, shown in moments:  # each from its checkpoint (or from the start, before the first one)
        replay.rebuild(at_ms)
        assert picture(r, replay_keys, city) == shown
        assert replay.fed < 3 * 700  # never more than the entries after the checkpoint
    replay.rebuild(moments[0][0])  # then played forward through the rest, step by step
    for at_ms, shown in moments[1:]:
        replay.go_to(at_ms)
        assert picture(r, replay_keys, city) == shown
    assert read_wall_snapshot(r, replay_keys, city, stale_after_s=30).stale is False
    replay.close()
    assert every_key(r, keys) == before  # not one key of the replayed namespace written
    assert all(not r.xlen(replay_keys.events(domain)) for domain in DOMAINS)  # the replay's raw copies emptied


def test_history_reaches_back_to_the_oldest_checkpoint_once_entries_were_trimmed(r, keys, replay_keys, city) -> None:
    moments = feed_phases(r, keys, city, phases=3, per_phase=400, checkpoint_after={1})
    assert history_reach(r, keys).earliest_ms is not None  # nothing trimmed: the whole stream
    assert history_reach(r, keys).earliest_ms <= moments[0][0]  # type: ignore[operator]
    first = r.xrange(keys.events("traffic"), count=1)[0][0]
    r.xtrim(
        keys.events("traffic"), minid=str(int(first.split("-")[0]) + 1), approximate=False
    )  # the oldest entries aged out
    reach = history_reach(r, keys).earliest_ms
    assert reach is not None and moments[0][0] < reach <= moments[1][0]
    replay = Replay(r, keys, replay_keys, city)
    with pytest.raises(NotReplayable):
        replay.rebuild(moments[0][0])
    replay.rebuild(moments[2][0])
    assert picture(r, replay_keys, city) == moments[2][1]
    replay.close()


def test_replays_are_bounded_owned_and_removed_when_idle_or_closed(r, keys, city) -> None:
    base = keys.namespace
    moments = feed_phases(r, keys, city, phases=2, per_phase=300, checkpoint_after=set())
    opened = [
        open_replay(r, base, owner="a:1", source=base, at_ms=moments[0][0], max_replays=2, idle_s=60) for _ in range(3)
    ]
    assert opened[0] and opened[1] and opened[2] is None  # the third is refused: two are held
    runner = ReplayRunner(r, base, city, idle_s=60, time_check=TimeCheck())
    assert runner.run_once() == 2
    for namespace in opened[:2]:
        state = read_replay(r, namespace)  # type: ignore[arg-type]
        assert state is not None and state.status == "ready" and state.built_ms == moments[0][0]
        assert picture(r, Keys(namespace), city) == moments[0][1]  # type: ignore[arg-type]
        assert all(0 < r.ttl(key) <= 120 for key in r.scan_iter(match=Keys(namespace).all_keys_pattern()))  # type: ignore[arg-type]
    first, second = opened[0], opened[1]
    assert first and second
    ask(r, first, at_ms=moments[1][0])
    runner.run_once()
    assert picture(r, Keys(first), city) == moments[1][1]
    ask(r, first, playing=True, speed=600)
    assert runner.run_once(now=time.time() + 5) == 1  # plays on to the present and pauses there
    state = read_replay(r, first)
    assert state is not None and not state.playing and state.built_ms is not None
    assert state.built_ms >= moments[1][0]
    close_replay(r, base, first)  # back to live: its keys go at the next pass
    runner.run_once()
    assert not list(r.scan_iter(match=Keys(first).all_keys_pattern()))
    touch(r, base, second, 60)
    assert listed(r, base, 60) == [second]
    idle = ReplayRunner(r, base, city, idle_s=0.001, time_check=TimeCheck())
    idle.held = runner.held  # the same process, a moment later: the second was left idle
    time.sleep(0.01)
    idle.run_once()
    assert not list(r.scan_iter(match=Keys(second).all_keys_pattern()))
    assert open_replay(r, base, owner="a:1", source=base, at_ms=moments[0][0], max_replays=2, idle_s=0.001)
    wipe_namespace(r, home(base))


def test_a_checkpoint_taken_with_entries_in_flight_starts_at_the_oldest_of_them(r, keys, replay_keys, city) -> None:
    aggregator = Aggregator(r, keys, city, consumer="live-test")
    aggregator.setup()
    events = generate(city, load_scenario("normal-day"), 13, START)
    write_events(r, keys, islice(events, 500), maxlen=1_000_000)
    aggregator.drain()
    write_events(r, keys, islice(events, 500), maxlen=1_000_000)
    in_flight = aggregator.read_entries("traffic", ">", count=50)  # read (pending), not committed yet
    assert in_flight
    assert aggregator.take_checkpoints() >= 1
    newest = r.xrevrange(keys.checkpoints("traffic"), count=1)[0][0]
    assert newest == in_flight[0][0]  # the state holds none of them: the replay feeds them
    aggregator.drain()  # they are recovered and committed, with the rest
    aggregator.close()
    time.sleep(0.005)
    moment = int(time.time() * 1000)
    shown = picture(r, keys, city)
    replay = Replay(r, keys, replay_keys, city)
    replay.rebuild(moment)
    assert picture(r, replay_keys, city) == shown
    replay.close()
