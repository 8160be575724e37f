"""Every Redis key name of the system, in one place.

Keys carry a hash tag `{<namespace>.<domain>}` so that one domain's raw stream, its derived state, its alerts
and its dead letters share one Redis Cluster hash slot: the aggregator's per-batch transaction (derived writes
plus XACK) then stays in one slot, while domains and training namespaces spread over a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Domain = Literal["traffic", "flood", "wifi", "device"]
StateHash = Literal["lastseen", "segments", "stations", "gauges", "health"]
DOMAINS: Final[tuple[Domain, ...]] = ("traffic", "flood", "wifi", "device")
AGGREGATOR_GROUP: Final = "aggregator"
INCIDENTS_GROUP: Final = "incidents"  # the incident engine's consumer group on each domain's alerts stream
PREFIX: Final = "ioc"


@dataclass(frozen=True)
class Keys:
    """Key names for one namespace (`live` or a training exercise)."""

    namespace: str = "live"

    def _tag(self, domain: str) -> str:
        return f"{PREFIX}:{{{self.namespace}.{domain}}}"

    def events(self, domain: Domain) -> str:
        """Raw event stream producers append to (one per domain, bounded)."""
        return f"{self._tag(domain)}:events"

    def deadletter(self, domain: Domain) -> str:
        """Stream of rejected events with the reason and the original fields."""
        return f"{self._tag(domain)}:deadletter"

    def alerts(self, domain: Domain) -> str:
        """Stream of level changes (flood level, congestion, device health)."""
        return f"{self._tag(domain)}:alerts"

    def active(self, domain: Domain) -> str:
        """Hash of alerts currently active: alert key -> JSON of the alert."""
        return f"{self._tag(domain)}:active"

    def latest(self, domain: Domain) -> str:
        """Hash of the latest reading per sensor: sensor id -> JSON."""
        return f"{self._tag(domain)}:latest"

    def lastseen(self, domain: Domain) -> str:
        """Hash of the event time (epoch seconds) of each sensor's newest report."""
        return f"{self._tag(domain)}:lastseen"

    def stats(self, domain: Domain) -> str:
        """Hash of counters (processed, deadletter, alerts), the domain clock (newest event time) and the version
        of the domain's derived state (bumped by every commit that changes it, so consumers know their copy)."""
        return f"{self._tag(domain)}:stats"

    def segments(self) -> str:
        """Hash of road segment state: segment id -> JSON (speed, band, congested)."""
        return f"{self._tag('traffic')}:segments"

    def speed_minute(self, minute: int) -> str:
        """Hash of one minute's speed roll-up, one field per segment (format in ioc/rollup.py); expires by itself."""
        return f"{self._tag('traffic')}:speed:m:{minute}"

    def violations(self) -> str:
        """Hash of speed-violation counters per speed camera and per vehicle class."""
        return f"{self._tag('traffic')}:violations"

    def stations(self) -> str:
        """Hash of water-level station state: station id -> JSON (level, alarm, hysteresis)."""
        return f"{self._tag('flood')}:stations"

    def gauges(self) -> str:
        """Hash of rain gauge state: gauge id -> JSON (hourly totals, rain class)."""
        return f"{self._tag('flood')}:gauges"

    def health(self) -> str:
        """Hash of device health per sensor: sensor id -> JSON (status, since, reason)."""
        return f"{self._tag('device')}:health"

    def state(self, domain: Domain, name: StateHash) -> str:
        """A derived-state hash of a domain by name: its last-seen times, or the shared hash of that kind."""
        if name == "lastseen":
            return self.lastseen(domain)
        return {"segments": self.segments, "stations": self.stations, "gauges": self.gauges, "health": self.health}[
            name
        ]()

    def checkpoints(self, domain: Domain) -> str:
        """Stream of the domain's derived state as the aggregator had it, every few minutes (ioc/aggregator/
        checkpoints.py): each entry's id is the first raw entry the state does not hold yet, so a replay restores the
        newest one at or before its moment and feeds the raw entries after it (ioc/replay/)."""
        return f"{self._tag(domain)}:checkpoints"

    def replay(self) -> str:
        """Hash describing a replay namespace (ioc/replay/): whose it is, what it replays, the moment asked for and the
        moment built, its speed; it expires with the replay."""
        return f"{self._tag('meta')}:replay"

    def replays(self) -> str:
        """Sorted set of a base namespace's replays (their namespaces, scored by the last time a screen showed one),
        kept in the base's replay home namespace (ioc/replay/registry.py), never in the base's own keys."""
        return f"{self._tag('meta')}:replays"

    def heartbeat(self) -> str:
        """Hash the aggregator refreshes each loop: wall time of the loop and of the last processed event."""
        return f"{self._tag('meta')}:heartbeat"

    def clock(self) -> str:
        """Hash declaring the namespace's simulated clock (format in ioc/clock.py); absent: real time."""
        return f"{self._tag('meta')}:clock"

    def wall_map(self, version: str) -> str:
        """String holding one version of the wall map's states (JSON, layouts/wall/city_map.py), for a short while:
        a web process that never saw the version a screen holds reads it here to send only what changed since."""
        return f"{self._tag('wall')}:map:{version}"

    def quarantined(self, key: str, at_ms: int) -> str:
        """Where a key someone broke (a raw stream holding another type, a damaged state hash) is moved aside: the
        same name and hash slot with a suffix, so its domain flows again and a person can still look at it."""
        return f"{key}:quarantined:{at_ms}"

    def incidents_heartbeat(self) -> str:
        """Hash each incident engine refreshes per loop: its wall time, last batch and backlog, by consumer name."""
        return f"{self._tag('meta')}:incidents:heartbeat"

    def login_failures_account(self, username: str) -> str:
        """Counter of failed logins for one (lower-cased) user name in the current window; expires with it."""
        return f"{self._tag('auth')}:login:account:{username}"

    def login_failures_address(self, address: str) -> str:
        """Counter of failed logins from one client address in the current window; expires with it."""
        return f"{self._tag('auth')}:login:address:{address}"

    def login_failures_device(self, username: str, device: str) -> str:
        """Counter of failed logins for one user name from one browser where it signed in before (a device cookie);
        the name's own and the address's counters do not apply there, so nobody else can lock that browser out."""
        return f"{self._tag('auth')}:login:device:{username}:{device}"

    def login_lockouts(self, username: str) -> str:
        """How many times in a row a user name's (or a device's) failures reached the limit: each lockout lasts
        twice the one before; forgotten a day after the last, or at a successful login."""
        return f"{self._tag('auth')}:login:lockouts:{username}"

    def ended_session(self, session_id: str) -> str:
        """Marks a signed-out session (its random id), kept as long as the session could have stayed idle: a copy of
        its cookie (a request still in flight at sign-out re-sets it) is refused until it would have expired."""
        return f"{self._tag('auth')}:session:ended:{session_id}"

    def identity_version(self) -> str:
        """Counter bumped after every committed change of an account or a display token (ioc/identity/changes.py):
        web processes keep the principals they checked while it stays the same, so a change is seen at once. Tagged
        like `ended_session`, so a request reads both in one MGET."""
        return f"{self._tag('auth')}:identity:version"

    def exercises(self) -> str:
        """Set of the key namespaces of this namespace's active exercises (running or paused): the consumers add
        their streams at each check (ioc/namespaces.py; the exercises table is the truth, the runner re-adds them)."""
        return f"{self._tag('meta')}:exercises"

    def namespace_users(self) -> str:
        """Hash of the processes working in this namespace's exercises: member name -> JSON of the time of its last
        pass and the exercise namespaces it held then (a reset waits until none holds the namespace it wipes)."""
        return f"{self._tag('meta')}:exercises:users"

    def scenarios(self) -> str:
        """JSON of the scenarios exercises may play (name, title, whether it has an MSEL), written by the exercise
        runner, which reads the scenario files, for the trainer's page, which may not (ioc/exercises/progress.py)."""
        return f"{self._tag('meta')}:exercises:scenarios"

    def exercise_progress(self) -> str:
        """JSON of an exercise's expected responses as of its clock now, written by the exercise runner into the
        exercise's own namespace (so a reset wipes it) for the trainer's page (ioc/exercises/progress.py)."""
        return f"{self._tag('meta')}:exercise:progress"

    def all_keys_pattern(self) -> str:
        """SCAN pattern matching every key of this namespace (used to wipe a test or exercise namespace)."""
        return f"{PREFIX}:{{{self.namespace}.*"
