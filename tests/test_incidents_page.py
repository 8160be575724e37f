"""The incidents page: its layout builders as pure functions of hand-made incidents and audit entries (in Vietnamese
and English); its callbacks over HTTP through an app from the factory, signed in through the login form as an
operator or a manager, on SQLite and PostgreSQL (table and filters, the poll, the detail, every action, refusals
in the user's language, opening an incident by hand); and under `ioc web` (gunicorn, 2 workers) on both databases:
roles without HANDLE_INCIDENTS refused by the server, and two operators acknowledging the same incident at the same
moment, of whom exactly one wins and the other is told and shown the incident as it is now."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dash import Dash
from dash.development.base_component import Component
from flask_login import login_user

from benchmarks.browser import UPDATE_PATH, AppHttp, BrowserPage, Http, HttpReply, UrlHttp, prop_ids, sign_in
from callbacks.auth import GUARD_ATTRIBUTE, Principal
from ioc import audit
from ioc.audit import AuditEntry
from ioc.city import DEFAULT_CITY_DIR, City, load_city
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.errors import CityDataError
from ioc.i18n import t
from ioc.identity.roles import Permission, Role
from ioc.incidents import lifecycle
from ioc.incidents.model import Action, Incident, Limits, Status
from ioc.incidents.queries import list_incidents
from ioc.incidents.tables import IncidentRow
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from layouts.incidents import ids
from layouts.incidents.detail import (
    CameraView,
    action_hidden,
    cameras_of,
    cameras_view,
    detail,
    entry_details,
    timeline_view,
)
from layouts.incidents.filters import filters_of
from layouts.incidents.page import PATH, layout
from layouts.incidents.report import clicked_point
from layouts.incidents.table import column_defs, row
from tests.conftest import DATABASES, database_env, wipe_namespace
from tests.sessions import PASSWORD, app_database, new_account, new_display_token
from tests.test_admin import text, walk
from tests.webserver import WebServer, server_env

TZ = "Asia/Ho_Chi_Minh"
AT = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)  # 08:30 in Tam Kỳ
LIMITS = Limits.of(Settings())
UNITS = Settings().incident_units


# ---------------------------------------------------------------- pure layout builders


def incident(city: City, **changes: Any) -> Incident:
    """A hand-made incident at the first traffic camera of the city."""
    camera = city.sensors_of("traffic_camera")[0]
    base = Incident(
        id=7,
        type="flood",
        source="engine",
        place=camera.id,
        place_kind="sensor",
        place_name=camera.name,
        ward=camera.ward,
        lat=camera.lat,
        lon=camera.lon,
        severity="critical",
        peak_severity="critical",
        status=Status.NEW,
        description="",
        condition="active",
        condition_at=None,
        detected_at=AT,
        opened_at=AT,
        opened_by="engine",
        acknowledged_at=None,
        dispatched_at=None,
        resolved_at=None,
        closed_at=None,
        updated_at=AT,
        unit=None,
        ack_due_at=AT + timedelta(minutes=5),
        resolve_due_at=AT + timedelta(hours=2),
        ack_overdue=True,
        resolve_overdue=False,
        alert_count=3,
        last_alert_at=AT,
        cameras=[camera.id],
        version=4,
    )
    return replace(base, **changes)


def entry(action: str, after: dict[str, Any], before: dict[str, Any] | None = None, actor: str = "ana") -> AuditEntry:
    return AuditEntry(1, AT, actor, action, "incident", "7", before, after, "192.0.2.1")


@pytest.mark.parametrize(
    ("lang", "kind", "level", "late"),
    [("vi", "Ngập lụt", "Nghiêm trọng", "Quá hạn"), ("en", "Flood", "Critical", "Overdue")],
)
def test_a_row_holds_labels_to_read_and_raw_values_to_sort_by(
    city: City, lang: str, kind: str, level: str, late: str
) -> None:
    shown = row(incident(city), city, lang)
    assert shown["id"] == 7 and shown["opened"] == ("05/01/2026 08:30" if lang == "vi" else "2026-01-05 08:30")
    assert shown["opened_at"] == AT.isoformat()  # sorted on, shown as the city's time
    assert (shown["type_label"], shown["severity_label"], shown["overdue_label"]) == (kind, level, late)
    assert shown["severity_rank"] == 2 and shown["status_rank"] == 0 and shown["alerts"] == 3
    assert shown["ward"] == city.wards[city.sensors_of("traffic_camera")[0].ward].name
    assert shown["condition_label"] == t("incident.condition.active", lang)
    calm = row(incident(city, severity="info", ack_overdue=False, unit="fire-114"), city, lang)
    assert (
        calm["overdue_label"] == ""
        and calm["severity_rank"] == 0
        and calm["unit_label"] == t("incident.unit.fire-114", lang)
    )


def test_columns_show_labels_and_mark_severity_and_overdue() -> None:
    columns = {c["field"]: c for c in column_defs("en")}
    assert [c["headerName"] for c in column_defs("en")][:4] == ["No.", "Opened", "Type", "Place"]
    assert columns["opened_at"]["valueFormatter"] == {"function": "params.data.opened"}
    assert (
        columns["severity_rank"]["cellClassRules"]["inc-sev inc-sev--critical"] == "params.data.severity === 'critical'"
    )
    assert columns["overdue"]["cellClassRules"] == {"inc-overdue": "params.data.overdue"}
    assert "Mức độ" in [c["headerName"] for c in column_defs("vi")]


def test_filters_stand_for_the_bar_values(city: City) -> None:
    now = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    assert filters_of(city=city, now=now).since == now - timedelta(days=7)  # the default period
    assert filters_of(city=city, now=now, period="24h").since == now - timedelta(hours=24)
    everything = filters_of(city=city, now=now, period="all")
    assert everything.since is None and everything.until is None
    ward = next(iter(city.wards))
    chosen = filters_of(
        city=city,
        now=now,
        statuses=["new", "bogus"],
        types=["fire"],
        severities=["critical", 3],
        wards=[ward, "nowhere"],
        overdue=["overdue"],
    )
    assert (chosen.statuses, chosen.types, chosen.severities, chosen.wards) == (
        ("new",),
        ("fire",),
        ("critical",),
        (ward,),
    )
    assert chosen.overdue_only and not filters_of(city=city, now=now, overdue=[]).overdue_only
    # Dates are whole days of the city's calendar (UTC+7), the end day included.
    days = filters_of(city=city, now=now, period="dates", start="2026-01-03", end="2026-01-04T00:00:00")
    assert days.since == datetime(2026, 1, 2, 17, 0, tzinfo=UTC)
    assert days.until == datetime(2026, 1, 4, 17, 0, tzinfo=UTC)
    assert filters_of(city=city, now=now, period="dates", start="not a date").since is None


def test_the_timeline_says_who_did_what_and_the_text_given() -> None:
    entries = [
        entry("incident.open", {"status": "new", "description": "water over the road"}, actor="engine"),
        entry("incident.acknowledge", {"status": "acknowledged", "text": "on it"}, {"status": "new"}),
        entry("incident.dispatch", {"status": "dispatched", "unit": "fire-114"}, {"status": "acknowledged"}),
        entry("incident.comment", {"status": "dispatched", "text": "crew on site"}, {"status": "dispatched"}),
        entry("incident.escalate", {"severity": "critical"}),
        entry("incident.merged", {}),
    ]
    view = timeline_view(entries, "en", TZ)
    steps = [text(li) for li in view.children]
    assert steps[0] == "2026-01-05 08:30:00 engine Open water over the road"
    assert steps[1] == "2026-01-05 08:30:00 ana Acknowledge New → Acknowledged on it"
    assert "Dispatch Acknowledged → Dispatched Unit: Fire 114" in steps[2]
    assert steps[3].endswith("Comment crew on site")
    assert steps[4].endswith("Overdue: escalated")  # the engine's own entries have names too
    assert "incident.merged" in steps[5]  # an action this page does not know: as stored
    assert entry_details(entries[2], "vi") == ["Đã tiếp nhận → Đã điều lực lượng", "Lực lượng: Cứu hỏa 114"]
    assert text(timeline_view([], "vi", TZ)) == "Chưa có diễn biến nào."


def test_cameras_show_live_status_and_links_only_when_the_city_has_them(city: City) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    views = cameras_of(city, [camera.id, "cam-gone"], {camera.id: "offline"})
    assert views[0] == CameraView(camera.id, camera.name, "offline") and views[1].status == "unknown"
    shown = cameras_view(views, "en")
    assert text(shown) == f"{camera.name} Offline cam-gone Unknown"
    assert not [c for c in walk(shown) if getattr(c, "href", None)]
    linked = cameras_view(
        [replace(views[0], snapshot_url="https://cam.example/1.jpg", stream_url="https://cam.example/1")], "vi"
    )
    links = {c.children: c.href for c in walk(linked) if getattr(c, "href", None)}
    assert links == {"Ảnh chụp": "https://cam.example/1.jpg", "Xem trực tiếp": "https://cam.example/1"}


def test_detail_header_holds_badges_and_times(city: City) -> None:
    shown = detail(incident(city, unit="police-113"), [], [], city=city, lang="en", tile_url="")
    words = text(shown)
    for part in (
        "#7",
        "Flood",
        "Critical",
        "New",
        "Ongoing",
        "Overdue",
        "Police 113",
        "Acknowledge by",
        "2026-01-05 08:35",
        "Opened by engine (automatically from alerts)",
    ):
        assert part in words, part
    assert "Resolved" not in words  # only the times that are known


def test_buttons_of_the_actions_not_allowed_are_hidden() -> None:
    assert action_hidden([Action.ACKNOWLEDGE, Action.COMMENT]) == {
        "acknowledge": False,
        "dispatch": True,
        "resolve": True,
        "close": True,
        "reopen": True,
        "comment": False,
    }
    assert all(action_hidden([]).values())


def test_a_map_click_gives_the_point_in_either_form() -> None:
    assert clicked_point({"latlng": {"lat": 15.57, "lng": 108.47}}) == (15.57, 108.47)
    assert clicked_point({"latlng": [15.57, 108.47]}) == (15.57, 108.47)
    assert clicked_point(None) is None and clicked_point({"latlng": {"lat": "x"}}) is None


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_page_holds_every_part_in_one_language(city: City, lang: str) -> None:
    page: Any = layout(
        city, rows=[row(incident(city), city, lang)], marker="7:1:x", limit=500, units=UNITS, lang=lang, tile_url=""
    )
    found = {c.id: c for c in walk(page) if isinstance(getattr(c, "id", None), str)}
    assert page.id == ids.ROOT and found[ids.LANG].data == lang and found[ids.MARKER].data == "7:1:x"
    for part in (
        ids.TABLE,
        ids.DETAIL,
        ids.ACTIONS,
        ids.TEXT,
        ids.UNIT,
        ids.ACKNOWLEDGE,
        ids.CLOSE,
        ids.POLL,
        ids.STATUS,
        ids.TYPE,
        ids.SEVERITY,
        ids.WARD,
        ids.PERIOD,
        ids.DATES,
        ids.NEW_MAP,
        ids.NEW_SUBMIT,
    ):
        assert part in found, part
    assert all(component.startswith(ids.PREFIX) for component in found)
    assert found[ids.TABLE].rowData[0]["id"] == 7 and found[ids.POLL].interval == 3000
    assert found[ids.ACTIONS].hidden and found[ids.ACKNOWLEDGE].hidden  # until an incident is shown
    assert [o["value"] for o in found[ids.UNIT].options] == list(UNITS)
    shown = text(page)
    assert t("incidents.title", lang) in shown and t("incidents.title", "en" if lang == "vi" else "vi") not in shown


def test_cameras_may_have_image_links_in_the_city_data(tmp_path: Path) -> None:
    folder = tmp_path / "city"
    shutil.copytree(DEFAULT_CITY_DIR, folder)
    data = json.loads((folder / "sensors.json").read_text())
    data["traffic_camera"][0]["snapshot_url"] = "https://cams.example/01.jpg"
    data["traffic_camera"][0]["stream_url"] = "http://cams.example/01/live"
    (folder / "sensors.json").write_text(json.dumps(data))
    camera = load_city(folder).sensors[data["traffic_camera"][0]["id"]]
    assert (camera.snapshot_url, camera.stream_url) == ("https://cams.example/01.jpg", "http://cams.example/01/live")
    assert load_city().sensors_of("traffic_camera")[1].snapshot_url is None  # optional
    data["traffic_camera"][0]["stream_url"] = "javascript:alert(1)"
    (folder / "sensors.json").write_text(json.dumps(data))
    with pytest.raises(CityDataError, match="stream_url: must be an http"):
        load_city(folder)


# ---------------------------------------------------------------- callbacks over HTTP


@pytest.fixture
def login_redis(request: pytest.FixtureRequest) -> str:
    """The Redis the logins are rate-limited in: the server at IOC_TEST_REDIS_URL, else the embedded one."""
    return os.environ.get("IOC_TEST_REDIS_URL") or request.getfixturevalue("embedded_redis").url


@pytest.fixture
def app(db: Database, db_settings: Settings, login_redis: str, namespace: str, make_app: Any) -> Iterator[Dash]:
    """An app from the factory on the database under test."""
    yield make_app(database_url=db_settings.database_url, redis_url=login_redis, namespace=namespace)
    client = connect_url(login_redis)
    wipe_namespace(client, Keys(namespace))
    client.close()


def report(
    db: Database,
    city: City,
    incident_type: str = "traffic_accident",
    severity: Any = "warning",
    sensor: int = 0,
    description: str = "two cars",
) -> Incident:
    """An incident opened by hand at a city sensor (as another operator)."""
    where = list(city.sensors.values())[sensor]
    return lifecycle.open_by_hand(
        db,
        city=city,
        limits=LIMITS,
        actor="someone",
        role=Role.OPERATOR,
        incident_type=incident_type,
        lat=where.lat,
        lon=where.lon,
        description=description,
        severity=severity,
    )


def json_text(node: Any) -> str:
    """Every text shown in a JSON layout."""
    if isinstance(node, str | int | float) and not isinstance(node, bool):
        return str(node)
    if isinstance(node, list):
        return " ".join(json_text(item) for item in node)
    if isinstance(node, dict) and isinstance(node.get("props"), dict):
        return json_text(node["props"].get("children"))
    return ""


class Panel:
    """The incidents page in one signed-in tab (BrowserPage: the page's values kept, callbacks posted as the
    renderer posts them), with the page's own words."""

    def __init__(self, http: Http, lang: str = "en") -> None:
        self.page = BrowserPage(http, PATH, f"?lang={lang}")

    def value(self, component_id: str, prop: str) -> Any:
        return self.page.props.get((component_id, prop))

    def shows(self, component_id: str) -> str:
        return json_text(self.value(component_id, "children"))

    def ids(self) -> list[int]:
        return [r["id"] for r in self.value(ids.TABLE, "rowData")]

    def set(self, component_id: str, prop: str, value: Any) -> list[Any]:
        return self.page.set(component_id, prop, value)

    def select(self, incident_id: int) -> None:
        self.set(ids.TABLE, "selectedRows", [{"id": incident_id}])

    def click(self, component_id: str) -> list[Any]:
        clicks = (self.value(component_id, "n_clicks") or 0) + 1
        return self.set(component_id, "n_clicks", clicks)

    def act(self, action: str, text: str | None = None, unit: str | None = None) -> str:
        """Type the text, choose the unit, click the action's button: what the page then says."""
        self.page.props[(ids.TEXT, "value")] = text
        self.page.props[(ids.UNIT, "value")] = unit
        self.click(f"incidents-do-{action}")
        return self.shows(ids.MESSAGE)

    def visible_actions(self) -> list[str]:
        return [a.value for a in Action if self.value(f"incidents-do-{a.value}", "hidden") is False]


def signed_in(app: Dash, role: Role = Role.OPERATOR, lang: str = "en") -> tuple[Panel, str]:
    http = AppHttp(app)
    name = new_account(app_database(app), role).username
    sign_in(http, name, PASSWORD)
    return Panel(http, lang), name


def test_table_lists_incidents_and_the_filters_apply_on_the_server(app: Dash, db: Database, city: City) -> None:
    fire = report(db, city, "fire", "critical", sensor=0)
    tree = report(db, city, "fallen_tree", "info", sensor=len(city.sensors) - 1)
    old = report(db, city, "other", "warning", sensor=1)
    with db.transaction() as session:
        session.execute(
            sa.update(IncidentRow)
            .where(IncidentRow.id == old.id)
            .values(opened_at=datetime.now(UTC) - timedelta(days=10))
        )
    panel, _ = signed_in(app)
    assert panel.ids() == [tree.id, fire.id]  # newest first; the last 7 days by default
    assert panel.shows(ids.COUNT) == "2 incidents"
    rows = {r["id"]: r for r in panel.value(ids.TABLE, "rowData")}
    assert rows[fire.id]["severity_label"] == "Critical" and rows[fire.id]["type_label"] == "Fire"
    panel.set(ids.PERIOD, "value", "30d")
    assert panel.ids() == [old.id, tree.id, fire.id]
    panel.set(ids.SEVERITY, "value", ["critical"])
    assert panel.ids() == [fire.id]
    panel.set(ids.SEVERITY, "value", [])
    panel.set(ids.TYPE, "value", ["fallen_tree", "other"])
    assert panel.ids() == [old.id, tree.id]
    panel.set(ids.WARD, "value", [tree.ward])
    assert tree.id in panel.ids() and all(
        r["ward"] == city.wards[tree.ward or ""].name for r in panel.value(ids.TABLE, "rowData")
    )
    panel.set(ids.WARD, "value", [])
    panel.set(ids.TYPE, "value", [])
    lifecycle.act(
        db,
        fire.id,
        Action.ACKNOWLEDGE,
        actor="x",
        role=Role.OPERATOR,
        expected_version=fire.version,
        limits=LIMITS,
        units=UNITS,
        text="seen",
    )
    panel.set(ids.STATUS, "value", ["acknowledged"])
    assert panel.ids() == [fire.id]
    panel.set(ids.STATUS, "value", [])
    # the page's dates are the city's (UTC+7): from 17:00 UTC on, the UTC date is the day before the city's
    ten_days_ago = (datetime.now(ZoneInfo(city.timezone)) - timedelta(days=10)).date().isoformat()
    panel.page.props[(ids.DATES, "start_date")] = ten_days_ago
    panel.set(ids.PERIOD, "value", "dates")
    assert panel.ids() == [old.id, tree.id, fire.id]
    panel.set(ids.DATES, "end_date", ten_days_ago)
    assert panel.ids() == [old.id]


def test_the_poll_reloads_the_table_only_when_incidents_changed(app: Dash, db: Database, city: City) -> None:
    first = report(db, city)
    panel, _ = signed_in(app)
    assert panel.ids() == [first.id]
    (quiet,) = panel.set(ids.POLL, "n_intervals", 1)
    assert quiet.status == 204  # nothing changed: nothing sent
    second = report(db, city, "fire")
    (reply,) = panel.set(ids.POLL, "n_intervals", 2)
    assert reply.status == 200 and panel.ids() == [second.id, first.id]
    lifecycle.act(
        db,
        first.id,
        Action.ACKNOWLEDGE,
        actor="x",
        role=Role.OPERATOR,
        expected_version=first.version,
        limits=LIMITS,
        units=UNITS,
        text="seen",
    )
    panel.set(ids.POLL, "n_intervals", 3)
    assert [r["status"] for r in panel.value(ids.TABLE, "rowData")] == ["new", "acknowledged"]
    assert panel.set(ids.POLL, "n_intervals", 4)[0].status == 204


def test_detail_of_the_selected_incident(app: Dash, db: Database, city: City) -> None:
    opened = report(db, city, "fire", "critical")
    panel, _ = signed_in(app)
    assert panel.shows(ids.DETAIL) == "Select an incident in the table to see it here."
    panel.select(opened.id)
    shown = panel.shows(ids.DETAIL)
    for part in (
        f"#{opened.id}",
        "Fire",
        opened.place_name,
        "Critical",
        "New",
        "Reported by hand",
        "Timeline",
        "someone Open two cars",
        "Nearest cameras",
    ):
        assert part in shown, part
    for camera in opened.cameras:
        assert city.sensors[camera].name in shown
    assert panel.value(ids.SHOWN, "data") == {"id": opened.id, "version": opened.version}
    assert panel.visible_actions() == ["acknowledge", "comment"] and panel.value(ids.ACTIONS, "hidden") is False
    panel.set(ids.TABLE, "selectedRows", [])
    assert panel.value(ids.SHOWN, "data") is None and panel.value(ids.ACTIONS, "hidden") is True


def test_camera_status_comes_from_redis(app: Dash, db: Database, city: City, login_redis: str, namespace: str) -> None:
    opened = report(db, city)
    client = connect_url(login_redis)
    client.hset(
        Keys(namespace).health(),
        opened.cameras[0],
        json.dumps({"status": "offline", "since": 1.0, "reason": "missed", "ts": 1.0}),
    )
    client.close()
    panel, _ = signed_in(app)
    panel.select(opened.id)
    assert f"{city.sensors[opened.cameras[0]].name} Offline" in panel.shows(ids.DETAIL)
    assert f"{city.sensors[opened.cameras[1]].name} Unknown" in panel.shows(ids.DETAIL)


def latest(db: Database, action: str) -> AuditEntry:
    (found,) = audit.entries(db, limit=1, action=action)
    return found


def test_an_operator_takes_each_action_and_may_not_close(app: Dash, db: Database, city: City) -> None:
    opened = report(db, city)
    panel, name = signed_in(app)
    panel.select(opened.id)
    assert panel.act("acknowledge", "") == "A comment is needed."
    assert lifecycle.get_incident(db, opened.id).status == "new"
    assert panel.act("acknowledge", "on my way") == f"Incident #{opened.id}: acknowledge done (now Acknowledged)."
    acknowledged = latest(db, "incident.acknowledge")
    assert (acknowledged.actor, acknowledged.address, (acknowledged.after or {})["text"]) == (
        name,
        "127.0.0.1",
        "on my way",
    )
    assert panel.value(ids.TEXT, "value") == "" and "on my way" in panel.shows(ids.DETAIL)
    assert panel.visible_actions() == ["dispatch", "comment"]
    assert panel.act("dispatch") == "Choose a unit to dispatch."
    assert panel.act("dispatch", unit="fire-114").startswith(f"Incident #{opened.id}: dispatch done")
    assert "Unit: Fire 114" in panel.shows(ids.DETAIL)
    assert panel.act("comment", "crew on site").endswith("(now Dispatched).")
    assert panel.act("resolve", "road clear").endswith("(now Resolved).")
    assert panel.visible_actions() == ["comment"]  # an operator may neither close nor reopen
    now = lifecycle.get_incident(db, opened.id)
    assert (now.status, now.unit, now.version) == ("resolved", "fire-114", opened.version + 4)
    assert panel.value(ids.SHOWN, "data") == {"id": opened.id, "version": now.version}
    # The buttons are hidden, but a posted click is checked by the core all the same.
    assert panel.act("close") == "Your role may not do this."
    assert panel.act("reopen", "again") == "Your role may not do this."
    assert lifecycle.get_incident(db, opened.id) == now
    steps = [e.action for e in lifecycle.timeline(db, opened.id)]
    assert steps == [
        "incident.open",
        "incident.acknowledge",
        "incident.dispatch",
        "incident.comment",
        "incident.resolve",
    ]


def test_a_manager_closes_and_reopens(app: Dash, db: Database, city: City) -> None:
    opened = report(db, city)
    version = opened.version
    for action, words in ((Action.ACKNOWLEDGE, "seen"), (Action.DISPATCH, None), (Action.RESOLVE, "done")):
        version = lifecycle.act(
            db,
            opened.id,
            action,
            actor="op",
            role=Role.OPERATOR,
            expected_version=version,
            limits=LIMITS,
            units=UNITS,
            text=words,
            unit="police-113",
        ).version
    panel, name = signed_in(app, Role.MANAGER, lang="vi")
    panel.select(opened.id)
    assert panel.visible_actions() == ["close", "reopen", "comment"]
    assert panel.act("close").endswith("(hiện: Đã đóng).")
    assert latest(db, "incident.close").actor == name
    assert panel.visible_actions() == ["reopen"]
    assert panel.act("reopen", "") == "Cần nhập ghi chú."
    assert panel.act("reopen", "not fixed") == f"Sự cố #{opened.id}: đã thực hiện «mở lại» (hiện: Đã tiếp nhận)."
    assert lifecycle.get_incident(db, opened.id).status == "acknowledged"


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        ("en", "Someone else changed this incident first (now Acknowledged). It was reloaded: check it and try again."),
        ("vi", "Người khác vừa thay đổi sự cố này (hiện: Đã tiếp nhận). Đã tải lại, vui lòng xem rồi thử lại."),
    ],
)
def test_a_change_made_meanwhile_is_told_and_the_incident_shown_as_it_is(
    app: Dash, db: Database, city: City, lang: str, said: str
) -> None:
    opened = report(db, city)
    panel, _ = signed_in(app, lang=lang)
    panel.select(opened.id)
    lifecycle.act(
        db,
        opened.id,
        Action.ACKNOWLEDGE,
        actor="colleague",
        role=Role.OPERATOR,
        expected_version=opened.version,
        limits=LIMITS,
        units=UNITS,
        text="mine",
    )
    assert panel.act("acknowledge", "me too") == said
    assert panel.value(ids.MESSAGE, "children")["props"]["className"] == "inc-message is-error"
    assert panel.value(ids.SHOWN, "data") == {"id": opened.id, "version": opened.version + 1}
    assert "colleague" in panel.shows(ids.DETAIL) and panel.visible_actions() == ["dispatch", "comment"]
    assert panel.value(ids.TEXT, "value") == "me too"  # kept, to be used again
    assert [e.actor for e in lifecycle.timeline(db, opened.id)] == ["someone", "colleague"]


def test_open_an_incident_by_hand_at_the_point_clicked(app: Dash, db: Database, city: City) -> None:
    panel, name = signed_in(app, lang="vi")
    panel.set(ids.NEW_DESCRIPTION, "value", "cây đổ chắn đường")
    panel.click(ids.NEW_SUBMIT)
    assert panel.shows(ids.MESSAGE) == "Hãy bấm vào bản đồ để chọn vị trí trước."
    (south, west), _ = city.bbox
    panel.set(ids.NEW_MAP, "clickData", {"latlng": {"lat": south - 1, "lng": west}})
    assert panel.value(ids.NEW_POINT, "data") is None and panel.shows(ids.NEW_PLACE) == "Vị trí nằm ngoài thành phố."
    sensor = city.sensors_of("water_station")[0]
    panel.set(ids.NEW_MAP, "clickData", {"latlng": {"lat": sensor.lat, "lng": sensor.lon}})
    assert panel.value(ids.NEW_POINT, "data") == {"lat": sensor.lat, "lon": sensor.lon}
    assert panel.shows(ids.NEW_PLACE).startswith("Vị trí: ")
    panel.set(ids.NEW_TYPE, "value", "fallen_tree")
    panel.set(ids.NEW_SEVERITY, "value", "critical")
    panel.set(ids.NEW_DESCRIPTION, "value", " ")
    panel.click(ids.NEW_SUBMIT)
    assert panel.shows(ids.MESSAGE) == "Cần nhập mô tả." and not list_incidents(db)
    panel.set(ids.NEW_DESCRIPTION, "value", "cây đổ chắn đường")
    panel.click(ids.NEW_SUBMIT)
    (made,) = list_incidents(db)
    assert panel.shows(ids.MESSAGE) == f"Đã mở sự cố #{made.id} (Cây đổ) tại {made.place_name}."
    assert (made.type, made.severity, made.source, made.opened_by, made.description) == (
        "fallen_tree",
        "critical",
        "manual",
        name,
        "cây đổ chắn đường",
    )
    assert (made.lat, made.lon) == (sensor.lat, sensor.lon)
    assert latest(db, "incident.open").address == "127.0.0.1"
    assert panel.value(ids.NEW_DESCRIPTION, "value") == "" and panel.value(ids.NEW_POINT, "data") is None
    panel.set(ids.POLL, "n_intervals", 1)
    assert panel.ids() == [made.id]  # the next poll brings it into the table


def ours_(output: str) -> bool:
    """Whether a callback (by its output string) writes to this page's components."""
    return any(component.startswith(ids.PREFIX) for component, _ in prop_ids(output))


def test_every_incidents_callback_needs_handle_incidents(app: Dash) -> None:
    app.server.test_client().get("/login")
    ours = [spec for key, spec in app.callback_map.items() if ours_(key)]
    assert len(ours) == 5
    assert all(getattr(spec["callback"], GUARD_ATTRIBUTE) is Permission.HANDLE_INCIDENTS for spec in ours)


def test_the_page_says_so_when_the_database_does_not_answer(make_app: Any) -> None:
    from callbacks.incidents.page import page

    app = make_app(database_url="postgresql://nobody@127.0.0.1:9/nothing?connect_timeout=2")
    with app.server.test_request_context(f"{PATH}?lang=en"):
        login_user(Principal("account", 1, "ana", Role.OPERATOR, 1))
        shown: Component = page(lang="en")
    found = {c.id: c for c in walk(shown) if isinstance(getattr(c, "id", None), str)}
    assert text(found[ids.MESSAGE]) == "The database cannot be reached right now."
    assert found[ids.TABLE].rowData == [] and found[ids.MARKER].data is None


# ---------------------------------------------------------------- under ioc web: roles and two operators at once


@dataclass
class Served:
    """`ioc web` on one database, and that database opened by the test."""

    server: WebServer
    database: Database


@pytest.fixture(scope="module", params=DATABASES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedded_redis: EmbeddedRedis
) -> Iterator[Served]:
    """The app under `ioc web` (2 workers) on each database, Redis 7 when IOC_TEST_REDIS_URL is set."""
    root = tmp_path_factory.mktemp("incidents-web")
    with database_env(request.param, root / "data") as database_vars:
        redis_url = os.environ.get("IOC_TEST_REDIS_URL") or embedded_redis.url
        keys = Keys(f"i{uuid.uuid4().hex[:10]}")
        env = server_env(
            root / "data", **database_vars, IOC_REDIS_URL=redis_url, IOC_NAMESPACE=keys.namespace, IOC_WEB_WORKERS="2"
        )
        server = WebServer(env, root / "web.log")
        client = connect_url(redis_url)
        try:
            server.start()  # migrates the database
            database = open_database(
                Settings(data_dir=root / "data", database_url=database_vars.get("IOC_DATABASE_URL"))
            )
            try:
                yield Served(server, database)
            finally:
                database.close()
        finally:
            server.stop()
            wipe_namespace(client, keys)
            client.close()


def web_session(served: Served, role: Role | None) -> UrlHttp:
    http = UrlHttp(served.server.url)
    if role is Role.DISPLAY:
        from benchmarks.browser import sign_in_with_token

        sign_in_with_token(http, new_display_token(served.database)[1])
    elif role is not None:
        sign_in(http, new_account(served.database, role).username, PASSWORD)
    return http


def test_roles_without_handle_incidents_are_refused_by_the_server(served: Served, city: City) -> None:
    opened = report(served.database, city)
    panel = Panel(web_session(served, Role.OPERATOR))
    panel.select(opened.id)
    panel.page.props[(ids.TEXT, "value")] = "mine"
    bodies = [
        panel.page.body(d, panel.page.inputs_of(d)[:1])
        for d in panel.page.dependencies
        if ours_(d["output"]) and d.get("clientside_function") is None
    ]
    assert len(bodies) == 5
    for role, status in ((None, 401), (Role.DISPLAY, 403), (Role.TRAINER, 403), (Role.ADMIN, 403)):
        http = web_session(served, role)
        page = http.request("GET", PATH)
        assert page.status == (302 if role is None else 403), (role, page.status)
        for body in bodies:
            reply = http.request("POST", UPDATE_PATH, json_body=body)
            assert reply.status == status, (role, body["output"][:60], reply.status)
            assert opened.place_name.encode() not in reply.body
    assert lifecycle.get_incident(served.database, opened.id) == opened  # nobody changed it
    assert web_session(served, Role.MANAGER).request("GET", PATH).status == 200


def acknowledge_body(panel: Panel) -> dict[str, Any]:
    """The request a click on "acknowledge" posts from this tab."""
    page = panel.page
    page.props[(ids.ACKNOWLEDGE, "n_clicks")] = 1
    dependency = next(d for d in page.dependencies if any(i["id"] == ids.ACKNOWLEDGE for i in d["inputs"]))
    return page.body(dependency, [(ids.ACKNOWLEDGE, "n_clicks")])


def at_once(https: list[Http], bodies: list[dict[str, Any]]) -> tuple[list[HttpReply | None], float]:
    """Post each body from its own session at the same moment (threads behind a barrier): the replies, and how long
    the requests were in flight together (seconds; negative if they were not)."""
    barrier = threading.Barrier(len(https))
    replies: list[HttpReply | None] = [None] * len(https)
    spans = [(0.0, 0.0)] * len(https)

    def post(n: int) -> None:
        barrier.wait()
        began = time.monotonic()
        replies[n] = https[n].request("POST", UPDATE_PATH, json_body=bodies[n])
        spans[n] = (began, time.monotonic())

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(https))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return replies, min(end for _, end in spans) - max(start for start, _ in spans)


def test_two_operators_acknowledge_at_once_and_exactly_one_wins(served: Served, city: City) -> None:
    rounds = 4
    overlaps = []
    for _ in range(rounds):
        opened = report(served.database, city, "fire", "critical")
        panels = [Panel(web_session(served, Role.OPERATOR)) for _ in range(2)]
        for n, panel in enumerate(panels):
            panel.select(opened.id)
            assert panel.value(ids.SHOWN, "data") == {"id": opened.id, "version": opened.version}
            panel.page.props[(ids.TEXT, "value")] = f"operator {n} takes it"
        bodies = [acknowledge_body(panel) for panel in panels]
        replies, overlap = at_once([panel.page.http for panel in panels], bodies)
        assert all(r is not None and r.status == 200 for r in replies), [r and r.status for r in replies]
        answers = [r.json()["response"] for r in replies if r is not None]
        said = [a[ids.MESSAGE]["children"]["props"] for a in answers]
        won = [n for n, s in enumerate(said) if s["className"] == "inc-message is-ok"]
        assert len(won) == 1, said
        lost = 1 - won[0]
        assert said[lost]["className"] == "inc-message is-error"
        assert said[lost]["children"] == (
            "Someone else changed this incident first (now Acknowledged). It was reloaded: check it and try again."
        )
        # The one who lost sees the incident as it is now: acknowledged by the other, at the new version.
        assert answers[lost][ids.SHOWN]["data"] == {"id": opened.id, "version": opened.version + 1}
        assert f"operator {won[0]} takes it" in json_text(answers[lost][ids.DETAIL]["children"])
        now = lifecycle.get_incident(served.database, opened.id)
        assert (now.status, now.version) == ("acknowledged", opened.version + 1)
        steps = [e for e in lifecycle.timeline(served.database, opened.id) if e.action == "incident.acknowledge"]
        assert len(steps) == 1 and (steps[0].after or {})["text"] == f"operator {won[0]} takes it"
        overlaps.append(overlap)
    assert sum(1 for o in overlaps if o > 0) >= rounds - 1, overlaps  # the requests were in flight together
