"""The managers' page: its layout builders as pure functions (both languages), the outputs when the database does not
answer, and its callbacks over HTTP through an app from the factory on SQLite and PostgreSQL, signed in through the
login form as a manager (figures for chosen dates and filters, both exports read back) or as an operator (refused by
the server: the page, the figures and the export)."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator
from datetime import date
from typing import Any

import pandas as pd
import pytest
from dash import Dash
from dash.development.base_component import Component

from benchmarks.browser import UPDATE_PATH, AppHttp, BrowserPage, sign_in
from callbacks.managers.report import EXPORT_PERMISSION, PERMISSION, export, filters_of, page_outputs, refresh
from ioc import audit
from ioc.city import City
from ioc.db import Database
from ioc.i18n import t
from ioc.identity.roles import Permission, Role
from ioc.incidents.model import STATUSES
from ioc.incidents.queries import Filters
from ioc.incidents.reports import between_dates, report
from ioc.incidents.texts import label
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from layouts.managers import ids
from layouts.managers.charts import figures
from layouts.managers.controls import DATES, DEFAULT_PERIOD
from layouts.managers.kpis import duration_text, kpi_cards, percent_text
from layouts.managers.page import PATH, layout
from tests.conftest import wipe_namespace
from tests.sessions import PASSWORD, new_account
from tests.test_auth import guard_of
from tests.test_reports import TZ, Made, local, make

WARDS = {"tam-ky": "Tam Kỳ", "ban-thach": "Bàn Thạch"}
TODAY = date(2026, 3, 17)


def walk(node: object) -> Iterator[Any]:
    """Every component of a tree."""
    if isinstance(node, list | tuple):
        for item in node:
            yield from walk(item)
    elif isinstance(node, Component):
        yield node
        yield from walk(getattr(node, "children", None))


def text(node: object) -> str:
    """Every text shown in a tree (components or their JSON form), joined by spaces."""
    if isinstance(node, str | int | float) and not isinstance(node, bool):
        return str(node)
    if isinstance(node, list | tuple):
        return " ".join(text(item) for item in node)
    if isinstance(node, Component):
        return text(getattr(node, "children", None))
    if isinstance(node, dict) and isinstance(node.get("props"), dict):
        return text(node["props"].get("children"))
    return ""


# ---------------------------------------------------------------- pure builders


@pytest.mark.parametrize(
    ("lang", "title", "days"),
    [("vi", "Báo cáo xử lý sự cố", "30 ngày qua"), ("en", "Incident handling report", "Last 30 days")],
)
def test_page_holds_controls_cards_and_charts_in_one_language(lang: str, title: str, days: str) -> None:
    page: Any = layout(lang=lang, types=("flood", "fire"), wards=WARDS, severities=("info", "critical"), today=TODAY)
    found = {c.id: c for c in walk(page) if isinstance(getattr(c, "id", None), str)}
    assert page.id == ids.ROOT and page.lang == lang and found[ids.LANG].data == lang
    for component in (
        ids.PERIOD,
        ids.DATES,
        ids.TYPES,
        ids.WARDS,
        ids.SEVERITIES,
        ids.EXPORT_CSV,
        ids.EXPORT_XLSX,
        ids.DOWNLOAD,
        ids.MESSAGE,
        ids.EXPORT_MESSAGE,
        ids.SUMMARY,
        ids.KPIS,
        *ids.CHARTS,
    ):
        assert component in found, component
    assert all(str(i).startswith(ids.PREFIX) for i in found)
    assert title in text(page) and t("mgr.title", "en" if lang == "vi" else "vi") not in text(page)
    period = found[ids.PERIOD]
    assert period.value == DEFAULT_PERIOD == "365" and days in [o["label"] for o in period.options]
    assert [o["value"] for o in period.options] == ["7", "30", "90", "365", DATES]
    assert [o["label"] for o in found[ids.WARDS].options] == ["Tam Kỳ", "Bàn Thạch"]
    assert [o["value"] for o in found[ids.TYPES].options] == ["flood", "fire"]
    assert found[ids.TYPES].options[0]["label"] == t("incident.type.flood", lang)
    assert found[ids.DATES].max_date_allowed == "2026-03-17"
    links = [c.href for c in walk(page) if getattr(c, "href", None)]
    assert f"{PATH}?lang=vi" in links and f"{PATH}?lang=en" in links


def test_times_and_shares_are_written_per_language() -> None:
    assert duration_text(12.25, "vi") == "12,2 phút" and duration_text(12.25, "en") == "12.2 min"
    assert duration_text(125, "en") == "2 h 5 min" and duration_text(125, "vi") == "2 giờ 5 phút"
    assert duration_text(None, "en") == "—" and percent_text(None, "en") == "—"
    assert percent_text(0.125, "vi") == "12,5%" and percent_text(0.4, "en") == "40.0%"


def sample_report(db: Database, city: City) -> Any:
    """The incidents of tests/test_reports.py's fixture, here made again, and their report."""
    sensors: dict[str, str] = {}
    for sensor in city.sensors.values():
        if sensor.ward is not None:
            sensors.setdefault(sensor.ward, sensor.id)
    w1, w2, w3 = list(sensors)[:3]
    make(
        db,
        city,
        [
            Made("flood", sensors[w1], "critical", local(10, 8, 15), 2, 30, status="closed"),
            Made("congestion", sensors[w2], "warning", local(10, 8, 45), 4, 60, status="resolved"),
            Made("congestion", sensors[w1], "warning", local(10, 23, 30), 10, None, ack_overdue=True),
            Made("fire", sensors[w3], "critical", local(11, 0, 10), 6, 90, resolve_overdue=True, status="resolved"),
            Made("flood", sensors[w1], "info", local(12, 14, 0)),
        ],
    )
    since, until = between_dates(date(2026, 3, 10), date(2026, 3, 16), tz=TZ)
    return report(db, Filters(since=since, until=until), tz=TZ), (w1, w2, w3)


def test_cards_and_charts_show_the_figures(db: Database, city: City) -> None:
    got, (w1, _w2, _w3) = sample_report(db, city)
    cards = kpi_cards(got, "en")
    shown = [text(card) for card in cards]
    assert shown[0].startswith("Incidents 5") and "2 not resolved yet" in shown[0]
    assert "5.0 min (median)" in shown[1] and "mean 5.5 min" in shown[1] and "90% within 8.8 min" in shown[1]
    assert "over 4 incidents" in shown[1]
    assert "60.0 min (median)" in shown[2] and "90% within 84.0 min" in shown[2]
    assert "40.0%" in shown[3] and "late to acknowledge 20.0%" in shown[3] and "2 incidents" in shown[3]
    names = {ward: city.wards[ward].name for ward in city.wards}
    charts = figures(got, "vi", names)
    assert charts["hours"]["data"][0]["x"][0] == "00" and charts["hours"]["data"][0]["y"][8] == 2
    assert charts["hours"]["data"][0]["y"][0] == 1 and sum(charts["hours"]["data"][0]["y"]) == 5
    assert charts["types"]["data"][0]["y"][-1] == t("incident.type.congestion", "vi")  # the most on top
    assert charts["wards"]["data"][0]["y"][-1] == names[w1] and charts["wards"]["data"][0]["x"][-1] == 3
    assert charts["opened"]["data"][0]["y"] == [3, 1, 1, 0, 0, 0, 0]
    assert charts["opened"]["layout"]["title"]["text"] == t("mgr.chart.opened.day", "vi")
    quality = charts["quality"]["data"]
    assert quality[0]["y"][:3] == [4.0, 6.0, None] and quality[1]["y"][:3] == [33.33, 100.0, 0.0]
    assert charts["days"]["data"][0]["x"][0] == "2026-03-10" and "annotations" not in charts["days"]["layout"]
    for chart in charts.values():  # plain lists, never packed arrays (see DESIGN.md)
        for trace in chart["data"]:
            assert all(isinstance(trace[axis], list) for axis in ("x", "y"))


def test_without_figures_the_cards_and_charts_say_so() -> None:
    cards = kpi_cards(None, "vi")
    assert len(cards) == 4 and all("—" in text(card) for card in cards)
    charts = figures(None, "en", WARDS)
    assert {chart["layout"]["annotations"][0]["text"] for chart in charts.values()} == {t("mgr.chart.no_data", "en")}


def test_a_database_that_does_not_answer_gives_a_message(city: City, caplog: pytest.LogCaptureFixture) -> None:
    down = Database("postgresql://nobody@127.0.0.1:9/none")
    try:
        outputs = page_outputs(down, city, filters_of({"period": "30"}, city=city), "vi")
    finally:
        down.close()
    assert text(outputs["message"]) == t("mgr.unavailable", "vi")
    assert outputs["summary"] == "" and all("—" in text(card) for card in outputs["kpis"])
    assert outputs["hours"]["data"][0]["y"] == [0] * 24
    assert "cannot read the database" in caplog.text


def test_controls_become_filters_and_unknown_values_are_ignored(city: City) -> None:
    chosen = filters_of(
        {
            "period": DATES,
            "start": "2026-03-10",
            "end": "2026-03-16T00:00:00",
            "types": ["flood", "nonsense", 3],
            "wards": ["tam-ky", "atlantis"],
            "severities": ["critical"],
        },
        city=city,
    )
    assert (chosen.since, chosen.until) == between_dates(date(2026, 3, 10), date(2026, 3, 16), tz=city.timezone)
    assert chosen.types == ("flood",) and chosen.wards == ("tam-ky",) and chosen.severities == ("critical",)
    thirty = filters_of({"period": "30"}, city=city)
    assert thirty.until is not None and thirty.since is not None and (thirty.until - thirty.since).days == 30
    assert filters_of({"period": "5000"}, city=city).since == filters_of({}, city=city).since  # the default, 365
    assert filters_of({"period": DATES, "start": "bad"}, city=city).since == filters_of({}, city=city).since


def test_the_callbacks_need_their_permissions() -> None:
    assert PERMISSION is Permission.REVIEW_INCIDENTS and guard_of(refresh) is Permission.REVIEW_INCIDENTS
    assert EXPORT_PERMISSION is Permission.EXPORT_REPORTS and guard_of(export) is Permission.EXPORT_REPORTS


# ---------------------------------------------------------------- over HTTP


@pytest.fixture
def app(db: Database, db_settings: Settings, namespace: str, make_app: Any, embedded_redis: Any) -> Iterator[Dash]:
    """An app from the factory on the database under test."""
    yield make_app(database_url=db_settings.database_url, namespace=namespace)
    client = connect_url(embedded_redis.url)
    wipe_namespace(client, Keys(namespace))
    client.close()


def manager_page(app: Dash, db: Database, search: str = "?lang=en") -> BrowserPage:
    manager = new_account(db, Role.MANAGER)
    return BrowserPage(app, PATH, search, user=(manager.username, PASSWORD))


def shown(page: BrowserPage, component_id: str, prop: str) -> Any:
    return page.props[(component_id, prop)]


def test_a_manager_sees_the_figures_of_the_chosen_dates_and_filters(app: Dash, db: Database, city: City) -> None:
    _, (w1, _w2, _w3) = sample_report(db, city)
    page = manager_page(app, db)
    (first,) = page.fire([(ids.PERIOD, "value")])  # as the page loads: the default period
    assert first.status == 200 and first.values[ids.MESSAGE]["children"] is None
    page.props[(ids.DATES, "start_date")] = "2026-03-10"
    page.props[(ids.DATES, "end_date")] = "2026-03-16"
    (reply,) = page.set(ids.PERIOD, "value", DATES)
    assert reply.status == 200
    assert text(shown(page, ids.SUMMARY, "children")).startswith("5 incidents opened from 2026-03-10 to 2026-03-16")
    cards = [text(card) for card in shown(page, ids.KPIS, "children")]
    assert "5.0 min (median)" in cards[1] and "40.0%" in cards[3]
    assert shown(page, ids.CHART_HOURS, "figure")["data"][0]["y"][8] == 2
    assert shown(page, ids.CHART_OPENED, "figure")["data"][0]["y"] == [3, 1, 1, 0, 0, 0, 0]

    (narrowed,) = page.set(ids.WARDS, "value", [w1])
    assert (
        narrowed.status == 200
        and shown(page, ids.KPIS, "children")[0]["props"]["children"][1]["props"]["children"] == "3"
    )
    page.set(ids.WARDS, "value", [])
    page.set(ids.TYPES, "value", ["fire"])
    assert shown(page, ids.CHART_TYPES, "figure")["data"][0]["y"] == ["Fire"]


def download(page: BrowserPage, button: str) -> tuple[str, bytes]:
    (reply,) = page.set(button, "n_clicks", 1)
    assert reply.status == 200, reply.body[:300]
    data = reply.values[ids.DOWNLOAD]["data"]
    assert data["base64"] is True
    return data["filename"], base64.b64decode(data["content"])


def test_a_manager_exports_csv_and_excel(app: Dash, db: Database, city: City) -> None:
    sample_report(db, city)
    page = manager_page(app, db, "?lang=vi")
    page.props[(ids.PERIOD, "value")] = DATES
    page.props[(ids.DATES, "start_date")] = "2026-03-10"
    page.props[(ids.DATES, "end_date")] = "2026-03-10"
    name, content = download(page, ids.EXPORT_CSV)
    assert name.startswith("incidents-") and name.endswith(".zip")
    assert shown(page, ids.EXPORT_MESSAGE, "children") == f"Đã tạo tệp {name}."
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        incidents = pd.read_csv(io.BytesIO(archive.read("incidents.csv")), encoding="utf-8-sig")
    # In the reader's language (the page is Vietnamese): words, not codes.
    congestion, flood = label("type", "congestion", "vi"), label("type", "flood", "vi")
    assert congestion != "congestion" and flood != "flood"
    assert len(incidents) == 3 and sorted(incidents["type"]) == sorted([congestion, congestion, flood])
    page.props[(ids.SEVERITIES, "value")] = ["critical"]
    name, content = download(page, ids.EXPORT_XLSX)
    assert name.endswith(".xlsx")
    sheets = pd.read_excel(io.BytesIO(content), sheet_name=None)
    assert list(sheets) == ["incidents", "audit"] and sheets["incidents"]["type"].tolist() == [flood]
    assert set(sheets["incidents"]["status"]) <= {label("status", s, "vi") for s in STATUSES}
    assert len(sheets["audit"]) == 2 and f"at ({TZ})" in sheets["audit"].columns
    exports = audit.entries(db, action="report.export")  # each export leaves its trace, newest first
    assert len(exports) == 2 and exports[0].object_id == name and str(exports[1].object_id).endswith(".zip")
    assert exports[0].after is not None and exports[0].after["filters"]["severities"] == ["critical"]


def test_buttons_drawn_anew_export_nothing(app: Dash, db: Database) -> None:
    page = manager_page(app, db)
    (reply,) = page.set(ids.EXPORT_CSV, "n_clicks", 0)
    assert reply.status == 204


def test_an_operator_is_refused_the_page_the_figures_and_the_export(app: Dash, db: Database) -> None:
    manager_view = manager_page(app, db)
    operator = new_account(db, Role.OPERATOR)
    http = AppHttp(app)
    sign_in(http, operator.username, PASSWORD)
    assert http.request("GET", PATH).status == 403
    manager_view.props[(ids.EXPORT_CSV, "n_clicks")] = 1  # a click, as the manager's browser would post it
    posted = {}
    for dependency in manager_view.dependencies:
        outputs = dependency["output"]
        if ids.KPIS in outputs or ids.DOWNLOAD in outputs:
            body = manager_view.body(dependency, BrowserPage.inputs_of(dependency))
            posted[ids.KPIS if ids.KPIS in outputs else ids.DOWNLOAD] = http.request(
                "POST", UPDATE_PATH, json_body=body
            )
    assert {key: reply.status for key, reply in posted.items()} == {ids.KPIS: 403, ids.DOWNLOAD: 403}
    assert all(reply.json() == {"error": "not allowed for this role"} for reply in posted.values())
    # The same click from the manager's own browser is served.
    (served,) = manager_view.set(ids.EXPORT_CSV, "n_clicks", 1)
    assert served.status == 200 and served.values[ids.DOWNLOAD]["data"]["filename"].endswith(".zip")
