"""One kind of consumer over several key namespaces: the base one (live) and each active training exercise's, in
one loop of one process. Each namespace has its own consumer (its keys, groups, caches and heartbeat), so nothing of
one exercise reaches another or live; the set follows the exercises set in Redis (`ioc.namespaces`), looked at
every few seconds: a new exercise's consumer is set up (group, pending entries) and joins the loop, a stopped
one's finishes its work in flight and leaves. A failing namespace (a key someone broke, a stream deleted by a reset)
is backed off alone while the others flow on.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final

import redis

from ioc.streams.consumer import BACKOFF_FIRST_S, BACKOFF_MAX_S, CLUSTER_TROUBLE, UNREACHABLE, StreamConsumer

log = logging.getLogger(__name__)

REFRESH_EVERY_S: Final = 2.0


@dataclass
class _Member:
    """One namespace's consumer and where it stands in the loop."""

    consumer: StreamConsumer[Any]
    ready: bool = False
    retry_at: float = 0.0
    backoff: float = BACKOFF_FIRST_S
    trouble_since: float | None = None
    last_periodic: float = 0.0


class ConsumerSet:
    """Consumers of one kind, one per namespace, run in one loop (see the module's docstring)."""

    def __init__(
        self,
        make: Callable[[str], StreamConsumer[Any]],
        namespaces: Callable[[], Collection[str]],
        *,
        announce: Callable[[Collection[str]], None] | None = None,
        refresh_every_s: float = REFRESH_EVERY_S,
    ) -> None:
        self.make = make
        self.namespaces = namespaces  # the namespaces to follow now (read at each refresh)
        self.announce = announce  # told, each pass, which namespaces this loop holds
        self.refresh_every_s = refresh_every_s
        self.members: dict[str, _Member] = {}
        self._refreshed = -float("inf")

    @classmethod
    def of(cls, consumer: StreamConsumer[Any]) -> ConsumerSet:
        """A set of one consumer that never changes (StreamConsumer.run_forever)."""
        members = cls(lambda _ns: consumer, lambda: ("",))
        members.members[""] = _Member(consumer)
        members._refreshed = float("inf")
        return members

    def refresh(self) -> None:
        """Follow the namespaces there are now: consumers made for new ones, finished and closed for gone ones."""
        wanted = set(self.namespaces())
        for namespace in sorted(wanted - self.members.keys()):
            self.members[namespace] = _Member(self.make(namespace))
            log.info("now consuming namespace %s", namespace)
        for namespace in sorted(self.members.keys() - wanted):
            self._drop(namespace)
        self._refreshed = time.monotonic()

    def _drop(self, namespace: str) -> None:
        member = self.members.pop(namespace)
        try:
            member.consumer.settle()
        except (*UNREACHABLE, *CLUSTER_TROUBLE, redis.ResponseError) as exc:
            log.warning("namespace %s left with work unconfirmed (%s); it stays pending", namespace, exc)
            member.consumer.abandon()
        member.consumer.close()
        log.info("stopped consuming namespace %s", namespace)

    def step(self, member: _Member, now: float, periodic_every_s: float) -> int:
        """One pass of one namespace's consumer: set up if needed, new entries, its own left-overs, stalled ones,
        the periodic check, the heartbeat; how many entries it handled."""
        consumer = member.consumer
        if not member.ready:
            consumer.setup()
            consumer.recover()
            consumer.claim_stuck()
            member.ready = True
            if member.trouble_since is not None:
                consumer.log.info("Redis answers again after %.0f s; consuming", now - member.trouble_since)
                member.trouble_since = None
        handled = consumer.run_once()
        if not handled:
            consumer.flush()
        if consumer.recover_due:
            handled += consumer.recover()
        if consumer.claim_due(time.monotonic()):
            handled += consumer.claim_stuck()
        if now - member.last_periodic >= periodic_every_s:
            consumer.periodic()
            member.last_periodic = now
        consumer.heartbeat(handled)
        member.backoff = BACKOFF_FIRST_S
        return handled

    def run_forever(
        self, stop: threading.Event, idle_wait_s: float | None = None, periodic_every_s: float = 2.0
    ) -> None:
        """Run until `stop` is set; a lost or refusing Redis (or a consumer's transient error) in a namespace is waited
        for and retried, never fatal; anything else ends the loop with the work in flight abandoned."""
        while not stop.is_set():
            now = time.monotonic()
            if now - self._refreshed >= self.refresh_every_s:
                try:
                    self.refresh()
                except (*UNREACHABLE, *CLUSTER_TROUBLE) as exc:
                    log.warning("cannot read the namespaces to follow (%s); keeping the ones there are", exc)
                    self._refreshed = now
            handled = 0
            for member in list(self.members.values()):
                if member.retry_at > now:
                    continue
                consumer = member.consumer
                try:
                    handled += self.step(member, now, periodic_every_s)
                except (*UNREACHABLE, *CLUSTER_TROUBLE, redis.ResponseError, *consumer.transient_errors) as exc:
                    consumer.abandon()
                    consumer.report_pause(exc, member.backoff)
                    member.ready = False  # after an outage, check the group and our pending entries again
                    member.trouble_since = member.trouble_since or now
                    member.retry_at = time.monotonic() + member.backoff
                    member.backoff = min(member.backoff * 2, BACKOFF_MAX_S)
                except BaseException:
                    self._abandon_all()
                    raise
            if self.announce is not None:
                with contextlib.suppress(*UNREACHABLE, *CLUSTER_TROUBLE):  # said again at the next pass
                    self.announce(self.members.keys())
            if not handled:
                idles = [m.consumer.idle_wait_s for m in self.members.values()] if idle_wait_s is None else []
                idle = min(idles or [StreamConsumer.idle_wait_s if idle_wait_s is None else idle_wait_s])
                waits = [m.retry_at - time.monotonic() for m in self.members.values() if m.retry_at > now]
                stop.wait(max(0.0, min([idle, *waits])))
        for member in self.members.values():
            try:
                member.consumer.settle()
            except (*UNREACHABLE, *CLUSTER_TROUBLE):
                member.consumer.abandon()  # unconfirmed: their entries stay pending and are handled at the next start
            member.consumer.close()

    def _abandon_all(self) -> None:
        for member in self.members.values():
            member.consumer.abandon()
