"""The incident lifecycle at its core (ioc/incidents/lifecycle.py) on both databases: a hypothesis state machine
takes any sequence of actions by any role with any text, unit and expected version, predicts each outcome from the
rules table (ioc/incidents/model.py TRANSITIONS) and checks that the audit log explains every incident's state after
every step; and two people acknowledging the same incident at the same moment, of whom exactly one wins."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Final

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ioc.audit import AuditRow
from ioc.city import load_city
from ioc.db import Database, open_database, utcnow
from ioc.identity.roles import Permission, Role, may
from ioc.incidents.lifecycle import OBJECT_TYPE, act, get_incident, new_row, open_by_hand, open_key, record_open
from ioc.incidents.lifecycle import timeline as incident_timeline
from ioc.incidents.model import (
    AUDITED_FIELDS,
    ENGINE_TYPES,
    INCIDENT_TYPES,
    MAX_TEXT,
    TRANSITIONS,
    Action,
    Incident,
    IncidentChanged,
    IncidentRefused,
    Limits,
    Status,
)
from ioc.incidents.places import place_of
from ioc.incidents.tables import IncidentRow
from ioc.settings import Settings
from tests.conftest import DATABASES, database_env, example_count

SETTINGS: Final = Settings()
LIMITS: Final = Limits.of(SETTINGS)
UNITS: Final = SETTINGS.incident_units
ROLES: Final = (*(r.value for r in Role), "intruder")  # every role, and a role string nobody has
TEXTS: Final = {
    "none": None,
    "empty": "",
    "blank": "   \n ",
    "normal": "checked on the camera",
    "padded": "  on the way  ",
    "long": "x" * (MAX_TEXT + 1),
    "longest": " " + "y" * MAX_TEXT + " ",  # exactly the limit once stripped: allowed
}
ENGINE_PLACES: Final = ("wl-tam-ky", "wl-khoi-pho-3")  # few places, so engine incidents meet on one open key
CITY: Final = load_city()
MAX_INCIDENTS: Final = 4  # few, so that steps take each one far along its life


def audited(incident: Incident) -> dict[str, Any]:
    """The audited fields of an incident as the log records them (status as its text)."""
    return {
        name: str(getattr(incident, name)) if name == "status" else getattr(incident, name) for name in AUDITED_FIELDS
    }


def audit_count(db: Database, incident_id: int) -> int:
    """How many audit rows name this incident."""
    query = (
        sa.select(sa.func.count())
        .select_from(AuditRow)
        .where(AuditRow.object_type == OBJECT_TYPE, AuditRow.object_id == str(incident_id))
    )
    with db.read() as session:
        return int(session.scalar(query) or 0)


def open_key_of(db: Database, incident_id: int) -> str | None:
    """An incident's open key (not part of the plain Incident)."""
    with db.read() as session:
        return session.scalar(sa.select(IncidentRow.open_key).where(IncidentRow.id == incident_id))


def check_log_explains(db: Database, incident_id: int) -> tuple[Incident, int]:
    """The audit log explains the incident: replayed in order, each row starts where the previous one ended on the
    audited fields, the first is the opening, every status change is an allowed transition, the version goes up by
    one per row, and the last row ends where the incident is now. Returns the incident and its number of rows."""
    rows = incident_timeline(db, incident_id)
    incident = get_incident(db, incident_id)
    assert rows, f"incident {incident_id} has no audit row"
    first = rows[0]
    assert first.action == "incident.open" and first.before is None and first.after is not None
    assert first.after["status"] == Status.NEW and first.after["version"] == 1
    previous = first.after
    for row in rows[1:]:
        assert row.before is not None and row.after is not None
        assert {f: row.before[f] for f in AUDITED_FIELDS} == {f: previous[f] for f in AUDITED_FIELDS}, row
        assert row.after["version"] == row.before["version"] + 1, row
        action = Action(row.action.removeprefix("incident."))
        rule = TRANSITIONS[action]
        assert row.before["status"] in rule.sources, row
        assert row.after["status"] == (rule.target or row.before["status"]), row
        previous = row.after
    assert {f: previous[f] for f in AUDITED_FIELDS} == audited(incident)
    assert incident.version == len(rows)
    return incident, len(rows)


@dataclass
class Known:
    """What the model expects of one incident."""

    status: Status
    version: int
    unit: str | None
    open_key: str | None
    source: str
    type: str
    place: str
    audit_rows: int = 1


@contextlib.contextmanager
def fresh_database(kind: str) -> Any:
    """A new, migrated database of that kind (an SQLite file in a temporary folder, or a PostgreSQL schema of its
    own), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ioc-lifecycle-"))
    try:
        with database_env(kind, folder) as env:
            db = open_database(Settings(data_dir=folder, database_url=env.get("IOC_DATABASE_URL")))
            try:
                db.upgrade()
                yield db
            finally:
                db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class LifecycleMachine(RuleBasedStateMachine):
    """Incidents opened by hand and by the engine, then any actions by anyone; a model predicts every outcome."""

    kind: ClassVar[str] = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self._stack = contextlib.ExitStack()
        self.db: Database = self._stack.enter_context(fresh_database(self.kind))
        self.known: dict[int, Known] = {}

    def teardown(self) -> None:
        self._stack.close()

    # ------------------------------------------------------------ opening

    @initialize(kind=st.sampled_from(INCIDENT_TYPES), severity=st.sampled_from(("info", "warning", "critical")))
    def open_first(self, kind: str, severity: str) -> None:
        self.open_manual(kind, severity, Role.OPERATOR.value, "normal")

    @precondition(lambda self: len(self.known) < MAX_INCIDENTS)
    @rule(
        kind=st.sampled_from(INCIDENT_TYPES),
        severity=st.sampled_from(("info", "warning", "critical")),
        role=st.sampled_from(ROLES),
        text=st.sampled_from(sorted(TEXTS)),
    )
    def open_manual(self, kind: str, severity: str, role: str, text: str) -> None:
        description = TEXTS[text]
        words = (description or "").strip()
        before = self._total_incidents()
        try:
            made = open_by_hand(
                self.db,
                city=CITY,
                limits=LIMITS,
                actor=f"{role}-1",
                role=role,
                incident_type=kind,
                lat=CITY.center[0],
                lon=CITY.center[1],
                description=description or "",
                severity=severity,  # type: ignore[arg-type]
            )
        except IncidentRefused as refused:
            if not may(role, Permission.HANDLE_INCIDENTS):
                assert refused.key == "incident.refused.role"
            elif not words:
                assert refused.key == "incident.needs.description"
            else:
                assert len(words) > MAX_TEXT and refused.key == "incident.too_long", refused.key
            assert self._total_incidents() == before
            return
        assert may(role, Permission.HANDLE_INCIDENTS) and words and len(words) <= MAX_TEXT
        assert made.status == Status.NEW and made.version == 1 and made.description == words
        self.known[made.id] = Known(Status.NEW, 1, None, None, "manual", kind, made.place)

    @precondition(lambda self: len(self.known) < MAX_INCIDENTS)
    @rule(
        kind=st.sampled_from(ENGINE_TYPES[:2]),
        place=st.sampled_from(ENGINE_PLACES),
        severity=st.sampled_from(("info", "warning", "critical")),
    )
    def open_by_engine(self, kind: str, place: str, severity: str) -> None:
        key = open_key(kind, place)
        held = any(k.open_key == key for k in self.known.values())
        row = new_row(
            incident_type=kind,
            source="engine",
            place=place_of(CITY, place),
            severity=severity,  # type: ignore[arg-type]
            detected_at=utcnow(),
            opened_by="engine",
            limits=LIMITS,
            city=CITY,
            key=key,
        )
        before = self._total_incidents()
        try:
            with self.db.transaction() as session:
                record_open(session, row, actor="engine", details={"alert": "test"})
                new_id = row.id
        except sa.exc.IntegrityError:
            assert held, f"{key} was free, yet the database refused it"
            event("engine refused: key held")
            assert self._total_incidents() == before
            return
        assert not held, f"two open incidents hold {key}"
        event("opened by the engine")
        self.known[new_id] = Known(Status.NEW, 1, None, key, "engine", kind, place)

    # ------------------------------------------------------------ acting

    @precondition(lambda self: bool(self.known))
    @rule(
        data=st.data(),
        action=st.sampled_from(list(Action)),
        role=st.sampled_from(ROLES),
        text=st.sampled_from(sorted(TEXTS)),
        unit=st.sampled_from((None, "nobody", *UNITS)),
        version_shift=st.sampled_from((0, 0, 0, -1, 1)),
    )
    def take_action(
        self, data: st.DataObject, action: Action, role: str, text: str, unit: str | None, version_shift: int
    ) -> None:
        """Anything by anyone: mostly refused."""
        incident_id = data.draw(st.sampled_from(sorted(self.known)), label="incident")
        self._act(incident_id, action, role, text, unit, version_shift)

    @precondition(lambda self: bool(self.known))
    @rule(data=st.data(), text=st.sampled_from(("normal", "padded", "longest")), unit=st.sampled_from(UNITS))
    def move_on(self, data: st.DataObject, text: str, unit: str) -> None:
        """What the rules allow in the incident's state, by a role that may, with the right text and version: so
        incidents get resolved, closed and reopened, and engine incidents meet on their open keys."""
        incident_id = data.draw(st.sampled_from(sorted(self.known)), label="incident")
        status = self.known[incident_id].status
        action = data.draw(st.sampled_from([a for a, r in TRANSITIONS.items() if status in r.sources]), label="action")
        role = data.draw(st.sampled_from([r for r in ROLES if may(r, TRANSITIONS[action].permission)]), label="role")
        self._act(incident_id, action, role, text, unit, 0)

    def _act(self, incident_id: int, action: Action, role: str, text: str, unit: str | None, shift: int) -> None:
        known = self.known[incident_id]
        before = get_incident(self.db, incident_id)
        rule_ = TRANSITIONS[action]
        words = (TEXTS[text] or "").strip()
        expected = known.version + shift

        # The model: the rules table, in the order the core promises (who, what text, which unit, then the
        # incident itself: someone else first, then its state).
        refusal: str | None = None
        if not may(role, rule_.permission):
            refusal = "incident.refused.role"
        elif rule_.needs in ("comment", "note") and not words:
            refusal = f"incident.needs.{rule_.needs}"
        elif len(words) > MAX_TEXT:
            refusal = "incident.too_long"
        elif rule_.needs == "unit" and unit not in UNITS:
            refusal = "incident.needs.unit"
        elif expected != known.version:
            refusal = "changed"
        elif known.status not in rule_.sources:
            refusal = "incident.refused.transition"

        try:
            after = act(
                self.db,
                incident_id,
                action,
                actor=f"{role}-1",
                role=role,
                expected_version=expected,
                limits=LIMITS,
                units=UNITS,
                text=TEXTS[text],
                unit=unit,
            )
        except IncidentChanged as changed:
            event("refused: changed")
            assert refusal == "changed", (refusal, action, known)
            assert changed.current == before
            self._nothing_changed(incident_id, before)
            return
        except IncidentRefused as refused:
            event(f"refused: {refused.key}")
            assert refused.key == refusal, (refused.key, refusal, action, role, text, unit, known)
            self._nothing_changed(incident_id, before)
            return
        assert refusal is None, (refusal, action, role, text, unit, known)
        event(f"allowed: {action.value}")

        known.status = rule_.target or known.status
        known.version += 1
        known.audit_rows += 1
        if action is Action.DISPATCH:
            known.unit = unit
        if action in (Action.RESOLVE, Action.CLOSE):
            known.open_key = None
        if action is Action.REOPEN and known.source == "engine":
            key = open_key(known.type, known.place)
            known.open_key = None if any(k.open_key == key for k in self.known.values()) else key
            event(f"reopened an engine incident, its key {'free' if known.open_key else 'taken'}")
        assert after.status == known.status and after.version == known.version and after.unit == known.unit
        assert after == get_incident(self.db, incident_id)
        last = incident_timeline(self.db, incident_id)[-1]
        assert last.action == f"incident.{action.value}" and last.actor == f"{role}-1"
        assert (last.after or {}).get("text", "") == words

    def _nothing_changed(self, incident_id: int, before: Incident) -> None:
        assert get_incident(self.db, incident_id) == before
        assert audit_count(self.db, incident_id) == self.known[incident_id].audit_rows

    def _total_incidents(self) -> int:
        with self.db.read() as session:
            return int(session.scalar(sa.select(sa.func.count()).select_from(IncidentRow)) or 0)

    # ------------------------------------------------------------ after every step

    @invariant()
    def the_log_explains_every_incident(self) -> None:
        for incident_id, known in self.known.items():
            now, rows = check_log_explains(self.db, incident_id)
            assert (now.status, now.version, now.unit, rows) == (
                known.status,
                known.version,
                known.unit,
                known.audit_rows,
            )
        with self.db.read() as session:
            keys = {i: k for i, k in session.execute(sa.select(IncidentRow.id, IncidentRow.open_key))}
        assert keys == {i: k.open_key for i, k in self.known.items()}


@pytest.mark.parametrize("kind", DATABASES)
def test_any_sequence_of_actions_keeps_the_rules_and_the_log(kind: str) -> None:
    if kind == "postgresql":
        with fresh_database(kind):  # skips without IOC_TEST_DATABASE_URL, before hypothesis starts
            pass
    machine = type(f"LifecycleMachine_{kind}", (LifecycleMachine,), {"kind": kind})
    checks = [HealthCheck.too_slow, HealthCheck.filter_too_much]
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=example_count(40, 12), stateful_step_count=25, deadline=None, suppress_health_check=checks
        ),
    )


# ---------------------------------------------------------------- two people, one incident, one moment

RACES: Final = 20


def race_to_acknowledge(db: Database, incident_id: int) -> tuple[list[Incident], list[IncidentChanged]]:
    """Two operators acknowledge the incident at the same moment (a barrier releases both), naming version 1."""
    barrier = threading.Barrier(2)
    won: list[Incident] = []
    lost: list[IncidentChanged] = []
    other: list[BaseException] = []

    def acknowledge(who: str) -> None:
        barrier.wait()
        try:
            won.append(
                act(
                    db,
                    incident_id,
                    Action.ACKNOWLEDGE,
                    actor=who,
                    role=Role.OPERATOR,
                    expected_version=1,
                    limits=LIMITS,
                    units=UNITS,
                    text=f"{who} has it",
                )
            )
        except IncidentChanged as exc:
            lost.append(exc)
        except BaseException as exc:
            other.append(exc)

    threads = [threading.Thread(target=acknowledge, args=(who,)) for who in ("op-a", "op-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not other, other
    return won, lost


@pytest.mark.parametrize("kind", DATABASES)
def test_two_acknowledge_at_once_and_exactly_one_wins(kind: str) -> None:
    with fresh_database(kind) as db:
        for race in range(RACES):
            incident = open_by_hand(
                db,
                city=CITY,
                limits=LIMITS,
                actor="op",
                role=Role.OPERATOR,
                incident_type="fire",
                lat=CITY.center[0],
                lon=CITY.center[1],
                description=f"race {race}",
                severity="critical",
            )
            won, lost = race_to_acknowledge(db, incident.id)
            assert len(won) == 1 and len(lost) == 1, (race, won, lost)
            winner = won[0]
            assert winner.status == Status.ACKNOWLEDGED and winner.version == 2
            assert lost[0].current.status == Status.ACKNOWLEDGED and lost[0].current.version == winner.version
            assert lost[0].current == get_incident(db, incident.id)
            rows = incident_timeline(db, incident.id)
            assert [r.action for r in rows] == ["incident.open", "incident.acknowledge"], race
            assert rows[1].actor == f"{'op-a' if 'op-a' in (rows[1].after or {}).get('text', '') else 'op-b'}"
            check_log_explains(db, incident.id)


# ---------------------------------------------------------------- bugs found (fixed; kept as regression tests)


@pytest.mark.parametrize("kind", DATABASES)
def test_reopening_an_engine_incident_is_one_version(kind: str) -> None:
    with fresh_database(kind) as db:
        place = place_of(CITY, "wl-tam-ky")
        row = new_row(
            incident_type="flood",
            source="engine",
            place=place,
            severity="warning",
            detected_at=utcnow(),
            opened_by="engine",
            limits=LIMITS,
            city=CITY,
            key=open_key("flood", place.id),
        )
        with db.transaction() as session:
            record_open(session, row, actor="engine")
            incident_id = row.id
        steps: list[tuple[Action, Role, dict[str, Any]]] = [
            (Action.ACKNOWLEDGE, Role.OPERATOR, {"text": "seen"}),
            (Action.DISPATCH, Role.OPERATOR, {"unit": UNITS[0]}),
            (Action.RESOLVE, Role.OPERATOR, {"text": "water gone"}),
            (Action.REOPEN, Role.MANAGER, {"text": "back again"}),
        ]
        version = 1
        for action, role, extra in steps:
            incident = act(
                db,
                incident_id,
                action,
                actor="t",
                role=role,
                expected_version=version,
                limits=LIMITS,
                units=UNITS,
                **extra,
            )
            assert incident.version == version + 1, (action, version, incident.version)
            version = incident.version
        assert open_key_of(db, incident_id) == open_key("flood", place.id)  # the key was free: taken again
        check_log_explains(db, incident_id)
