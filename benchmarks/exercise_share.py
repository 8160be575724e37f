"""What a training exercise played at ×60 costs the aggregator next to the live city: the same minutes of a live
normal day (×1) and of an exercise (60 times as many simulated minutes, in its own namespace), drained by one
aggregator loop (`ConsumerSet`, one consumer per namespace, as `ioc aggregator` runs them) alone and together.

The exercise's cost share is the time the loop spends beyond the live city alone, over the time for both; its event
share is its events over both namespaces' events. The target: the cost share is at most the event share (the ratio
at most 1), so an exercise costs its events and nothing for being a namespace of its own. Rounds alternate the
three drains over fresh byte-identical copies (after one round not counted, which warms up), so a noisy shared
machine disturbs them alike; medians are reported.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Iterable
from itertools import takewhile
from typing import Any, Final

from benchmarks.throughput import BENCH_START, copy_namespace, wipe
from ioc import namespaces
from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.cluster import Client
from ioc.keys import Keys
from ioc.streams import ConsumerSet
from simulators import load_scenario
from simulators.engine import SimEvent, generate
from simulators.runner import write_events

EXERCISE_SPEED: Final = 60.0
EXERCISE_SCENARIO: Final = "rush-hour-crash"
MAXLEN: Final = 1_000_000


def _window(events: Iterable[SimEvent], seconds: float) -> list[SimEvent]:
    """The events of the first `seconds` of simulated time."""
    end = BENCH_START.timestamp() + seconds
    return list(takewhile(lambda event: event.at < end, events))


def drain_together(client: Client, city: City, spaces: list[Keys], batch_size: int) -> int:
    """Drain the namespaces' raw streams with one aggregator loop holding a consumer for each (until a pass over all
    of them handles nothing); the entries handled."""
    loop = ConsumerSet(
        lambda namespace: Aggregator(client, Keys(namespace), city, consumer="bench", batch_size=batch_size),
        lambda: [keys.namespace for keys in spaces],
        refresh_every_s=float("inf"),
    )
    loop.refresh()
    total = 0
    while True:
        now = time.monotonic()
        handled = sum(loop.step(member, now, periodic_every_s=2.0) for member in loop.members.values())
        if not handled:
            break
        total += handled
    for member in loop.members.values():
        member.consumer.settle()
        member.consumer.close()
    return total


def measure_exercise_share(
    client: Client, city: City, *, live_minutes: float, rounds: int, batch_size: int, seed: int
) -> dict[str, Any]:
    """Drain times of live alone, the exercise alone and both in one loop (see the module's docstring)."""
    base = f"bench-x{uuid.uuid4().hex[:6]}"
    live_src, exercise_src = Keys(f"{base}-live-src"), Keys(f"{base}-ex-src")
    live_events = _window(generate(city, load_scenario("normal-day"), seed, BENCH_START), live_minutes * 60)
    exercise_events = _window(
        generate(city, load_scenario(EXERCISE_SCENARIO), seed + 1, BENCH_START), live_minutes * 60 * EXERCISE_SPEED
    )
    live_count = write_events(client, live_src, live_events, maxlen=MAXLEN)
    exercise_count = write_events(client, exercise_src, exercise_events, maxlen=MAXLEN)
    times: dict[str, list[float]] = {"live": [], "exercise": [], "both": []}
    try:
        for n in range(rounds + 1):  # the first warms up (imports, scripts loaded, first groups) and is not counted
            live = Keys(f"{base}-r{n}")
            exercise = Keys(namespaces.exercise_namespace(live.namespace, 1))
            copies = {"live": [live], "exercise": [exercise], "both": [live, exercise]}
            for name, spaces in copies.items():
                for keys in spaces:
                    copy_namespace(client, live_src if keys is live else exercise_src, keys)
                started = time.perf_counter()
                handled = drain_together(client, city, spaces, batch_size)
                if n:
                    times[name].append(time.perf_counter() - started)
                expected = {"live": live_count, "exercise": exercise_count}.get(name, live_count + exercise_count)
                if handled != expected:
                    raise RuntimeError(f"{name}: the aggregator handled {handled} of {expected} events")
                for keys in spaces:
                    wipe(client, keys)
    finally:
        wipe(client, live_src)
        wipe(client, exercise_src)
    live_s, exercise_s, both_s = (statistics.median(times[k]) for k in ("live", "exercise", "both"))
    event_share = exercise_count / (live_count + exercise_count)
    cost_shares = [(b - a) / b for a, b in zip(times["live"], times["both"], strict=True)]
    cost_share = statistics.median(cost_shares)
    return {
        "exercise_live_minutes": live_minutes,
        "exercise_live_events": live_count,
        "exercise_events": exercise_count,
        "exercise_rounds": rounds,
        "exercise_live_alone_s": round(live_s, 4),
        "exercise_alone_s": round(exercise_s, 4),
        "exercise_both_s": round(both_s, 4),
        "exercise_event_share": round(event_share, 4),
        "exercise_cost_share": round(cost_share, 4),
        "exercise_cost_share_per_round": [round(c, 4) for c in cost_shares],
        "exercise_cost_ratio": round(cost_share / event_share, 3),
        "exercise_together_vs_apart": round(both_s / (live_s + exercise_s), 3),
    }


def describe_exercise_share(figures: dict[str, Any]) -> list[str]:
    """The figures in words."""
    return [
        f"exercise at ×{EXERCISE_SPEED:g} beside live: {figures['exercise_live_minutes']:g} min of live "
        f"({figures['exercise_live_events']:,} events) and of {EXERCISE_SCENARIO} ({figures['exercise_events']:,} "
        f"events), {figures['exercise_rounds']} rounds: live alone {figures['exercise_live_alone_s']} s, the exercise "
        f"alone {figures['exercise_alone_s']} s, both in one loop {figures['exercise_both_s']} s "
        f"(×{figures['exercise_together_vs_apart']} of apart)",
        f"exercise's share:        {figures['exercise_cost_share']:.1%} of the aggregator's time for "
        f"{figures['exercise_event_share']:.1%} of the events: ratio {figures['exercise_cost_ratio']} "
        f"(target <= 1; rounds {figures['exercise_cost_share_per_round']})",
    ]
