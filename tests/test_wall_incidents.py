"""The wall's incidents panel: its callback's output for incidents made through the lifecycle on both databases,
over HTTP as a wall screen, a database that refuses (quiet state, logged once, the tick unharmed) and one that comes
back (through a TCP relay we stop and start: a real refused connection, no mocks)."""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dash import no_update
from sqlalchemy.engine import make_url

from benchmarks.browser import BrowserPage
from callbacks.auth import Principal, start_session
from callbacks.wall.incidents import incidents
from callbacks.wall.tick import TICK_OUTPUTS, tick
from ioc.city import City
from ioc.db import Database, utcnow
from ioc.identity.roles import Role
from ioc.incidents.lifecycle import new_row, open_by_hand, record_open
from ioc.incidents.model import Incident, Limits
from ioc.incidents.places import place_of
from ioc.incidents.queries import wall_summary
from ioc.incidents.tables import IncidentRow
from ioc.rules import Severity
from ioc.settings import Settings
from layouts.wall import ids
from layouts.wall.incidents import age_text, build_incidents, incidents_key, panel_class
from layouts.wall.page import PATH, layout
from tests.conftest import database_env
from tests.sessions import app_database, new_display_token
from tests.test_layouts_wall import by_id, texts, walk

LIMITS = Limits.of(Settings())
WALL = Principal("display", 1, "wall-test", Role.DISPLAY)  # a wall screen's principal; the session needs no lookup


def by_hand(db: Database, city: City, kind: str, severity: Severity, description: str = "seen by a patrol") -> Incident:
    """An incident an operator reports at the city centre."""
    return open_by_hand(
        db,
        city=city,
        limits=LIMITS,
        actor="op",
        role=Role.OPERATOR,
        incident_type=kind,
        lat=city.center[0],
        lon=city.center[1],
        description=description,
        severity=severity,
    )


def by_engine(db: Database, city: City, kind: str, place: str, severity: Severity, minutes_ago: float = 0) -> int:
    """An incident the engine opens from an alert (new_row + record_open in one transaction), opened a while ago."""
    at = utcnow() - timedelta(minutes=minutes_ago)
    row = new_row(
        incident_type=kind,
        source="engine",
        place=place_of(city, place),
        severity=severity,
        detected_at=at,
        opened_by="engine",
        limits=LIMITS,
        city=city,
        key=f"{kind}:{place}",
        now=at,
    )
    with db.transaction() as session:
        record_open(session, row, actor="engine")
        return row.id


def set_overdue(db: Database, incident_id: int) -> None:
    """Mark an incident as having missed its time to acknowledge (as the engine's timer does)."""
    with db.transaction() as session:
        row = session.get(IncidentRow, incident_id)
        assert row is not None
        row.ack_overdue = True


def shown(body: Any) -> str:
    """Every text of a panel body, joined."""
    return " | ".join(texts(body))


def classes(body: Any) -> list[str]:
    """Every class name in a panel body."""
    return [c.className for c in walk(body) if getattr(c, "className", None)]


@pytest.fixture
def app(make_app, db_env: dict[str, str]) -> Any:
    """An app on the database under test (make_app's data folder is db_env's)."""
    return make_app(database_url=db_env.get("IOC_DATABASE_URL"))


def call_panel(app: Any, lang: str = "en", seen: object = None) -> dict[str, Any]:
    """The panel's callback as a signed-in wall screen calls it."""
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        start_session(WALL)
        return incidents(1, lang, seen)


# ---------------------------------------------------------------- the callback on both databases


def test_calm_when_nothing_is_open(app) -> None:
    app_database(app)
    out = call_panel(app)
    assert "is-alert" not in out["class_name"] and "is-unavailable" not in out["class_name"]
    text = shown(out["body"])
    assert "Critical" in text and "Overdue" in text and text.count("None") == 2
    assert all("is-loud" not in c for c in classes(out["body"]))


def test_counts_lists_and_highlights_of_real_incidents(app, city: City) -> None:
    db = app_database(app)
    fire = by_hand(db, city, "fire", "critical", "smoke over the market")
    by_hand(db, city, "fallen_tree", "warning")
    by_hand(db, city, "other", "info")
    flood = by_engine(db, city, "flood", "wl-tam-ky", "critical", minutes_ago=95)
    jam = by_engine(db, city, "congestion", next(iter(city.segments)), "warning", minutes_ago=30)
    set_overdue(db, jam)
    set_overdue(db, flood)

    out = call_panel(app, "en")
    assert "is-alert" in out["class_name"]
    body = out["body"]
    counts = {
        c.children[1].children: int(c.children[0].children)
        for c in walk(body)
        if "wall-inc-count " in f"{getattr(c, 'className', '')} "
    }
    assert counts == {"Critical": 2, "Warning": 2, "Info": 1, "Overdue": 2, "Back to normal, to resolve": 0}
    critical_rows, overdue_rows = (
        [r for r in walk(part) if getattr(r, "className", "").startswith("wall-inc wall-inc--")] for part in body[1:]
    )
    # Newest critical first: the fire reported just now, then the flood opened 95 minutes ago.
    assert [texts(r)[:2] for r in critical_rows] == [["just now", "Fire"], ["1 h 35", "Flood"]]
    assert fire.place_name in texts(critical_rows[0])
    station = city.sensors["wl-tam-ky"]
    assert texts(critical_rows[1])[2:] == [station.name, city.wards[station.ward].name]
    # Longest overdue first: the flood, then the congestion (a warning: orange, not red).
    assert [texts(r)[1] for r in overdue_rows] == ["Flood", "Traffic congestion"]
    assert [r.className for r in overdue_rows] == ["wall-inc wall-inc--critical", "wall-inc wall-inc--overdue"]
    assert any("wall-inc-count--critical" in c and "is-loud" in c for c in classes(body))
    assert any("wall-inc-count--overdue" in c and "is-loud" in c for c in classes(body))

    vi = call_panel(app, "vi")
    assert "Nghiêm trọng mới nhất" in shown(vi["body"]) and "Cháy" in shown(vi["body"])
    assert "1 giờ 35" in shown(vi["body"])

    again = call_panel(app, "en", seen=out["seen"])  # the same picture: nothing sent
    assert again["body"] is no_update and again["class_name"] is no_update and again["seen"] is no_update


def test_an_incident_back_to_normal_is_counted_apart_and_quietly(app, city: City) -> None:
    """Its condition cleared: it still waits for someone to resolve it, but it is no emergency any more, so it
    neither shouts nor fills the critical and overdue lists (the wall said "13 critical, overdue" of a calm city)."""
    db = app_database(app)
    flood = by_engine(db, city, "flood", "wl-tam-ky", "critical", minutes_ago=95)
    set_overdue(db, flood)
    with db.transaction() as session:
        row = session.get(IncidentRow, flood)
        assert row is not None
        row.condition, row.condition_at = "cleared", utcnow()
    out = call_panel(app, "en")
    assert "is-alert" not in out["class_name"]
    counts = {
        c.children[1].children: int(c.children[0].children)
        for c in walk(out["body"])
        if "wall-inc-count " in f"{getattr(c, 'className', '')} "
    }
    assert counts == {"Critical": 0, "Warning": 0, "Info": 0, "Overdue": 0, "Back to normal, to resolve": 1}
    assert "Flood" not in shown(out["body"]) and not any("is-loud" in c for c in classes(out["body"]))
    assert "Đã bình thường, chờ đóng" in shown(call_panel(app, "vi")["body"])


def test_closed_and_resolved_incidents_leave_the_panel(app, city: City) -> None:
    db = app_database(app)
    incident = by_hand(db, city, "fire", "critical")
    with db.transaction() as session:
        row = session.get(IncidentRow, incident.id)
        assert row is not None
        row.status = "resolved"
    out = call_panel(app)
    assert "is-alert" not in out["class_name"] and "Fire" not in shown(out["body"])


def test_panel_over_http_as_a_wall_screen(app, city: City) -> None:
    db = app_database(app)
    by_hand(db, city, "traffic_accident", "critical")
    page = BrowserPage(app, PATH, "?lang=vi", token=new_display_token(db)[1])
    assert page.knows(ids.INCIDENTS_INTERVAL) and page.knows(ids.INCIDENTS)
    (reply,) = page.set(ids.INCIDENTS_INTERVAL, "n_intervals", 1)
    assert reply.status == 200 and reply.size < 5_000, reply.size
    assert "Tai nạn giao thông" in reply.body.decode()
    assert "is-alert" in reply.values[ids.INCIDENTS_PANEL]["className"]
    (same,) = page.set(ids.INCIDENTS_INTERVAL, "n_intervals", 2)
    assert same.status == 200 and same.values == {}  # nothing changed: nothing sent


# ---------------------------------------------------------------- the tick stays as it was


def test_the_tick_carries_no_incidents() -> None:
    targets = {str(o.component_id) for o in TICK_OUTPUTS.values()}
    assert not targets & {ids.INCIDENTS, ids.INCIDENTS_PANEL, ids.INCIDENTS_SEEN}


def test_page_draws_the_panel_with_its_own_interval(city: City) -> None:
    page = layout(city, lang="en", refresh_ms=2000)
    assert by_id(page, ids.INCIDENTS_INTERVAL).interval == 5000
    assert "Open incidents" in texts(by_id(page, ids.INCIDENTS_PANEL))


# ---------------------------------------------------------------- pure pieces


@pytest.mark.parametrize(
    ("seconds", "en", "vi"),
    [
        (20, "just now", "vừa xong"),
        (61, "1 min", "1 phút"),
        (3600 + 5 * 60, "1 h 05", "1 giờ 05"),
        (3 * 86400 + 50, "3 d", "3 ngày"),
        (-5, "just now", "vừa xong"),
    ],
)
def test_age_text(seconds: float, en: str, vi: str) -> None:
    assert age_text(seconds, "en") == en and age_text(seconds, "vi") == vi


def test_unavailable_state_is_quiet(city: City) -> None:
    update = build_incidents(None, city, "en", None, utcnow())
    assert update.class_name == "wall-panel wall-panel--incidents is-unavailable"
    assert shown(update.body) == "Incidents unavailable (the database does not answer)"
    assert build_incidents(None, city, "en", update.seen, utcnow()).body is no_update
    assert incidents_key(None, utcnow()) == ["unavailable"] and panel_class(None).endswith("is-unavailable")


# ---------------------------------------------------------------- the database away, and back


def test_refusing_database_gives_a_quiet_panel_logged_once_and_the_tick_goes_on(make_app, caplog) -> None:
    app = make_app(database_url="postgresql://ioc@127.0.0.1:1/ioc")  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="callbacks.wall.incidents"):
        outs = [call_panel(app, seen=None) for _ in range(3)]
    assert all("is-unavailable" in o["class_name"] for o in outs)
    assert shown(outs[0]["body"]) == "Incidents unavailable (the database does not answer)"
    warnings = [r for r in caplog.records if r.name == "callbacks.wall.incidents"]
    assert len(warnings) == 1 and "127.0.0.1" in warnings[0].getMessage()
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        start_session(WALL)
        ticked = tick(1, "en", None)  # the rest of the wall: its tick does not touch the database
    assert ticked["heartbeat"] is not None


class Relay:
    """A TCP relay to a real server on a port of its own, which we can take down (listener and connections closed,
    so connecting is refused) and bring back on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Listen (again) and relay every connection in a thread of its own."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.close()

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone would not
            self._listener.close()
            self._listener = None
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
            self._open.clear()


@pytest.fixture
def relayed_postgres(tmp_path: Path) -> Iterator[tuple[Relay, str]]:
    """The test PostgreSQL (a schema of the test's own) behind a relay; the URL to reach it through the relay."""
    with database_env("postgresql", tmp_path / "data") as env:
        url = make_url(env["IOC_DATABASE_URL"])
        relay = Relay(url.host or "127.0.0.1", url.port or 5432)
        relay.start()
        try:
            yield relay, url.set(port=relay.port).render_as_string(hide_password=False)
        finally:
            relay.stop()


def test_panel_recovers_by_itself_when_the_database_is_back(make_app, city: City, relayed_postgres, caplog) -> None:
    relay, url = relayed_postgres
    app = make_app(database_url=url)
    db = app_database(app)
    by_hand(db, city, "fire", "critical")
    assert "Fire" in shown(call_panel(app)["body"])

    relay.stop()
    with caplog.at_level(logging.INFO, logger="callbacks.wall.incidents"):
        down = [call_panel(app) for _ in range(3)]
        assert all("is-unavailable" in o["class_name"] for o in down), [shown(o["body"]) for o in down]
        relay.start()  # the same port: the app's URL works again
        back = call_panel(app, seen=down[-1]["seen"])
    assert "is-alert" in back["class_name"] and "Fire" in shown(back["body"])
    messages = [r.getMessage() for r in caplog.records if r.name == "callbacks.wall.incidents"]
    assert len(messages) == 2 and "does not answer" in messages[0] and "answers again" in messages[1], messages
    assert wall_summary(db).open_by_severity["critical"] == 1
