"""The replay runner (`ioc replayer`): the one process that builds and plays replays, so web workers never read a raw
stream nor hold a replay. Every pass it reads the list of replays (ioc/replay/registry.py): a new moment asked for is
built (stepped forward, or rebuilt from a checkpoint), a playing replay is stepped forward by its speed times the time
since its last step (pausing when it reaches the present), replays left idle or closed have their keys removed, and
the keys of the others are given more time to live."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Final

import redis

from ioc.city import City
from ioc.clock import TimeCheck
from ioc.cluster import Client
from ioc.keys import Keys
from ioc.replay.builder import NotReplayable, Replay
from ioc.replay.registry import ReplayState, listed, read_replay, record_built, record_refused

log = logging.getLogger(__name__)

PASS_EVERY_S: Final = 0.25
EXPIRE_EVERY_S: Final = 30.0
MAX_STEP_S: Final = 600.0  # history seconds one playing step may feed, so a pass stays short at any speed


@dataclass
class _Held:
    replay: Replay
    seq: int = 0
    stepped_at: float = 0.0
    expired_at: float = 0.0


class ReplayRunner:
    """Builds and plays the replays of one base namespace (see the module's docstring)."""

    def __init__(
        self, client: Client, base: str, city: City, *, idle_s: float, time_check: TimeCheck, batch_size: int = 500
    ) -> None:
        self.client = client
        self.base = base
        self.city = city
        self.idle_s = idle_s
        self.time_check = time_check
        self.batch_size = batch_size
        self.held: dict[str, _Held] = {}

    def run_forever(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set; Redis going away is waited out."""
        log.info("replay runner on namespace %r", self.base)
        while not stop.is_set():
            try:
                self.run_once()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("Redis unreachable (%s); retrying", exc)
                self.held.clear()
                stop.wait(2.0)
            stop.wait(PASS_EVERY_S)
        for held in self.held.values():
            held.replay.close()

    def run_once(self, now: float | None = None) -> int:
        """One pass over the listed replays; how many were built or stepped."""
        now = time.time() if now is None else now
        wanted = set(listed(self.client, self.base, self.idle_s))
        for namespace in sorted(self.held.keys() - wanted):
            self.drop(namespace)
        worked = 0
        for namespace in sorted(wanted):
            state = read_replay(self.client, namespace)
            if state is None or state.source == namespace:
                continue
            try:
                worked += self._serve(state, now)
            except (redis.ConnectionError, redis.TimeoutError):
                raise
            except Exception as exc:  # a bug or a broken key in one replay must not stop the others
                log.exception("replay %s failed", namespace)
                self.held.pop(namespace, None)
                record_refused(self.client, state, f"internal error: {exc!r}"[:300])
        return worked

    def drop(self, namespace: str) -> None:
        """Remove a replay that was closed or left idle: its keys go."""
        held = self.held.pop(namespace, None)
        replay = held.replay if held is not None else self._replay(namespace, namespace)
        replay.close()
        replay.clear()
        self.client.delete(Keys(namespace).replay())
        log.info("replay %s removed", namespace)

    def _replay(self, namespace: str, source: str) -> Replay:
        return Replay(
            self.client,
            Keys(source),
            Keys(namespace),
            self.city,
            time_check=self.time_check,
            batch_size=self.batch_size,
        )

    def _serve(self, state: ReplayState, now: float) -> int:
        held = self.held.get(state.namespace)
        if held is None:
            held = self.held[state.namespace] = _Held(self._replay(state.namespace, state.source))
        replay = held.replay
        now_ms = int(now * 1000)
        worked = 0
        rebuilt = False
        playing = state.playing
        try:
            if held.seq != state.seq or replay.built_ms is None:
                if state.status == "refused" and held.seq == state.seq:
                    return 0
                rebuilt = replay.go_to(min(state.asked_ms, now_ms))
                held.seq, held.stepped_at, worked = state.seq, now, 1
            elif playing:
                step_ms = int(min((now - held.stepped_at) * state.speed, MAX_STEP_S) * 1000)
                if step_ms > 0:
                    target = min(replay.built_ms + step_ms, now_ms)
                    rebuilt = replay.go_to(target)
                    playing = target < now_ms
                    worked = 1
                held.stepped_at = now
        except NotReplayable as exc:
            held.seq = state.seq
            record_refused(self.client, state, str(exc))
            return 0
        if worked and replay.built_ms is not None:
            record_built(self.client, state, built_ms=replay.built_ms, playing=playing, seq=state.seq)
        if rebuilt or now - held.expired_at >= EXPIRE_EVERY_S:  # a step's new keys get theirs at the next round
            replay.expire(int(self.idle_s * 2))
            held.expired_at = now
        return worked
