"""The managers' figures and exports of incidents: times to acknowledge and to resolve, the share past their limits,
counts by type, ward, hour and day, trends over the period, and the incidents with their audit rows as CSV or Excel.

Incidents are read with one SQL query straight into pandas (no ORM object per row): the time columns come as the
driver gives them (text on SQLite, datetimes on PostgreSQL) and are parsed column by column, so a year of 50,000
incidents takes a fraction of a second. Every figure is computed by `summarize` from that frame (pure, no database).

Conventions: the period bounds `opened_at` (Filters.since inclusive, until exclusive); hours and days are the city's
(its time zone, e.g. Asia/Ho_Chi_Minh); times are in minutes; the 90th percentile interpolates linearly between the
two nearest values (numpy's and pandas' default); a share is over every incident of the period, None when there is
none. Trends are per day, or per week (from Monday) for periods longer than TREND_DAILY_MAX_DAYS.

Exports (`export_bytes`, `export_file`): the incidents and the audit rows of those incidents. Times are the city's
local time, to the second, the zone named in each time column's name (`opened_at (Asia/Ho_Chi_Minh)`). Excel: one
.xlsx with the sheets `incidents` and `audit` (pandas builds the tables, openpyxl writes them in its write-only
mode). CSV: one .zip holding `incidents.csv` and `audit.csv` (UTF-8 with a byte-order mark, so spreadsheet programs
read Vietnamese names right). Text a person typed that starts with = + - @ gets a leading apostrophe, so a
spreadsheet never runs it as a formula.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import pandas as pd
import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from ioc import audit as audit_log
from ioc.audit import AuditRow
from ioc.db import Database, utcnow
from ioc.errors import InvalidInput
from ioc.incidents.lifecycle import OBJECT_TYPE
from ioc.incidents.queries import Filters
from ioc.incidents.tables import IncidentRow
from ioc.incidents.texts import label

Format = Literal["csv", "xlsx"]
FORMATS: Final[tuple[Format, ...]] = ("csv", "xlsx")
PERIOD_DAYS: Final = (7, 30, 90, 365)  # the page's choices
DEFAULT_DAYS: Final = 365
TREND_DAILY_MAX_DAYS: Final = 92  # longer periods trend per week
PERCENTILE: Final = 0.9
UNKNOWN_WARD: Final = ""  # by_ward key of incidents with no ward

TIME_COLUMNS: Final = (
    "detected_at",
    "opened_at",
    "acknowledged_at",
    "dispatched_at",
    "resolved_at",
    "closed_at",
    "updated_at",
    "ack_due_at",
    "resolve_due_at",
)
REPORT_COLUMNS: Final = (
    "id",
    "type",
    "ward",
    "severity",
    "status",
    "opened_at",
    "acknowledged_at",
    "resolved_at",
    "ack_due_at",
    "resolve_due_at",
    "ack_overdue",
    "resolve_overdue",
)
EXPORT_COLUMNS: Final = (
    "id",
    "type",
    "source",
    "place",
    "place_kind",
    "place_name",
    "ward",
    "lat",
    "lon",
    "severity",
    "peak_severity",
    "status",
    "description",
    "condition",
    "unit",
    "opened_by",
    "detected_at",
    "opened_at",
    "acknowledged_at",
    "dispatched_at",
    "resolved_at",
    "closed_at",
    "updated_at",
    "ack_due_at",
    "resolve_due_at",
    "ack_overdue",
    "resolve_overdue",
    "alert_count",
    "cameras",
    "version",
)
# Columns holding codes, and the kind of label each has in ioc/incidents/texts.py: exported in the reader's words.
LABELLED_COLUMNS: Final[Mapping[str, str]] = {
    "type": "type",
    "severity": "severity",
    "peak_severity": "severity",
    "status": "status",
    "condition": "condition",
    "unit": "unit",
}
AUDIT_COLUMNS: Final = ("id", "incident_id", "at", "actor", "action", "before", "after", "address")
JSON_COLUMNS: Final = ("cameras", "before", "after")
TYPED_TEXT: Final = ("place_name", "description", "unit", "opened_by", "actor", "address")  # people typed these
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
SHEETS: Final = ("incidents", "audit")
MEDIA_TYPES: Final[dict[Format, str]] = {
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
SUFFIXES: Final[dict[Format, str]] = {"csv": ".zip", "xlsx": ".xlsx"}


# ---------------------------------------------------------------- periods


def local_midnight(day: date, tz: str) -> datetime:
    """The moment a local day begins in the city, as UTC."""
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(ZoneInfo("UTC"))


def last_days(days: int, *, tz: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last `days` whole local days, today included: [local midnight days-1 days ago, next local midnight)."""
    if days < 1:
        raise InvalidInput(f"a period is at least one day (got {days})")
    today = (now or utcnow()).astimezone(ZoneInfo(tz)).date()
    return local_midnight(today - timedelta(days=days - 1), tz), local_midnight(today + timedelta(days=1), tz)


def between_dates(first: date, last: date, *, tz: str) -> tuple[datetime, datetime]:
    """Local days `first` to `last`, both included (given the wrong way round, swapped)."""
    first, last = min(first, last), max(first, last)
    return local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz)


def page_filters(
    *,
    tz: str,
    days: int | None = DEFAULT_DAYS,
    first: date | None = None,
    last: date | None = None,
    types: Sequence[str] = (),
    wards: Sequence[str] = (),
    severities: Sequence[str] = (),
    statuses: Sequence[str] = (),
    now: datetime | None = None,
) -> Filters:
    """The Filters of the managers' page: the last `days` days, or the dates `first` to `last` when `days` is None
    (a missing date: the other one; both missing: the default period)."""
    if days is None and (first is not None or last is not None):
        since, until = between_dates(first or last or date.min, last or first or date.max, tz=tz)
    else:
        since, until = last_days(days or DEFAULT_DAYS, tz=tz, now=now)
    return Filters(
        statuses=tuple(statuses),
        types=tuple(types),
        severities=tuple(severities),
        wards=tuple(wards),
        since=since,
        until=until,
    )


# ---------------------------------------------------------------- reading


def _columns(names: Sequence[str]) -> list[sa.ColumnElement[Any]]:
    """The incident columns, times and JSON as the driver gives them (parsed by pandas, not per row in Python)."""
    table = IncidentRow.__table__.c
    out: list[sa.ColumnElement[Any]] = []
    for name in names:
        column = table[name]
        if name in TIME_COLUMNS:
            out.append(sa.type_coerce(column, sa.String()).label(name))
        elif name in JSON_COLUMNS:
            out.append(sa.cast(column, sa.Text()).label(name))
        else:
            out.append(column)
    return out


def _times(frame: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """Parse time columns (ISO text from SQLite, datetimes from PostgreSQL) as UTC."""
    for name in names:
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame


def _frame(db: Database, query: sa.Select[Any]) -> pd.DataFrame:
    """The rows of a query as a frame (Core rows turned into plain tuples first: measured the fastest way in)."""
    with db.read() as session:
        result = session.connection().execute(query)
        names = list(result.keys())
        rows = [tuple(row) for row in result.fetchall()]
    return pd.DataFrame.from_records(rows, columns=names)


def read_incidents(db: Database, filters: Filters, columns: Sequence[str] = REPORT_COLUMNS) -> pd.DataFrame:
    """The incidents matching the filters, one row each, oldest first: one query, times as UTC datetimes."""
    query = sa.select(*_columns(columns)).where(*filters.where()).order_by(IncidentRow.id)
    return _times(_frame(db, query), [c for c in columns if c in TIME_COLUMNS])


def read_audit(db: Database, filters: Filters) -> pd.DataFrame:
    """The audit rows of the incidents matching the filters, oldest first: one query."""
    ids = sa.select(sa.cast(IncidentRow.id, sa.String(64))).where(*filters.where())
    table = AuditRow.__table__.c
    query = (
        sa.select(
            table.id,
            table.object_id.label("incident_id"),
            sa.type_coerce(table.at, sa.String()).label("at"),
            table.actor,
            table.action,
            sa.cast(table.before, sa.Text()).label("before"),
            sa.cast(table.after, sa.Text()).label("after"),
            table.address,
        )
        .where(table.object_type == OBJECT_TYPE, table.object_id.in_(ids))
        .order_by(table.id)
    )
    frame = _frame(db, query)
    frame["incident_id"] = pd.to_numeric(frame["incident_id"]).astype("int64")
    return _times(frame, ["at"])


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class Durations:
    """Minutes from opening to a step (acknowledged, resolved) over the incidents that reached it."""

    count: int
    mean: float | None = None
    median: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, minutes: pd.Series) -> Durations:
        """The figures of a series of minutes (missing values are incidents that did not get there)."""
        values = minutes.dropna()
        if values.empty:
            return cls(0)
        return cls(int(values.size), float(values.mean()), float(values.median()), float(values.quantile(PERCENTILE)))


@dataclass(frozen=True)
class Trend:
    """Series over the period, one value per bucket (a day or a week starting on Monday, by local date)."""

    bucket: Literal["day", "week"]
    starts: list[str] = field(default_factory=list)  # ISO dates
    opened: list[int] = field(default_factory=list)
    median_ack: list[float | None] = field(default_factory=list)  # minutes; None: nothing acknowledged
    overdue_share: list[float | None] = field(default_factory=list)  # None: no incident


@dataclass(frozen=True)
class Report:
    """The managers' figures for one set of filters (JSON-ready: plain numbers, strings and lists)."""

    since: str | None  # ISO UTC
    until: str | None
    tz: str
    total: int
    ack: Durations
    resolve: Durations
    overdue: int  # incidents past a limit (to acknowledge or to resolve)
    ack_overdue: int
    resolve_overdue: int
    overdue_share: float | None
    ack_overdue_share: float | None
    resolve_overdue_share: float | None
    by_type: dict[str, int]
    by_ward: dict[str, int]
    by_hour: list[int]  # 0..23, local
    by_day: dict[str, int]  # ISO local date -> incidents opened
    trend: Trend

    def as_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _share(part: int, total: int) -> float | None:
    return part / total if total else None


def _count(series: pd.Series) -> dict[str, int]:
    """Counts per value, most first (ties by value)."""
    counts = series.value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _day_range(first: pd.Timestamp, last: pd.Timestamp, bucket: str) -> pd.DatetimeIndex:
    if bucket == "week":
        first = first - pd.Timedelta(days=first.weekday())
        last = last - pd.Timedelta(days=last.weekday())
    return pd.date_range(first, last, freq="7D" if bucket == "week" else "D")


def _local_day(moment: datetime | None, tz: str) -> pd.Timestamp | None:
    if moment is None:
        return None
    return pd.Timestamp(moment).tz_convert(tz).tz_localize(None).normalize()


def past_limits(frame: pd.DataFrame, now: datetime) -> tuple[pd.Series, pd.Series]:
    """Which incidents missed their time to acknowledge and to resolve: the engine's flags, or the times themselves
    (done after the limit, or not done and the limit passed), so the figure holds even while no engine has
    checked yet."""
    moment = pd.Timestamp(now)
    ack_late = (
        frame["ack_overdue"].astype(bool)
        | (frame["acknowledged_at"] > frame["ack_due_at"])
        | (frame["acknowledged_at"].isna() & (frame["ack_due_at"] < moment))
    )
    resolve_late = (
        frame["resolve_overdue"].astype(bool)
        | (frame["resolved_at"] > frame["resolve_due_at"])
        | (frame["resolved_at"].isna() & (frame["resolve_due_at"] < moment))
    )
    return ack_late, resolve_late


def summarize(
    frame: pd.DataFrame,
    *,
    tz: str,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
) -> Report:
    """Every figure of the managers' page from a frame of `read_incidents` (columns REPORT_COLUMNS); `now` decides
    which unfinished incidents are already past a limit."""
    total = len(frame)
    opened = frame["opened_at"]
    ack = Durations.of((frame["acknowledged_at"] - opened).dt.total_seconds() / 60)
    resolve = Durations.of((frame["resolved_at"] - opened).dt.total_seconds() / 60)
    ack_late, resolve_late = past_limits(frame, now or utcnow())
    late = ack_late | resolve_late
    local = opened.dt.tz_convert(tz)
    by_hour = local.dt.hour.value_counts().reindex(range(24), fill_value=0)
    day = local.dt.tz_localize(None).dt.normalize()

    # The days of the period: its bounds when given (the last day is the one before `until`), else the data's.
    first = _local_day(since, tz) if since is not None else (day.min() if total else None)
    last = _local_day(until - timedelta(microseconds=1), tz) if until is not None else (day.max() if total else None)
    span = (last - first).days + 1 if first is not None and last is not None else 0
    bucket: Literal["day", "week"] = "week" if span > TREND_DAILY_MAX_DAYS else "day"
    days = _day_range(first, last, "day") if span > 0 else pd.DatetimeIndex([])
    by_day = day.value_counts().reindex(days, fill_value=0)

    starts = _day_range(first, last, bucket) if span > 0 else pd.DatetimeIndex([])
    key = day - pd.to_timedelta(day.dt.day_of_week, unit="D") if bucket == "week" else day
    grouped = pd.DataFrame(
        {
            "key": key,
            "ack": (frame["acknowledged_at"] - opened).dt.total_seconds() / 60,
            "late": late,
        }
    ).groupby("key")
    counts = grouped.size().reindex(starts, fill_value=0)
    medians = grouped["ack"].median().reindex(starts)
    shares = grouped["late"].mean().reindex(starts)
    trend = Trend(
        bucket=bucket,
        starts=[d.date().isoformat() for d in starts],
        opened=[int(n) for n in counts],
        median_ack=[None if pd.isna(v) else float(v) for v in medians],
        overdue_share=[None if pd.isna(v) else float(v) for v in shares],
    )
    return Report(
        since=since.isoformat() if since is not None else None,
        until=until.isoformat() if until is not None else None,
        tz=tz,
        total=total,
        ack=ack,
        resolve=resolve,
        overdue=int(late.sum()),
        ack_overdue=int(ack_late.sum()),
        resolve_overdue=int(resolve_late.sum()),
        overdue_share=_share(int(late.sum()), total),
        ack_overdue_share=_share(int(ack_late.sum()), total),
        resolve_overdue_share=_share(int(resolve_late.sum()), total),
        by_type=_count(frame["type"]),
        by_ward=_count(frame["ward"].fillna(UNKNOWN_WARD)),
        by_hour=[int(n) for n in by_hour],
        by_day={d.date().isoformat(): int(n) for d, n in by_day.items()},
        trend=trend,
    )


def report(db: Database, filters: Filters, *, tz: str, now: datetime | None = None) -> Report:
    """The managers' figures for these filters (one query)."""
    return summarize(read_incidents(db, filters), tz=tz, since=filters.since, until=filters.until, now=now)


# ---------------------------------------------------------------- exports


def _local_times(frame: pd.DataFrame, names: Sequence[str], tz: str) -> pd.DataFrame:
    """UTC time columns as the city's local time to the second (no zone inside: spreadsheets cannot hold one),
    the zone named in the column's name instead."""
    renamed = {}
    for name in names:
        frame[name] = frame[name].dt.tz_convert(tz).dt.tz_localize(None).dt.floor("s")
        renamed[name] = f"{name} ({tz})"
    return frame.rename(columns=renamed)


def _safe_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Typed text made safe for spreadsheets: characters Excel cannot hold removed, and a leading apostrophe on text
    that would start a formula."""
    for name in frame.columns:
        if frame[name].dtype != object and not pd.api.types.is_string_dtype(frame[name]):
            continue
        column = frame[name].astype("string").str.replace(ILLEGAL_CHARACTERS_RE, "", regex=True)
        if name in TYPED_TEXT:
            column = column.where(~column.str.startswith(FORMULA_STARTS, na=False), "'" + column)
        frame[name] = column.astype(object).where(column.notna(), None)
    return frame


def _labelled(frame: pd.DataFrame, columns: Mapping[str, str], lang: str) -> pd.DataFrame:
    """Code columns (type, status, severity, unit, ...) as the reader's words; a code with no label stays as it is."""
    for name, kind in columns.items():
        if name in frame.columns:
            frame[name] = frame[name].map(
                lambda code, kind=kind: label(kind, code, lang) if isinstance(code, str) else code
            )
    return frame


def _audit_action(action: object, lang: str) -> object:
    """An audit action ("incident.acknowledge") as the reader's word for it, others as they are."""
    if isinstance(action, str) and action.startswith("incident."):
        code = action.removeprefix("incident.")
        worded = label("action", code, lang)
        return worded if worded != code else action
    return action


def export_frames(
    db: Database, filters: Filters, *, tz: str, lang: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The incidents and their audit rows as they are exported (local times, safe text; with `lang`, the codes of
    types, statuses, severities, units, conditions and actions in the reader's words)."""
    incidents = _safe_text(_local_times(read_incidents(db, filters, EXPORT_COLUMNS), TIME_COLUMNS, tz))
    audit = _safe_text(_local_times(read_audit(db, filters), ["at"], tz))
    if lang is not None:
        incidents = _labelled(incidents, LABELLED_COLUMNS, lang)
        audit["action"] = audit["action"].map(lambda action: _audit_action(action, lang))
    return incidents, audit


def export_name(fmt: Format, *, tz: str, now: datetime | None = None) -> str:
    """The file name of an export made now: `incidents-YYYYMMDD-HHMMSS` in local time, .zip (CSV) or .xlsx."""
    stamp = (now or utcnow()).astimezone(ZoneInfo(tz)).strftime("%Y%m%d-%H%M%S")
    return f"incidents-{stamp}{SUFFIXES[fmt]}"


def _check_format(fmt: str) -> Format:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    return fmt


def write_export(incidents: pd.DataFrame, audit: pd.DataFrame, fmt: Format, target: io.BufferedIOBase | Path) -> None:
    """Write the two tables as one .xlsx (two sheets) or one .zip of two CSV files."""
    if fmt == "xlsx":
        # openpyxl's write-only mode, row by row: about twice as fast as DataFrame.to_excel, in far less memory.
        book = Workbook(write_only=True)
        for name, frame in zip(SHEETS, (incidents, audit), strict=True):
            sheet = book.create_sheet(name)
            sheet.freeze_panes = "A2"
            sheet.append(list(frame.columns))
            plain = frame.astype(object).where(frame.notna(), None)  # NaN and NaT as empty cells
            for row in plain.itertuples(index=False, name=None):
                sheet.append(row)
        book.save(target)
        return
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, frame in zip(SHEETS, (incidents, audit), strict=True):
            archive.writestr(f"{name}.csv", frame.to_csv(index=False).encode("utf-8-sig"))


def export_bytes(
    db: Database, filters: Filters, fmt: str, *, tz: str, now: datetime | None = None, lang: str | None = None
) -> tuple[str, bytes]:
    """An export in memory (the page's download): its file name and content."""
    chosen = _check_format(fmt)
    incidents, audit = export_frames(db, filters, tz=tz, lang=lang)
    buffer = io.BytesIO()
    write_export(incidents, audit, chosen, buffer)
    return export_name(chosen, tz=tz, now=now), buffer.getvalue()


def export_file(
    db: Database,
    filters: Filters,
    fmt: str,
    folder: Path,
    *,
    tz: str,
    now: datetime | None = None,
    lang: str | None = None,
) -> Path:
    """Write an export into `folder` (never over an existing file) and return its path."""
    chosen = _check_format(fmt)
    incidents, audit = export_frames(db, filters, tz=tz, lang=lang)
    name = export_name(chosen, tz=tz, now=now)
    path = folder / name
    n = 1
    while path.exists():
        n += 1
        path = folder / name.replace(SUFFIXES[chosen], f"-{n}{SUFFIXES[chosen]}")
    buffer = io.BytesIO()
    write_export(incidents, audit, chosen, buffer)
    with path.open("xb") as handle:  # x: a file made meanwhile is not overwritten either
        handle.write(buffer.getvalue())
    return path


def record_export(
    db: Database, *, actor: str, name: str, filters: Filters, size: int, address: str | None = None
) -> None:
    """Audit an export: who took which incidents out, and when (an export carries people's names and notes)."""
    chosen = {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in asdict(filters).items()
        if value not in ((), None, False)
    }
    with db.transaction() as session:
        audit_log.record(
            session,
            actor=actor,
            action="report.export",
            object_type="report",
            object_id=name,
            after={"file": name, "bytes": size, "filters": chosen},
            address=address,
        )


def with_period(filters: Filters, since: datetime | None, until: datetime | None = None) -> Filters:
    """The same filters over another period."""
    return replace(filters, since=since, until=until)
