"""The namespace's clock: real time, or simulated time a simulator declared, and the event-time check against it.

A reading's event time (`ts`) is checked against the time Redis received it (its stream entry id), so one sensor
with a wrong clock can never move the city clock, freeze a sensor's state or mark other devices offline. Under
real time an event may be at most `max_ahead_s` ahead of its receive time and `max_behind_s` behind it.

A simulator (or a training replay) plays days faster than real time, or a date in the past. It declares so once,
in the namespace's clock hash: "event time `sim` at real time `real`, advancing `speed` times as fast". Events are
then checked against that simulated clock instead. How old (and how far ahead) a reading may be is measured on the
city's clock whatever its speed: `max_behind_s` of city time (a day), not `speed` days; the speed only widens the
allowance for delivery, since a reading `DELIVERY_ALLOWANCE_S` real seconds late is `speed` times that behind in
simulated time (at ×60: a day and half an hour behind, 5 min and half an hour ahead; a 60-day-old reading is
refused). The declaration is
kept until `ioc clock --real` clears it, and the wall shows that the namespace runs on simulated time. This module
is the only one that knows the stored form of the declaration.

A declaration may also be paused: the simulated clock then stands still at `sim` (a training exercise paused, or
one whose scenario ended), so nothing on that clock (incident limits, the device watchdog) moves while nobody plays.
How a declaration ends: `ioc simulate` in the live namespace leaves it in place when its scenario ends (the city
stays on the simulated time it reached until `ioc clock --real`); an exercise's runner pauses it at the point the
exercise stopped or its scenario ended, and `ioc exercises reset` deletes it with the rest of the namespace.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Final

from ioc.cluster import Client
from ioc.keys import Keys

DEFAULT_MAX_AHEAD_S: Final = 300.0
DEFAULT_MAX_BEHIND_S: Final = 86_400.0
DELIVERY_ALLOWANCE_S: Final = 30.0  # real seconds a reading may take from its producer to Redis


@dataclass(frozen=True)
class Timebase:
    """How event time relates to real time in a namespace: equal, or a declared simulated clock."""

    sim: float | None = None  # event time (epoch s) at real time `real`; None: real time
    real: float = 0.0
    speed: float = 1.0  # event seconds per real second
    source: str = ""  # who declared it (e.g. "simulator normal-day")
    paused: bool = False  # the simulated clock stands still at `sim`

    @property
    def simulated(self) -> bool:
        """Whether the namespace runs on a declared simulated clock."""
        return self.sim is not None

    def expected(self, receive_s: float) -> float:
        """The event time a reading received at `receive_s` (real epoch seconds) should carry."""
        if self.sim is None:
            return receive_s
        if self.paused:
            return self.sim
        return self.sim + (receive_s - self.real) * self.speed

    def now(self) -> float:
        """The namespace's clock now: real time, or the simulated time it has reached."""
        return self.expected(time.time())

    def encode(self) -> dict[str, str]:
        """The stored form (a Redis hash)."""
        if self.sim is None:
            return {}
        stored = {
            "sim": f"{self.sim:.3f}",
            "real": f"{self.real:.3f}",
            "speed": repr(self.speed),
            "source": self.source,
        }
        if self.paused:
            stored["paused"] = "1"
        return stored


REAL_TIME: Final = Timebase()


def decode_timebase(mapping: dict[str, str] | None) -> Timebase:
    """A timebase from its stored hash; real time when absent or damaged (a damaged one is never trusted)."""
    if not mapping:
        return REAL_TIME
    try:
        sim, real, speed = float(mapping["sim"]), float(mapping["real"]), float(mapping["speed"])
    except (KeyError, ValueError):
        return REAL_TIME
    if not all(map(math.isfinite, (sim, real, speed))) or speed <= 0:
        return REAL_TIME
    return Timebase(sim, real, speed, str(mapping.get("source", "")), mapping.get("paused") == "1")


def read_timebase(client: Client, keys: Keys) -> Timebase:
    """The namespace's declared clock (real time if none)."""
    return decode_timebase(client.hgetall(keys.clock()))


def declare_simulated(
    client: Client,
    keys: Keys,
    *,
    start: float,
    speed: float,
    source: str,
    now: float | None = None,
    paused: bool = False,
) -> Timebase:
    """Declare that the namespace's events run on a simulated clock at event time `start` now, `speed` times as
    fast as real time (standing still at `start` if `paused`); returns the declaration."""
    if not (math.isfinite(start) and math.isfinite(speed) and speed > 0):
        raise ValueError(f"a simulated clock needs a finite start and a positive speed, got {start}, {speed}")
    timebase = Timebase(start, time.time() if now is None else now, speed, source, paused)
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.clock())
    pipe.hset(keys.clock(), mapping=timebase.encode())
    pipe.execute()
    return timebase


REPLAY_SPEED: Final = 3_600.0  # a replay written all at once: up to an hour of event time per real second


def declare_replay(client: Client, keys: Keys, *, start: float, source: str) -> Timebase:
    """Declare a replay of recorded or generated events from event time `start`, written as fast as Redis takes
    them (tests, benchmarks, a trainer loading a past day): a simulated clock at REPLAY_SPEED."""
    return declare_simulated(client, keys, start=start, speed=REPLAY_SPEED, source=source)


def declare_real(client: Client, keys: Keys) -> None:
    """Return the namespace to real time (real sensors only)."""
    client.delete(keys.clock())


def receive_time(entry_id: str, now: float) -> float:
    """When Redis received an entry (epoch s), from its id; never later than `now`, since a producer may choose an
    id in the future and must not move the clock that judges it."""
    return min(int(entry_id[: entry_id.index("-")]) / 1000.0, now)


def span(seconds: float) -> str:
    """A duration as a person says it: '40 s', '12 min', '5 h', '3 days', '73 years'."""
    seconds = abs(seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7_200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f} h"
    if seconds < 2 * 365.25 * 86_400:
        return f"{seconds / 86_400:.0f} days"
    return f"{seconds / (365.25 * 86_400):.0f} years"


@dataclass(frozen=True)
class TimeCheck:
    """The rule for event times: how far ahead of and behind the (real or simulated) clock a reading may be."""

    max_ahead_s: float = DEFAULT_MAX_AHEAD_S
    max_behind_s: float = DEFAULT_MAX_BEHIND_S

    def bounds(self, timebase: Timebase, receive_s: float) -> tuple[float, float]:
        """The accepted event times of a reading received at receive_s: the tolerances in city time, widened on a
        faster clock by the delivery allowance as the clock counts it (see the module's note)."""
        slack = DELIVERY_ALLOWANCE_S * (max(1.0, timebase.speed) - 1.0)
        expected = timebase.expected(receive_s)
        return expected - self.max_behind_s - slack, expected + self.max_ahead_s + slack

    def window(self, timebase: Timebase, first_s: float, last_s: float) -> tuple[float, float]:
        """Event times surely accepted for every reading received between first_s and last_s (the batch's ids):
        a reading outside needs the exact check of its own."""
        return self.bounds(timebase, last_s)[0], self.bounds(timebase, first_s)[1]

    def problem(self, timebase: Timebase, at: float, receive_s: float) -> str:
        """Why event time `at` is not credible for a reading received at receive_s, or ""."""
        low, high = self.bounds(timebase, receive_s)
        if low <= at <= high:
            return ""
        clock = (
            f"the simulated clock (×{timebase.speed:g}, {timebase.source or 'declared'}) at receive time"
            if timebase.simulated
            else "receive time"
        )
        expected = timebase.expected(receive_s)
        if at > high:
            return (
                f"ts is {span(at - expected)} ahead of {clock}; at most {span(high - expected)} ahead is "
                f"accepted (a sensor clock is wrong)"
            )
        return (
            f"ts is {span(expected - at)} behind {clock}; at most {span(expected - low)} behind is accepted "
            f"(too old to change the live picture)"
        )


def describe(timebase: Timebase) -> dict[str, Any]:
    """The declaration as plain values, for `ioc clock` and the wall."""
    if not timebase.simulated:
        return {"mode": "real"}
    return {
        "mode": "simulated",
        "speed": timebase.speed,
        "now": timebase.now(),
        "source": timebase.source,
        "declared_at": timebase.real,
        "paused": timebase.paused,
    }
