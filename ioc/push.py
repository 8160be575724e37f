"""The wall's change bell: one reader per web process watches the data stamp while push streams are open and rings
every stream when it changes; the screens then ask their usual tick for what changed (the tick stays the one place
that works out what a screen is sent). A bounded number of streams per process (each holds a gunicorn thread).

The reader asks Redis for the data stamp (ioc.snapshot.read_data_stamp) every `interval_s` and only while a stream
is open: a handful of small reads a second per process whatever the number of screens, cluster-safe, nothing to
configure in Redis. Redis away: no ring (the screens' own polling shows the stale banner), and the reader goes on
asking until Redis answers again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

IDLE_STOP_S: Final = 5.0  # the reader stops this long after the last stream closed (started again by the next)
MAX_AGE_JITTER: Final = 0.25  # a stream's lifetime is its maximum age give or take this share, so screens spread out


class StampWatch:
    """Rings (a sequence number that grows) each time the version `read` gives changes, reading it every `interval_s`
    while at least one listener is open. `read` returns None when the version cannot be read (nothing rings then)."""

    def __init__(self, read: Callable[[], str | None], *, interval_s: float) -> None:
        self._read = read
        self.interval_s = interval_s
        self._cond = threading.Condition()
        self._version: str | None = None
        self._rings = 0
        self._listeners = 0
        self._idle_since: float | None = None
        self._thread: threading.Thread | None = None

    @property
    def rings(self) -> int:
        """How many changes were seen so far (a listener remembers the count it has answered)."""
        with self._cond:
            return self._rings

    @property
    def listeners(self) -> int:
        """How many listeners are open."""
        with self._cond:
            return self._listeners

    def listen(self) -> int:
        """A listener opens (the reader starts if it is not running); the current ring count."""
        with self._cond:
            self._listeners += 1
            self._idle_since = None
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ioc-push-watch", daemon=True)
                self._thread.start()
            return self._rings

    def leave(self) -> None:
        """A listener closes."""
        with self._cond:
            self._listeners = max(0, self._listeners - 1)
            if self._listeners == 0:
                self._idle_since = time.monotonic()

    def wait(self, seen: int, timeout_s: float) -> int:
        """The ring count once it differs from `seen`, or `seen` after `timeout_s`."""
        with self._cond:
            self._cond.wait_for(lambda: self._rings != seen, timeout=max(0.0, timeout_s))
            return self._rings

    def _run(self) -> None:
        """The reader: the version every interval while anyone listens; rings on each change after the first read."""
        while True:
            with self._cond:
                idle = self._idle_since
                if self._listeners == 0 and idle is not None and time.monotonic() - idle >= IDLE_STOP_S:
                    self._thread = None
                    self._version = None  # the next reader starts from what it reads then
                    return
            try:
                version = self._read()
            except Exception:  # a reader that dies would leave every stream silent: log and try again
                log.exception("reading the data version for push failed")
                version = None
            if version is not None:
                with self._cond:
                    if self._version is not None and version != self._version:
                        self._rings += 1
                        self._cond.notify_all()
                    self._version = version
            time.sleep(self.interval_s)


class StreamSlots:
    """At most `size` push streams open in this process at once (each holds a web thread), counted for metrics."""

    def __init__(self, size: int, on_change: Callable[[int], None] | None = None) -> None:
        self.size = size
        self._open = 0
        self._lock = threading.Lock()
        self._on_change = on_change

    @property
    def open(self) -> int:
        """How many streams are open."""
        with self._lock:
            return self._open

    def take(self) -> bool:
        """One slot if one is free (True), else False: the screen goes on polling."""
        with self._lock:
            if self._open >= self.size:
                return False
            self._open += 1
            if self._on_change is not None:
                self._on_change(1)
            return True

    def give_back(self) -> None:
        """A stream closed."""
        with self._lock:
            if self._open > 0:
                self._open -= 1
                if self._on_change is not None:
                    self._on_change(-1)


class RingPacer:
    """One stream's pace: a ring goes out at once unless the last one went out less than `min_interval_s` ago; then
    it waits for the rest of that interval, and whatever rang meanwhile goes out as that one ring."""

    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._last_sent: float | None = None

    def hold_s(self, now: float) -> float:
        """How long a ring due now waits (0: at once)."""
        if self._last_sent is None:
            return 0.0
        return max(0.0, self._last_sent + self.min_interval_s - now)

    def sent(self, now: float) -> None:
        """A ring went out now."""
        self._last_sent = now


def stream_lifetime_s(max_age_s: float, rng: random.Random | None = None) -> float:
    """How long one stream stays open before the screen is told to reconnect: `max_age_s` give or take
    MAX_AGE_JITTER, so after a restart the screens leave their worker at different times and spread over all."""
    spread = (rng or random).uniform(-MAX_AGE_JITTER, MAX_AGE_JITTER)
    return max_age_s * (1.0 + spread)


class StampWatches:
    """This process's bells, one per namespace a screen watches (live, or a trainee's exercise), at most `size`:
    a namespace nobody listens to makes room for a new one (its reader has stopped or soon stops by itself)."""

    def __init__(self, make: Callable[[str], StampWatch], size: int = 64) -> None:
        self._make = make
        self.size = size
        self._watches: dict[str, StampWatch] = {}
        self._lock = threading.Lock()

    def of(self, namespace: str) -> StampWatch:
        """The bell of this namespace (made on first use)."""
        with self._lock:
            watch = self._watches.get(namespace)
            if watch is None:
                if len(self._watches) >= self.size:
                    for name, kept in list(self._watches.items()):
                        if kept.listeners == 0:
                            del self._watches[name]
                watch = self._watches[namespace] = self._make(namespace)
            return watch

    @property
    def namespaces(self) -> list[str]:
        """The namespaces with a bell now."""
        with self._lock:
            return list(self._watches)
