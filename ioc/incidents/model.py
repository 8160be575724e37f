"""What an incident is, as plain data, and the rules of its lifecycle: the states, which action leads where, who
may take it and what it needs. Pure: no database, so the rules can be read and tested on their own."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from ioc.errors import IocError, StaleVersion
from ioc.identity.roles import Permission
from ioc.rules import Severity
from ioc.settings import Settings

SEVERITY_ORDER: Final[tuple[Severity, ...]] = ("info", "warning", "critical")


class Status(StrEnum):
    """Where an incident is in its life."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    DISPATCHED = "dispatched"
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES: Final = (Status.NEW, Status.ACKNOWLEDGED, Status.DISPATCHED)  # someone still has to act
STATUSES: Final = tuple(Status)


class Action(StrEnum):
    """What a person can do to an incident."""

    ACKNOWLEDGE = "acknowledge"
    DISPATCH = "dispatch"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    COMMENT = "comment"


# Incident types: those the engine opens from alerts, then those only people report.
ENGINE_TYPES: Final = ("flood", "heavy_rain", "congestion", "device_offline", "speed_violations")
MANUAL_TYPES: Final = ("traffic_accident", "fire", "fallen_tree", "power_outage", "other")
INCIDENT_TYPES: Final = ENGINE_TYPES + MANUAL_TYPES


@dataclass(frozen=True)
class Transition:
    """One allowed action: from which states, to which state, the permission it needs and what text it needs."""

    action: Action
    sources: tuple[Status, ...]
    target: Status | None  # None: the state stays (a comment)
    permission: Permission
    needs: str | None  # "comment", "unit", "note", or None


TRANSITIONS: Final[dict[Action, Transition]] = {
    t.action: t
    for t in (
        Transition(Action.ACKNOWLEDGE, (Status.NEW,), Status.ACKNOWLEDGED, Permission.HANDLE_INCIDENTS, "comment"),
        Transition(Action.DISPATCH, (Status.ACKNOWLEDGED,), Status.DISPATCHED, Permission.HANDLE_INCIDENTS, "unit"),
        Transition(Action.RESOLVE, (Status.DISPATCHED,), Status.RESOLVED, Permission.HANDLE_INCIDENTS, "note"),
        Transition(Action.CLOSE, (Status.RESOLVED,), Status.CLOSED, Permission.CLOSE_INCIDENTS, None),
        Transition(
            Action.REOPEN, (Status.RESOLVED, Status.CLOSED), Status.ACKNOWLEDGED, Permission.REVIEW_INCIDENTS, "comment"
        ),
        Transition(Action.COMMENT, (*OPEN_STATUSES, Status.RESOLVED), None, Permission.HANDLE_INCIDENTS, "comment"),
    )
}
MAX_TEXT: Final = 2000  # characters of a comment, note or description


def allowed_actions(status: Status | str, permissions: frozenset[Permission] | set[Permission]) -> list[Action]:
    """The actions a holder of `permissions` may take on an incident in `status`, in lifecycle order."""
    return [action for action, rule in TRANSITIONS.items() if status in rule.sources and rule.permission in permissions]


def worse(a: Severity | str, b: Severity | str) -> Severity:
    """The more severe of two severities."""
    return SEVERITY_ORDER[max(SEVERITY_ORDER.index(a), SEVERITY_ORDER.index(b))]


def raised(severity: Severity | str) -> Severity:
    """One step more severe (critical stays critical)."""
    return SEVERITY_ORDER[min(SEVERITY_ORDER.index(severity) + 1, len(SEVERITY_ORDER) - 1)]


@dataclass(frozen=True)
class Limits:
    """Time limits to acknowledge and to resolve, per severity (settings)."""

    ack_s: dict[str, float]
    resolve_s: dict[str, float]

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """The limits the settings give."""
        return cls(
            ack_s={
                "critical": settings.incident_ack_critical_s,
                "warning": settings.incident_ack_warning_s,
                "info": settings.incident_ack_info_s,
            },
            resolve_s={
                "critical": settings.incident_resolve_critical_s,
                "warning": settings.incident_resolve_warning_s,
                "info": settings.incident_resolve_info_s,
            },
        )

    def ack_due(self, opened_at: datetime, severity: str) -> datetime:
        """When an incident of this severity opened then must be acknowledged."""
        return opened_at + timedelta(seconds=self.ack_s[severity])

    def resolve_due(self, opened_at: datetime, severity: str) -> datetime:
        """When an incident of this severity opened then must be resolved."""
        return opened_at + timedelta(seconds=self.resolve_s[severity])


@dataclass(frozen=True)
class Incident:
    """An incident as plain data (a row read from the database)."""

    id: int
    type: str
    source: str
    place: str
    place_kind: str
    place_name: str
    ward: str | None
    lat: float
    lon: float
    severity: Severity
    peak_severity: Severity
    status: Status
    description: str
    condition: str
    condition_at: datetime | None
    detected_at: datetime
    opened_at: datetime
    opened_by: str
    acknowledged_at: datetime | None
    dispatched_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    unit: str | None
    ack_due_at: datetime
    resolve_due_at: datetime
    ack_overdue: bool
    resolve_overdue: bool
    alert_count: int
    last_alert_at: datetime | None
    cameras: list[str] = field(default_factory=list)
    version: int = 1
    exercise_id: int | None = None  # made in this training exercise; None: the live city

    @property
    def overdue(self) -> bool:
        """Whether it missed a time limit (to acknowledge or to resolve)."""
        return self.ack_overdue or self.resolve_overdue

    @property
    def is_open(self) -> bool:
        """Whether someone still has to act on it."""
        return self.status in OPEN_STATUSES

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form (times as ISO 8601 UTC), used by the CLI and exports."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        out["status"] = str(self.status)
        out["overdue"] = self.overdue
        return out


# The fields an audit row's before/after records: replaying the log's `after` documents gives these exactly.
AUDITED_FIELDS: Final = (
    "status",
    "severity",
    "peak_severity",
    "unit",
    "condition",
    "ack_overdue",
    "resolve_overdue",
    "alert_count",
    "version",
)


class IncidentRefused(IocError):
    """An action that the rules refuse; `key` and `values` give the message in the user's language (ioc/i18n.py)."""

    def __init__(self, key: str, message: str, **values: Any) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


class IncidentChanged(StaleVersion):
    """Someone else changed the incident first; `current` is the incident as it is now."""

    def __init__(self, current: Incident) -> None:
        super().__init__(f"incident {current.id} changed meanwhile (now {current.status}, version {current.version})")
        self.current = current
