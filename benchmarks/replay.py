"""Replay of the wall's history: `hours` of the seeded normal day (Tam Kỳ's own rate, about 108,000 events a day)
written into the raw streams under their event times as ids (a history received as it happened), consumed by the
aggregator ten minutes of history at a time with its checkpoint after each (as it takes one every
IOC_REPLAY_CHECKPOINT_MIN minutes); then moments spread over the history rebuilt (newest checkpoint, then the raw
entries after it), one day rebuilt from its first checkpoint (what a replay would cost with no checkpoints in
between), and a playing replay stepped forward a minute of history at a time. Reports the times, the entries each
read, the memory of a replay namespace and of the day's checkpoints, and checks each moment against the live
picture: the last moment is now, where the replay must equal what the wall shows."""

from __future__ import annotations

import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Final

from benchmarks.throughput import wipe
from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.cluster import Client
from ioc.keys import DOMAINS, Keys
from ioc.replay import Replay
from ioc.snapshot import read_wall_snapshot
from simulators import load_scenario
from simulators.engine import SimEvent, generate

CHUNK_S: Final = 600.0  # history the aggregator consumes between two checkpoints
PIPELINE: Final = 2_000
PLAY_STEP_S: Final = 60  # history seconds a playing replay is stepped by


def _memory(client: Client, keys: Keys) -> int:
    """Bytes of every key of a namespace (MEMORY USAGE)."""
    return sum(int(client.memory_usage(key, samples=0) or 0) for key in client.scan_iter(match=keys.all_keys_pattern()))


def _write(client: Client, keys: Keys, events: list[SimEvent], last: dict[str, tuple[int, int]]) -> None:
    """Append events with their event time as the entry id (received as it happened), ids kept increasing."""
    for first in range(0, len(events), PIPELINE):
        pipe = client.pipeline(transaction=False)
        for event in events[first : first + PIPELINE]:
            ms = int(event.at * 1000)
            prior = last.get(event.domain, (0, -1))
            entry = (ms, 0) if ms > prior[0] else (prior[0], prior[1] + 1)
            last[event.domain] = entry
            pipe.xadd(keys.events(event.domain), event.fields, id=f"{entry[0]}-{entry[1]}")
        pipe.execute()


def _shown(client: Client, keys: Keys, city: City) -> tuple[Any, ...]:
    """What the wall shows of a namespace that a replay must reproduce (clock, figures, every sensor's state)."""
    snap = read_wall_snapshot(client, keys, city, stale_after_s=1e9)
    return (snap.clock, snap.kpis, snap.segments, snap.stations, snap.gauges, snap.health, snap.active_alerts)


def measure_replay(
    client: Client, city: City, *, hours: float = 24.0, moments: int = 5, seed: int = 1
) -> dict[str, Any]:
    """Write `hours` of history as it would have arrived, consume it with checkpoints, and measure replays of it."""
    keys = Keys(f"bench-replay-{uuid.uuid4().hex[:8]}")
    target = Keys(f"{keys.namespace}-rp{uuid.uuid4().hex[:16]}")
    now = time.time() - 60
    start = now - hours * 3600
    aggregator = Aggregator(client, keys, city, consumer="bench-replay")
    aggregator.setup()
    events = generate(city, load_scenario("normal-day"), seed, datetime.fromtimestamp(start, UTC))
    last: dict[str, tuple[int, int]] = {}
    written = checkpoints = 0
    started = time.perf_counter()
    chunk_end = start + CHUNK_S
    pending: list[SimEvent] = []
    for event in events:
        if event.at > now:
            break
        if event.at > chunk_end:
            _write(client, keys, pending, last)
            written += len(pending)
            pending = []
            aggregator.drain()
            checkpoints += aggregator.take_checkpoints()
            chunk_end += CHUNK_S
        pending.append(event)
    _write(client, keys, pending, last)
    written += len(pending)
    aggregator.drain()
    aggregator.close()
    generated_s = time.perf_counter() - started
    live = _shown(client, keys, city)
    checkpoint_bytes = sum(int(client.memory_usage(keys.checkpoints(d), samples=0) or 0) for d in DOMAINS)
    raw_bytes = sum(int(client.memory_usage(keys.events(d), samples=0) or 0) for d in DOMAINS)
    try:
        replay = Replay(client, keys, target, city)
        rebuilds: list[float] = []
        fed: list[int] = []
        span_s = now - start - CHUNK_S
        for n in range(moments):
            at = now - span_s + span_s * n / max(moments - 1, 1) if moments > 1 else now
            began = time.perf_counter()
            replay.rebuild(int(at * 1000))
            rebuilds.append(time.perf_counter() - began)
            fed.append(replay.fed)
        equal_now = _shown(client, target, city) == live  # the last moment is now: the wall's picture
        replay_bytes = _memory(client, target)
        first = int((start + CHUNK_S) * 1000)
        replay.rebuild(first)
        began = time.perf_counter()
        replay.advance(int(now * 1000))
        whole_day_s = time.perf_counter() - began
        whole_day_fed = replay.fed
        equal_after_day = _shown(client, target, city) == live
        replay.rebuild(int((now - 3600) * 1000))
        steps: list[float] = []
        for _ in range(30):
            began = time.perf_counter()
            replay.advance(replay.built_ms + PLAY_STEP_S * 1000)  # type: ignore[operator]
            steps.append(time.perf_counter() - began)
        replay.close()
    finally:
        wipe(client, keys)
        wipe(client, target)
    return {
        "replay_hours": hours,
        "replay_events": written,
        "replay_checkpoints": checkpoints,
        "replay_history_write_s": round(generated_s, 1),
        "replay_raw_bytes": raw_bytes,
        "replay_checkpoint_bytes": checkpoint_bytes,
        "replay_rebuild_s": [round(s, 3) for s in rebuilds],
        "replay_rebuild_median_s": round(statistics.median(rebuilds), 3),
        "replay_rebuild_entries": fed,
        "replay_namespace_bytes": replay_bytes,
        "replay_whole_history_s": round(whole_day_s, 2),
        "replay_whole_history_entries": whole_day_fed,
        "replay_play_step_median_ms": round(statistics.median(steps) * 1000, 1),
        "replay_checks": {"now_equals_live": equal_now, "whole_history_equals_live": equal_after_day},
    }


def describe_replay(figures: dict[str, Any]) -> list[str]:
    """The replay figures as printed lines."""
    failed = [name for name, ok in figures["replay_checks"].items() if not ok]
    return [
        f"replay of history:       {figures['replay_events']:,} events over {figures['replay_hours']:g} h "
        f"(written and consumed in {figures['replay_history_write_s']} s, {figures['replay_checkpoints']} "
        f"checkpoints, {figures['replay_checkpoint_bytes']:,} bytes; raw streams "
        f"{figures['replay_raw_bytes']:,} bytes)",
        f"  {'rebuild a moment:':<22}median {figures['replay_rebuild_median_s']} s ({figures['replay_rebuild_s']} s, "
        f"entries read after the checkpoint {figures['replay_rebuild_entries']})",
        f"  {'whole history:':<22}{figures['replay_whole_history_s']} s for "
        f"{figures['replay_whole_history_entries']:,} entries from the first checkpoint (no checkpoint in between)",
        f"  {'playing, 1 min steps:':<22}median {figures['replay_play_step_median_ms']} ms a step",
        f"  {'replay namespace:':<22}{figures['replay_namespace_bytes']:,} bytes",
        f"  {'equals the live wall:':<22}{'yes' if not failed else 'NO: ' + ', '.join(failed)}",
    ]
