"""The after-action report without a browser: the core report of a scripted exercise with known times (a response met,
a late one, a missed one) from its kept results and scored from its MSEL alike, with the comparison of the exercises
of its scenario; the Excel export read back with openpyxl in both languages (codes as words); the PDF (its text read
back with pypdf, Vietnamese letters included). Real Redis and both databases."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
import sqlalchemy as sa
from dash import Dash
from openpyxl import load_workbook
from pypdf import PdfReader

from benchmarks.browser import BrowserPage
from ioc.audit import AuditRow
from ioc.city import City
from ioc.db import Database
from ioc.errors import NotFound
from ioc.exercises.exports import _cell, export_bytes, report_tables, timeline_chart
from ioc.exercises.injects import keep_results, send_due
from ioc.exercises.msel import Msel
from ioc.exercises.records import change_status, save_position
from ioc.exercises.report import after_action_report
from ioc.identity.roles import Permission, Role
from ioc.incidents.lifecycle import act, open_by_hand
from ioc.incidents.places import place_of
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from layouts.exercises import ids
from layouts.exercises.report import PATH, timeline_figure
from simulators.scenario import load_scenario
from tests.conftest import wipe_namespace
from tests.sessions import PASSWORD, new_account
from tests.test_auth import REFUSALS, guard_of
from tests.test_exercises import keys_of
from tests.test_exercises_page import browser, post
from tests.test_msel import LIMITS, T0, UNITS, _start, at

TZ = "Asia/Ho_Chi_Minh"


@pytest.fixture
def base(namespace: str, r: redis.Redis) -> Iterator[str]:
    yield namespace
    for key in keys_of(r, namespace):
        r.delete(key)


def scripted(db: Database, r: redis.Redis, city: City, base: str, name: str, msel: Msel[Any]) -> int:
    """An exercise of rush-hour-crash with known times, stopped at 90 min with its results kept: the casualty opened by
    hand 2 min after the call (target 5: on time), acknowledged 9 min after it opened (target 8: late), never
    dispatched to ambulance-115 (target 10: missed); the queue inject (80 min) never sent."""
    exercise = _start(db, r, base, name)
    send_due(db, exercise.id, msel, sim_start=T0, now=at(70))
    send_due(db, exercise.id, msel, sim_start=T0, now=at(72))
    crash = place_of(city, "seg-pct-03")
    accident = open_by_hand(
        db,
        city=city,
        limits=LIMITS,
        actor="ana",
        role="operator",
        incident_type="traffic_accident",
        lat=crash.lat,
        lon=crash.lon,
        description="xe tải va chạm xe máy",
        exercise=exercise.id,
        now=at(74),
    )
    act(
        db,
        accident.id,
        "acknowledge",
        actor="ana",
        role="operator",
        expected_version=accident.version,
        limits=LIMITS,
        units=UNITS,
        text="ok",
        now=at(83),
        exercise=exercise.id,
    )
    save_position(db, exercise.id, sim_start=T0.timestamp(), position=at(90).timestamp())
    change_status(db, r, exercise.id, "stop", actor="cli:trainer", base=base)
    keep_results(db, exercise.id, msel, at(90), actor="cli:trainer")
    return int(exercise.id)


@pytest.fixture
def msel(city: City) -> Msel[Any]:
    found = load_scenario("rush-hour-crash", city=city).msel
    assert found is not None
    return found


def test_report_of_a_scripted_exercise(r: redis.Redis, db: Database, city: City, base: str, msel: Msel[Any]) -> None:
    first = scripted(db, r, city, base, "team A", msel)
    second = scripted(db, r, city, base, "team B", msel)
    kept = after_action_report(db, first, client=r, base=base, names={})
    scored = after_action_report(db, first, msel=msel)
    assert (kept.source, scored.source) == ("kept", "scored")
    for report in (kept, scored):
        assert report.clock_start == T0 and report.clock_end == at(90)
        assert [(o.objective, o.rating) for o in report.objectives] == [("casualties", "M"), ("traffic", None)]
        assert [(r.inject, r.status, r.took_s, r.target_s) for r in report.responses] == [
            ("crash-call", "on_time", 120.0, 300.0),
            ("crash-call", "late", 540.0, 480.0),
            ("crash-call", "missed", None, 600.0),
            ("queue", "not_sent", None, 300.0),
            ("queue", "not_sent", None, 600.0),
        ]
        kinds = [(e.kind, e.code) for e in report.events]
        assert kinds == [
            ("inject", "episode"),
            ("inject", "message"),
            ("incident", "traffic_accident"),
            ("action", "acknowledge"),
        ]
        assert [e.at for e in report.events] == [at(70), at(72), at(74), at(83)]
        # both exercises of the scenario compared, newest first
        assert [h.id for h in report.history] == [second, first]
        assert all(h.ratings == {"casualties": "M", "traffic": None} for h in report.history)
    assert kept.events[3].text("vi") == "ana: Tiếp nhận sự cố #1 (Tai nạn giao thông)".replace(
        "#1", f"#{kept.events[2].ref}"
    )
    assert "Acknowledge incident" in kept.events[3].text("en")
    with pytest.raises(NotFound):
        after_action_report(db, 9999)


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("vi", {"sheet": "Phản ứng", "late": "Trễ", "missed": "Bỏ lỡ", "rating": "Hoàn thành, gặp khó khăn lớn"}),
        ("en", {"sheet": "Responses", "late": "Late", "missed": "Missed", "rating": "Performed with major challenges"}),
    ],
)
def test_excel_export_in_the_readers_language(
    r: redis.Redis, db: Database, city: City, base: str, msel: Msel[Any], lang: str, words: dict[str, str]
) -> None:
    exercise = scripted(db, r, city, base, "=team A", msel)
    report = after_action_report(db, exercise)
    name, content = export_bytes(report, "xlsx", lang=lang, tz=TZ)
    assert name.startswith(f"exercise-{exercise}-report-") and name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(content))
    assert len(book.sheetnames) == 5 and words["sheet"] in book.sheetnames
    responses = [list(row) for row in book[words["sheet"]].iter_rows(values_only=True)]
    states = [row[7] for row in responses[1:]]
    assert states[:3] == [report_tables(report, lang, TZ)[2].rows[0][7], words["late"], words["missed"]]
    assert responses[1][4].hour == 7 and responses[1][4].minute == 12  # local time (UTC+7), the call at 07:12
    assert "traffic_accident" not in str(responses) and "acknowledge" not in str(responses)  # codes as words
    summary = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    assert summary[1][1] == f"#{exercise} =team A"
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell("a\x07b") == "ab"  # text, never a formula
    objectives = [list(row) for row in book.worksheets[1].iter_rows(values_only=True)]
    assert objectives[1][1:4] == ["M", words["rating"], 1]


def test_pdf_export_holds_the_text(r: redis.Redis, db: Database, city: City, base: str, msel: Msel[Any]) -> None:
    exercise = scripted(db, r, city, base, "Đội Tam Kỳ", msel)
    report = after_action_report(db, exercise)
    name, content = export_bytes(report, "pdf", lang="vi", tz=TZ)
    assert name.endswith(".pdf") and content.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)
    for expected in ("Báo cáo sau diễn tập", "Đội Tam Kỳ", "Hoàn thành, gặp khó khăn lớn", "Bỏ lỡ", "Cấp cứu"):
        assert expected in text, expected
    _, english = export_bytes(report, "pdf", lang="en", tz=TZ)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(english)).pages)
    assert "Performed with major challenges" in text and "Missed" in text


def test_pdf_export_draws_the_timeline_as_a_chart(
    r: redis.Redis, db: Database, city: City, base: str, msel: Msel[Any]
) -> None:
    exercise = scripted(db, r, city, base, "Đội An Mỹ", msel)
    report = after_action_report(db, exercise)
    chart = timeline_chart(report, "en")
    assert chart is not None and chart.start <= chart.end
    marks = sum(len(row.marks) for row in chart.rows)
    bars = sum(len(row.bars) for row in chart.rows)
    kinds = {e.kind for e in report.events}
    assert marks == len(report.events) + bars and bars >= 1  # every event, and where each response ended
    _, content = export_bytes(report, "pdf", lang="en", tz=TZ)
    first = PdfReader(io.BytesIO(content)).pages[0]
    text = first.extract_text()
    assert f"Timeline — Exercise clock ({TZ})" in text
    for kind in kinds:
        assert {"inject": "Inject", "alert": "Alert", "incident": "Incident", "action": "Trainee action"}[kind] in text
    start = chart.start.astimezone(ZoneInfo(TZ))
    assert start.strftime("%H:%M") in text  # the axis, in local time
    drawing = first.get_contents().get_data()  # type: ignore[union-attr]
    assert drawing.count(b" c f") == marks  # each mark a filled circle (four curves, filled)
    assert drawing.count(b" re f") >= bars  # each response's bar a filled rectangle
    assert b"0.1725 0.6275 0.1725 rg" in drawing or b"0.8392 0.1529 0.1569 rg" in drawing  # green or red ends
    # nothing happened: no chart, the PDF still made
    assert timeline_chart(replace(report, events=(), objectives=()), "en") is None


@pytest.fixture
def app(db: Database, db_settings: Settings, redis_url: str, namespace: str, make_app: Any) -> Iterator[Dash]:
    """An app from the factory on the database and Redis under test."""
    built = make_app(database_url=db_settings.database_url, redis_url=redis_url, namespace=namespace)
    yield built
    client = connect_url(redis_url)
    wipe_namespace(client, Keys(namespace))
    client.close()


def report_callbacks(page: BrowserPage) -> list[dict[str, Any]]:
    """The server callbacks writing the report page's components."""
    return [
        d
        for d in page.dependencies
        if d.get("clientside_function") is None and ids.REPORT_PREFIX in d["output"] and "_pages" not in d["output"]
    ]


def test_every_callback_of_the_report_page_is_for_trainers_and_managers(
    app: Dash, r: redis.Redis, db: Database, city: City, base: str, msel: Msel[Any]
) -> None:
    exercise = scripted(db, r, city, base, "team A", msel)
    trainer_account = new_account(db, Role.TRAINER)
    page = BrowserPage(app, PATH, f"?lang=en&id={exercise}", user=(trainer_account.username, PASSWORD))
    assert page.knows(ids.REPORT_SELECT) and page.knows(ids.REPORT_PDF)
    assert page.props[(ids.REPORT_SELECT, "value")] == exercise  # ?id= chooses it (a text in the URL)
    links = json.dumps(page.props[(ids.REPORT_LANG_SWITCH, "children")])
    assert f"/exercises/report?lang=vi&id={exercise}" in links  # the other language keeps it
    found = report_callbacks(page)
    assert len(found) == 2  # the report (and its language links), the export
    for dependency in found:
        assert guard_of(app.callback_map[dependency["output"]]["callback"]) == Permission.REVIEW_EXERCISES
    for role in (None, Role.OPERATOR, Role.ADMIN, Role.DISPLAY):
        http = browser(app, role, db)
        for dependency in found:
            reply = post(page, http, dependency)
            assert reply.status == (401 if role is None else 403), (role, dependency["output"], reply.status)
            assert reply.json() in REFUSALS
    with db.read() as session:  # nobody else exported anything
        assert session.scalar(sa.select(sa.func.count()).where(AuditRow.action == "exercise.report_export")) == 0

    # the trainer reads the report and takes it as PDF and Excel, audited
    page.set(ids.REPORT_SELECT, "value", exercise)
    shown = json.dumps(page.props[(ids.REPORT_BODY, "children")], ensure_ascii=False)
    assert "Performed with major challenges" in shown and "Missed" in shown and "Late" in shown
    [done] = page.set(ids.REPORT_PDF, "n_clicks", 1)
    data = done.values[ids.REPORT_DOWNLOAD]["data"]
    assert data["filename"].endswith(".pdf") and base64.b64decode(data["content"]).startswith(b"%PDF")
    [done] = page.set(ids.REPORT_XLSX, "n_clicks", 1)
    data = done.values[ids.REPORT_DOWNLOAD]["data"]
    assert data["filename"].endswith(".xlsx") and base64.b64decode(data["content"]).startswith(b"PK")
    with db.read() as session:
        actors = session.scalars(sa.select(AuditRow.actor).where(AuditRow.action == "exercise.report_export")).all()
    assert actors == [trainer_account.username] * 2

    # a manager may read it too (REVIEW_EXERCISES), in Vietnamese
    manager = new_account(db, Role.MANAGER)
    page = BrowserPage(app, PATH, f"?lang=vi&id={exercise}", user=(manager.username, PASSWORD))
    page.set(ids.REPORT_SELECT, "value", exercise)
    shown = json.dumps(page.props[(ids.REPORT_BODY, "children")], ensure_ascii=False)
    assert "Hoàn thành, gặp khó khăn lớn" in shown and "Bỏ lỡ" in shown


def test_the_chart_is_on_the_exercises_clock(
    r: redis.Redis, db: Database, city: City, base: str, msel: Msel[Any]
) -> None:
    exercise = scripted(db, r, city, base, "team A", msel)
    figure = timeline_figure(after_action_report(db, exercise), "en", TZ)
    points = [(trace.name, x) for trace in figure.data for x in trace.x if trace.name]
    assert ("Inject", datetime(2026, 1, 5, 7, 12)) in points  # the call at 07:12 local, on the exercise's clock
    assert ("Trainee action", datetime(2026, 1, 5, 7, 23)) in points


def test_report_command_shares_the_core_report(
    r: redis.Redis,
    db_env: dict[str, str],
    db: Database,
    city: City,
    base: str,
    redis_url: str,
    msel: Msel[Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli.main import main

    for name, value in {**db_env, "IOC_REDIS_URL": redis_url, "IOC_NAMESPACE": base}.items():
        monkeypatch.setenv(name, value)
    exercise = scripted(db, r, city, base, "team A", msel)
    capsys.readouterr()
    target = tmp_path / "aar.pdf"
    assert main(["exercises", "report", str(exercise), "--json", "--export", str(target), "--lang", "vi"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "scored" and [o["rating"] for o in report["objectives"]] == ["M", None]
    assert [e["kind"] for e in report["timeline"]] == ["inject", "inject", "incident", "action"]
    assert [h["id"] for h in report["history"]] == [exercise]
    assert target.read_bytes().startswith(b"%PDF")
    assert main(["exercises", "report", str(exercise), "--export", str(target)]) != 0  # never over a file
