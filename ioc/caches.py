"""A bounded per-process cache of values that hold while a version read from Redis stays the same: the web's
principals (ioc.identity.changes) and the wall's shared picture per data version (callbacks/wall/tick.py)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class VersionedCache(Generic[T]):
    """A bounded, thread-safe per-process cache of values loaded under a version: an entry is used while the version
    read now is the one it was loaded under and it is younger than `max_age_s`; a version of None uses nothing."""

    def __init__(self, *, max_age_s: float, size: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[str, float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, key: str, version: str | None, load: Callable[[], T], *, keep: Callable[[T], bool] | None = None
    ) -> T:
        """The value kept for `key` if still valid under `version`, else `load()`, kept when a version is known (and
        `keep` of it is true, when given). A cache of size 0 keeps nothing."""
        if version is None or self.size <= 0:
            return load()
        now = self._clock()
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None and kept[0] == version and now - kept[1] < self.max_age_s:
                self._entries.move_to_end(key)
                return kept[2]
        value = load()  # its age counts from before the load: a change committed meanwhile is still bounded
        if keep is not None and not keep(value):
            return value
        with self._lock:
            self._entries[key] = (version, now, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    def __len__(self) -> int:
        """How many entries are kept."""
        return len(self._entries)
