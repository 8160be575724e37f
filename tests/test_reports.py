"""The managers' figures and exports (ioc/incidents/reports.py) on SQLite and PostgreSQL, checked against values
worked out by hand from incidents made with known times (set on the rows in the transaction that opens them):
times to acknowledge and resolve with their percentiles, overdue shares, counts by type, ward, local hour and local
day, trends per day and per week, filters; exports read back with pandas."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

from ioc import audit
from ioc.city import City
from ioc.db import Database
from ioc.errors import InvalidInput
from ioc.incidents import reports
from ioc.incidents.lifecycle import new_row, record_open
from ioc.incidents.model import INCIDENT_TYPES, STATUSES, Limits
from ioc.incidents.places import place_of
from ioc.incidents.queries import Filters
from ioc.incidents.texts import label
from ioc.settings import Settings

TZ = "Asia/Ho_Chi_Minh"
LOCAL = ZoneInfo(TZ)


@dataclass(frozen=True)
class Made:
    """An incident to make: opened at a local time, acknowledged and resolved so many minutes later (None: not)."""

    type: str
    place: str  # a sensor id of the city (it gives the ward)
    severity: str
    opened: datetime  # local
    ack_min: float | None = None
    resolve_min: float | None = None
    ack_overdue: bool = False
    resolve_overdue: bool = False
    status: str = "new"
    description: str = "seen from the road"


def local(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=LOCAL)


FAR = timedelta(days=36_500)


def make(db: Database, city: City, items: list[Made]) -> list[int]:
    """Open each incident with its times set on the row, in one transaction each (with its audit row); an
    acknowledged one gets an acknowledge audit row too."""
    limits = Limits.of(Settings())
    ids = []
    for item in items:
        opened = item.opened.astimezone(UTC)
        row = new_row(
            incident_type=item.type,
            source="manual",
            place=place_of(city, item.place),
            severity=item.severity,  # type: ignore[arg-type]
            detected_at=opened,
            opened_by="tester",
            limits=limits,
            city=city,
            description=item.description,
            now=opened,
        )
        if item.ack_min is not None:
            row.acknowledged_at = opened + timedelta(minutes=item.ack_min)
        if item.resolve_min is not None:
            row.resolved_at = opened + timedelta(minutes=item.resolve_min)
        row.ack_overdue, row.resolve_overdue, row.status = item.ack_overdue, item.resolve_overdue, item.status
        # The flags say who was late; the limits agree with them (due at once, or far later), so a figure reading
        # the times (an unfinished incident past its limit) reads the same.
        row.ack_due_at = opened if item.ack_overdue else opened + FAR
        row.resolve_due_at = opened if item.resolve_overdue else opened + FAR
        with db.transaction() as session:
            record_open(session, row, actor="tester")
            if item.ack_min is not None:
                audit.record(
                    session,
                    actor="op-1",
                    action="incident.acknowledge",
                    object_type="incident",
                    object_id=row.id,
                    before={"status": "new"},
                    after={"status": "acknowledged"},
                )
        ids.append(row.id)
    return ids


def ward_of(city: City, sensor: str) -> str:
    ward = city.sensors[sensor].ward
    assert ward is not None
    return ward


# Sensors in three wards (looked up so the test follows the city data).
@pytest.fixture(scope="module")
def places(city: City) -> dict[str, str]:
    """One sensor per ward for three wards: {ward id: sensor id}."""
    found: dict[str, str] = {}
    for sensor in city.sensors.values():
        if sensor.ward is not None and sensor.ward not in found:
            found[sensor.ward] = sensor.id
    assert len(found) >= 3
    return dict(list(found.items())[:3])


@pytest.fixture
def made(db: Database, city: City, places: dict[str, str]) -> tuple[list[int], list[str]]:
    """Five incidents in 10-16 March 2026 (local) and one in February, outside the period."""
    w1, w2, w3 = places
    items = [
        # ack 2 min, resolve 30 min, 08:15 local (01:15 UTC)
        Made("flood", places[w1], "critical", local(10, 8, 15), 2, 30, status="closed"),
        Made("congestion", places[w2], "warning", local(10, 8, 45), 4, 60, status="resolved"),
        # 23:30 local is 16:30 UTC the same day; late to acknowledge, not resolved
        Made("congestion", places[w1], "warning", local(10, 23, 30), 10, None, ack_overdue=True, status="acknowledged"),
        # 00:10 on the 11th locally is 17:10 UTC on the 10th: local hour 0, local day the 11th
        Made("fire", places[w3], "critical", local(11, 0, 10), 6, 90, resolve_overdue=True, status="resolved"),
        Made("flood", places[w1], "info", local(12, 14, 0)),  # not acknowledged
        Made("fire", places[w2], "critical", local(1, 9, 0, month=2), 1, 5, status="closed"),  # outside the period
    ]
    return make(db, city, items), [w1, w2, w3]


def period(first: date = date(2026, 3, 10), last: date = date(2026, 3, 16), **kw: Any) -> Filters:
    since, until = reports.between_dates(first, last, tz=TZ)
    return Filters(since=since, until=until, **kw)


def test_period_helpers_cut_local_days() -> None:
    since, until = reports.between_dates(date(2026, 3, 16), date(2026, 3, 10), tz=TZ)  # the wrong way round
    assert since == datetime(2026, 3, 9, 17, tzinfo=UTC) and until == datetime(2026, 3, 16, 17, tzinfo=UTC)
    now = datetime(2026, 3, 16, 18, 30, tzinfo=UTC)  # 01:30 on the 17th locally
    assert reports.last_days(7, tz=TZ, now=now) == (
        datetime(2026, 3, 10, 17, tzinfo=UTC),
        datetime(2026, 3, 17, 17, tzinfo=UTC),
    )
    assert reports.last_days(1, tz=TZ, now=now)[0] == datetime(2026, 3, 16, 17, tzinfo=UTC)
    with pytest.raises(InvalidInput):
        reports.last_days(0, tz=TZ, now=now)
    chosen = reports.page_filters(tz=TZ, days=None, first=date(2026, 3, 10), types=["fire"], now=now)
    assert (chosen.since, chosen.until, chosen.types) == (
        datetime(2026, 3, 9, 17, tzinfo=UTC),
        datetime(2026, 3, 10, 17, tzinfo=UTC),
        ("fire",),
    )
    assert reports.page_filters(tz=TZ, days=30, now=now).since == datetime(2026, 2, 15, 17, tzinfo=UTC)


def test_figures_match_the_hand_computed_values(db: Database, made: tuple[list[int], list[str]]) -> None:
    _, (w1, w2, w3) = made
    got = reports.report(db, period(), tz=TZ)
    assert got.total == 5
    # Acknowledged after 2, 4, 10, 6 minutes: mean 5.5, median 5; 90th percentile at 0.9 * 3 = 2.7 of [2, 4, 6, 10]
    # sorted: 6 + 0.7 * (10 - 6) = 8.8.
    assert got.ack.count == 4
    assert got.ack.mean == pytest.approx(5.5) and got.ack.median == pytest.approx(5.0)
    assert got.ack.p90 == pytest.approx(8.8)
    # Resolved after 30, 60, 90: mean 60, median 60, p90 at 1.8: 60 + 0.8 * 30 = 84.
    assert got.resolve.count == 3
    assert got.resolve.mean == pytest.approx(60.0) and got.resolve.median == pytest.approx(60.0)
    assert got.resolve.p90 == pytest.approx(84.0)
    assert (got.overdue, got.ack_overdue, got.resolve_overdue) == (2, 1, 1)
    assert (got.overdue_share, got.ack_overdue_share, got.resolve_overdue_share) == (0.4, 0.2, 0.2)
    assert got.by_type == {"congestion": 2, "flood": 2, "fire": 1}
    assert list(got.by_type) == ["congestion", "flood", "fire"]  # most first, ties by name
    assert got.by_ward == {w1: 3, w2: 1, w3: 1}
    # Local hours (UTC would give 1, 1, 16, 17, 7).
    expected_hours = [0] * 24
    for hour in (8, 8, 23, 0, 14):
        expected_hours[hour] += 1
    assert got.by_hour == expected_hours
    assert got.by_day == {
        "2026-03-10": 3,
        "2026-03-11": 1,
        "2026-03-12": 1,
        "2026-03-13": 0,
        "2026-03-14": 0,
        "2026-03-15": 0,
        "2026-03-16": 0,
    }
    trend = got.trend
    assert trend.bucket == "day" and trend.starts == list(got.by_day) and trend.opened == [3, 1, 1, 0, 0, 0, 0]
    assert trend.median_ack == [pytest.approx(4.0), pytest.approx(6.0), None, None, None, None, None]
    assert trend.overdue_share == [pytest.approx(1 / 3), 1.0, 0.0, None, None, None, None]
    assert got.as_json()["ack"]["p90"] == pytest.approx(8.8)


def test_filters_narrow_every_figure(db: Database, made: tuple[list[int], list[str]]) -> None:
    _, (_w1, w2, _w3) = made
    floods = reports.report(db, period(types=("flood",)), tz=TZ)
    assert floods.total == 2 and floods.ack.count == 1 and floods.ack.median == pytest.approx(2.0)
    assert floods.by_type == {"flood": 2} and floods.overdue_share == 0.0
    critical = reports.report(db, period(severities=("critical",)), tz=TZ)
    assert critical.total == 2 and critical.resolve.p90 == pytest.approx(30 + 0.9 * 60)
    ward = reports.report(db, period(wards=(w2,)), tz=TZ)
    assert ward.total == 1 and ward.by_ward == {w2: 1} and ward.by_hour[8] == 1
    open_ones = reports.report(db, period(statuses=("new", "acknowledged")), tz=TZ)
    assert open_ones.total == 2 and open_ones.ack_overdue == 1 and open_ones.resolve.count == 0
    # February alone: the incident outside the other period.
    february = reports.report(db, period(date(2026, 2, 1), date(2026, 2, 1)), tz=TZ)
    assert february.total == 1 and february.by_day == {"2026-02-01": 1} and february.ack.p90 == pytest.approx(1.0)


def test_an_empty_period_has_no_figures_but_every_day(db: Database, made: tuple[list[int], list[str]]) -> None:
    empty = reports.report(db, period(date(2026, 4, 1), date(2026, 4, 3)), tz=TZ)
    assert empty.total == 0 and empty.ack == reports.Durations(0) and empty.overdue_share is None
    assert empty.by_type == {} and empty.by_hour == [0] * 24
    assert empty.by_day == {"2026-04-01": 0, "2026-04-02": 0, "2026-04-03": 0}
    assert empty.trend.opened == [0, 0, 0] and empty.trend.median_ack == [None, None, None]


def test_long_periods_trend_per_week_from_monday(db: Database, made: tuple[list[int], list[str]]) -> None:
    got = reports.report(db, period(date(2026, 1, 1), date(2026, 4, 30)), tz=TZ)  # 120 days
    assert got.total == 6 and got.trend.bucket == "week" and len(got.by_day) == 120
    starts = [date.fromisoformat(d) for d in got.trend.starts]
    assert starts[0] == date(2025, 12, 29) and all(d.weekday() == 0 for d in starts)  # the Monday before 1 January
    assert starts[-1] == date(2026, 4, 27) and len(starts) == 18
    week = dict(zip(got.trend.starts, got.trend.opened, strict=True))
    assert week["2026-01-26"] == 1  # Sunday 1 February belongs to the week from Monday 26 January
    assert week["2026-03-09"] == 5 and sum(got.trend.opened) == 6
    share = dict(zip(got.trend.starts, got.trend.overdue_share, strict=True))
    assert share["2026-03-09"] == pytest.approx(0.4) and share["2026-01-05"] is None


def test_summarize_works_without_period_bounds(db: Database, made: tuple[list[int], list[str]]) -> None:
    frame = reports.read_incidents(db, Filters())
    assert list(frame.columns) == list(reports.REPORT_COLUMNS) and len(frame) == 6
    assert str(frame["opened_at"].dtype).startswith("datetime64") and str(frame["opened_at"].dt.tz) == "UTC"
    got = reports.summarize(frame, tz=TZ)
    assert got.since is None and next(iter(got.by_day)) == "2026-02-01" and list(got.by_day)[-1] == "2026-03-12"


# ---------------------------------------------------------------- exports


def check_export(incidents: pd.DataFrame, audit_rows: pd.DataFrame, ids: list[int]) -> None:
    """The five incidents of the period and their audit rows, times local with the zone in the column names."""
    assert sorted(incidents["id"].tolist()) == sorted(ids[:5])
    assert f"opened_at ({TZ})" in incidents.columns and "opened_at" not in incidents.columns
    assert {"type", "place", "place_name", "ward", "severity", "status", "ack_overdue"} <= set(incidents.columns)
    first = incidents.set_index("id").loc[ids[0]]
    assert pd.Timestamp(first[f"opened_at ({TZ})"]) == pd.Timestamp("2026-03-10 08:15:00")
    assert pd.Timestamp(first[f"acknowledged_at ({TZ})"]) == pd.Timestamp("2026-03-10 08:17:00")
    assert first["type"] == "flood" and first["status"] == "closed"
    # An open and an acknowledge row for the four acknowledged, an open row for the other: 9; none of February's.
    assert sorted(audit_rows["incident_id"].tolist()) == sorted([*ids[:5], *ids[:4]])
    assert list(audit_rows.columns) == [
        "id",
        "incident_id",
        f"at ({TZ})",
        "actor",
        "action",
        "before",
        "after",
        "address",
    ]
    assert set(audit_rows["action"]) == {"incident.open", "incident.acknowledge"}


def test_excel_export_has_two_sheets_in_local_time(
    db: Database, made: tuple[list[int], list[str]], tmp_path: Path
) -> None:
    ids, _ = made
    now = datetime(2026, 3, 17, 2, 0, 5, tzinfo=UTC)
    path = reports.export_file(db, period(), "xlsx", tmp_path, tz=TZ, now=now)
    assert path == tmp_path / "incidents-20260317-090005.xlsx"
    sheets = pd.read_excel(path, sheet_name=None)
    assert list(sheets) == ["incidents", "audit"]
    check_export(sheets["incidents"], sheets["audit"], ids)
    again = reports.export_file(db, period(), "xlsx", tmp_path, tz=TZ, now=now)
    assert again.name == "incidents-20260317-090005-2.xlsx" and path.exists()  # never over an existing file


def test_csv_export_is_a_zip_of_two_files(db: Database, made: tuple[list[int], list[str]], tmp_path: Path) -> None:
    ids, _ = made
    name, content = reports.export_bytes(db, period(), "csv", tz=TZ, now=datetime(2026, 3, 17, tzinfo=UTC))
    assert name == "incidents-20260317-070000.zip"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.namelist() == ["incidents.csv", "audit.csv"]
        raw = archive.read("incidents.csv")
        assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark
        incidents = pd.read_csv(
            io.BytesIO(raw), encoding="utf-8-sig", parse_dates=[f"opened_at ({TZ})", f"acknowledged_at ({TZ})"]
        )
        audit_rows = pd.read_csv(io.BytesIO(archive.read("audit.csv")), encoding="utf-8-sig")
    check_export(incidents, audit_rows, ids)
    path = reports.export_file(db, period(), "csv", tmp_path, tz=TZ)
    assert path.suffix == ".zip" and zipfile.is_zipfile(path)
    with pytest.raises(InvalidInput):
        reports.export_bytes(db, period(), "pdf", tz=TZ)


def test_typed_text_cannot_become_a_formula(db: Database, city: City, places: dict[str, str]) -> None:
    sensor = next(iter(places.values()))
    (made_id,) = make(db, city, [Made("other", sensor, "warning", local(10, 9), description='=HYPERLINK("x")\x0b')])
    _, content = reports.export_bytes(db, period(), "xlsx", tz=TZ)
    sheets = pd.read_excel(io.BytesIO(content), sheet_name=None)
    row = sheets["incidents"].set_index("id").loc[made_id]
    assert row["description"] == '\'=HYPERLINK("x")'  # a text, not a formula; the control character removed
    book = openpyxl.load_workbook(io.BytesIO(content))
    assert not any(cell.data_type == "f" for r in book["incidents"].iter_rows() for cell in r)


def test_unfinished_incidents_past_their_limit_count_as_late_before_any_engine_flags_them(
    db: Database, city: City
) -> None:
    """The overdue share reads the times too: an incident not acknowledged (or not resolved) whose limit has passed
    is late even if no engine has checked it yet, and a step done after its limit is late without a flag."""
    limits = Limits.of(Settings())  # critical: 5 min to acknowledge, 2 h to resolve; warning: 15 min, 8 h
    place = place_of(city, next(iter(city.sensors)))
    start = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    rows = [
        new_row(
            incident_type="fire",
            source="manual",
            place=place,
            severity="critical",
            detected_at=start,
            opened_by="t",
            limits=limits,
            city=city,
            now=start,
        ),  # never acknowledged
        new_row(
            incident_type="fire",
            source="manual",
            place=place,
            severity="warning",
            detected_at=start,
            opened_by="t",
            limits=limits,
            city=city,
            now=start,
        ),  # acknowledged after 20 min, then resolved
        new_row(
            incident_type="fire",
            source="manual",
            place=place,
            severity="warning",
            detected_at=start,
            opened_by="t",
            limits=limits,
            city=city,
            now=start,
        ),  # acknowledged after 3 min, resolved in 1 h
    ]
    rows[1].acknowledged_at, rows[1].resolved_at = start + timedelta(minutes=20), start + timedelta(hours=1)
    rows[2].acknowledged_at, rows[2].resolved_at = start + timedelta(minutes=3), start + timedelta(hours=1)
    with db.transaction() as session:
        for row in rows:
            record_open(session, row, actor="t")
    assert not any(row.ack_overdue or row.resolve_overdue for row in rows)  # no engine has looked

    early = reports.report(db, Filters(), tz=TZ, now=start + timedelta(minutes=4))
    assert (early.ack_overdue, early.resolve_overdue) == (1, 0)  # the 20-minute acknowledgement only
    later = reports.report(db, Filters(), tz=TZ, now=start + timedelta(minutes=6))
    assert (later.ack_overdue, later.resolve_overdue) == (2, 0)  # the critical one's 5 minutes are up
    day = reports.report(db, Filters(), tz=TZ, now=start + timedelta(hours=3))
    assert (day.ack_overdue, day.resolve_overdue, day.overdue) == (2, 1, 2)
    assert day.overdue_share == pytest.approx(2 / 3)


def test_an_export_in_a_language_has_words_for_codes(db: Database, made: tuple[list[int], list[str]]) -> None:
    incidents, audit_rows = reports.export_frames(db, period(), tz=TZ, lang="en")
    assert set(incidents["type"]) <= {label("type", code, "en") for code in INCIDENT_TYPES}
    assert "flood" not in set(incidents["type"]) and "Flood" in set(incidents["type"])
    assert set(audit_rows["action"]) == {label("action", "open", "en"), label("action", "acknowledge", "en")}
    vi, _ = reports.export_frames(db, period(), tz=TZ, lang="vi")
    assert set(vi["status"]) <= {label("status", code, "vi") for code in STATUSES}
    codes, _ = reports.export_frames(db, period(), tz=TZ)  # no language: the codes, for scripts
    assert "flood" in set(codes["type"])
