"""An after-action report exported in the reader's language: Excel (openpyxl's write-only mode, as the managers'
export) and PDF (fpdf2, with a TrueType font that has Vietnamese's letters embedded).

Both are made from the same tables (`report_tables`): the exercise (header), its objectives' ratings, its expected
responses, its timeline and the comparison with the other exercises of its scenario. The PDF draws the timeline as a
chart too (`timeline_chart`, drawn with fpdf2's own lines, rectangles and circles: no browser, no image library),
as the report page's: a row per kind of event with a mark at each, and a row per expected response with a bar from
its clock's start to its target and a mark where it was done (green in time, red late or missed).

Codes (statuses, incident types, actions, units, ratings, alert kinds) are the reader's words; times are the city's
local time on the exercise's clock (the zone named in the column), to the second; a text starting like a formula
gets a leading apostrophe in Excel.

The PDF font is DejaVu Sans (Debian's `fonts-dejavu-core`, which `.ci/run` installs): looked for in FONT_DIRS;
missing, the PDF is refused with `PdfFontMissing` naming the package (never a PDF with its letters lost).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from ioc.db import utcnow
from ioc.errors import InvalidInput, IocError
from ioc.exercises.report import AfterActionReport, expected_words, rating_word
from ioc.i18n import fmt_number, t

Format = Literal["xlsx", "pdf"]
FORMATS: Final[tuple[Format, ...]] = ("xlsx", "pdf")
MEDIA_TYPES: Final[dict[Format, str]] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
FONT_DIRS: Final = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu: fonts-dejavu-core
    Path("/usr/share/fonts/dejavu"),  # Fedora, Alpine
    Path("/usr/share/fonts/TTF"),  # Arch
)
FONT_FILES: Final = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FONT: Final = "DejaVu"


class PdfFontMissing(IocError):
    """No font with Vietnamese's letters to write the PDF with."""


Colour = tuple[int, int, int]
KIND_COLOURS: Final[dict[str, Colour]] = {  # as the report page's chart
    "inject": (31, 119, 180),
    "alert": (255, 127, 14),
    "incident": (214, 39, 40),
    "action": (44, 160, 44),
}
DONE_COLOURS: Final[dict[str, Colour]] = {"on_time": (44, 160, 44), "late": (214, 39, 40), "missed": (214, 39, 40)}
BAR_COLOUR: Final[Colour] = (190, 190, 190)
AXIS_COLOUR: Final[Colour] = (110, 110, 110)
CHART_ROW_MM: Final = 6.0
CHART_LABEL_MM: Final = 55.0
CHART_TICKS: Final = 6
CHART_MAX_ROWS: Final = 40  # the responses beyond these are in the table below
MARK_RADIUS_MM: Final = 1.1


@dataclass(frozen=True)
class ChartRow:
    """One row of the timeline chart: its label, its marks (time, colour) and its bars (from, to, colour)."""

    label: str
    marks: tuple[tuple[datetime, Colour], ...] = ()
    bars: tuple[tuple[datetime, datetime, Colour], ...] = ()


@dataclass(frozen=True)
class TimelineChart:
    """The timeline as a chart: its title, the span it shows (the exercise's clock) and its rows."""

    title: str
    start: datetime
    end: datetime
    rows: tuple[ChartRow, ...]


def timeline_chart(report: AfterActionReport, lang: str) -> TimelineChart | None:
    """The report's timeline as a chart (see the module's docstring), or None when nothing happened."""
    rows: list[ChartRow] = []
    for kind in KIND_COLOURS:
        marks = tuple((e.at, KIND_COLOURS[kind]) for e in report.events if e.kind == kind)
        if marks:
            rows.append(ChartRow(t(f"aar.kind.{kind}", lang), marks))
    for r in report.responses[:CHART_MAX_ROWS]:
        if r.start_at is None or r.due_at is None:
            continue
        end = r.done_at if r.done_at is not None else r.due_at
        colour = DONE_COLOURS.get(r.status, AXIS_COLOUR)
        rows.append(ChartRow(f"{r.inject} · {r.index + 1}", ((end, colour),), ((r.start_at, r.due_at, BAR_COLOUR),)))
    moments = [m for row in rows for m, _ in row.marks] + [m for row in rows for a, b, _ in row.bars for m in (a, b)]
    if not moments:
        return None
    start, end = min(moments), max(moments)
    if report.clock_start is not None and report.clock_start < start:
        start = report.clock_start
    return TimelineChart(f"{t('aar.timeline', lang)} — {t('aar.chart.clock', lang)}", start, end, tuple(rows))


@dataclass(frozen=True)
class Table:
    """One table of the report: its sheet name, title, column names and rows (text, numbers, local times)."""

    sheet: str
    title: str
    head: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    widths: tuple[float, ...] = ()  # relative column widths in the PDF


def _local(moment: datetime | None, tz: str) -> datetime | None:
    """A time as the city's local time to the second, without a zone (spreadsheets cannot hold one)."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(tz)).replace(tzinfo=None, microsecond=0)


def _minutes(seconds: float | None, lang: str) -> str:
    return "—" if seconds is None else t("aar.minutes", lang, minutes=fmt_number(seconds / 60.0, lang))


def report_tables(report: AfterActionReport, lang: str, tz: str) -> list[Table]:
    """The report's tables in the reader's language (see the module's docstring)."""
    ex = report.exercise
    zone = f" ({tz})"
    header = Table(
        t("aar.sheet.summary", lang),
        t("aar.header", lang),
        (t("aar.col.field", lang), t("aar.col.value", lang)),
        (
            (t("aar.exercise", lang), f"#{ex.id} {ex.name}"),
            (t("aar.scenario", lang), ex.scenario),
            (t("aar.status", lang), t(f"exercises.status.{ex.status}", lang)),
            (t("aar.trainees", lang), ", ".join(report.trainees) or "—"),
            (t("aar.speed", lang), f"×{ex.speed:g}"),
            (t("aar.clock_start", lang) + zone, _local(report.clock_start, tz)),
            (t("aar.clock_end", lang) + zone, _local(report.clock_end, tz)),
            (t("aar.created_by", lang), ex.created_by),
            (t("aar.scores", lang), t(f"aar.source.{report.source}", lang)),
        ),
        (1, 3),
    )
    objectives = Table(
        t("aar.sheet.objectives", lang),
        t("aar.objectives", lang),
        (
            t("aar.col.objective", lang),
            t("aar.col.rating_code", lang),
            t("aar.col.rating", lang),
            t("exercises.state.on_time", lang),
            t("exercises.state.late", lang),
            t("exercises.state.missed", lang),
        ),
        tuple(
            (
                o.name_vi if lang == "vi" else o.name_en,
                o.rating or "—",
                rating_word(o.rating, lang),
                o.count("on_time"),
                o.count("late"),
                o.count("missed"),
            )
            for o in report.objectives
        ),
        (3, 1, 3, 1, 1, 1),
    )
    names = {o.objective: (o.name_vi if lang == "vi" else o.name_en) for o in report.objectives}
    responses = Table(
        t("aar.sheet.responses", lang),
        t("aar.responses", lang),
        (
            t("aar.col.objective", lang),
            t("aar.col.inject", lang),
            t("aar.col.expected", lang),
            t("aar.col.target", lang),
            t("aar.col.start", lang) + zone,
            t("aar.col.done", lang) + zone,
            t("aar.col.took", lang),
            t("aar.col.state", lang),
            t("aar.col.incident", lang),
        ),
        tuple(
            (
                names.get(r.objective, r.objective),
                r.inject,
                expected_words(r.expected, lang),
                _minutes(r.target_s, lang),
                _local(r.start_at, tz),
                _local(r.done_at, tz),
                t("aar.missed", lang) if r.status == "missed" else _minutes(r.took_s, lang),
                t(f"exercises.state.{r.status}", lang),
                "" if r.incident_id is None else f"#{r.incident_id}",
            )
            for r in report.responses
        ),
        (2, 1.4, 3.2, 1, 1.8, 1.8, 1, 1.1, 0.8),
    )
    timeline = Table(
        t("aar.sheet.timeline", lang),
        t("aar.timeline", lang),
        (t("aar.col.when", lang) + zone, t("aar.col.kind", lang), t("aar.col.what", lang)),
        tuple((_local(e.at, tz), t(f"aar.kind.{e.kind}", lang), e.text(lang)) for e in report.events),
        (1.6, 1.2, 7),
    )
    objective_ids = list(report.objective_names)
    history = Table(
        t("aar.sheet.history", lang),
        t("aar.history", lang),
        (
            t("aar.exercise", lang),
            t("aar.trainees", lang),
            t("aar.col.stopped", lang) + zone,
            *(report.objective_names[o][0 if lang == "vi" else 1] for o in objective_ids),
        ),
        tuple(
            (
                f"#{h.id} {h.name}",
                ", ".join(h.trainees) or "—",
                _local(h.stopped_at, tz),
                *(
                    f"{h.ratings[o]} · {rating_word(h.ratings[o], lang)}" if h.ratings.get(o) else "—"
                    for o in objective_ids
                ),
            )
            for h in report.history
        ),
        (2, 2, 1.6, *(2.0 for _ in objective_ids)),
    )
    return [header, objectives, responses, timeline, history]


def _cell(value: Any) -> Any:
    """A value safe for a spreadsheet: no character Excel cannot hold, no text a spreadsheet would run as a formula."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def xlsx_bytes(tables: Sequence[Table]) -> bytes:
    """The tables as one .xlsx, a sheet each (its first row the column names)."""
    book = Workbook(write_only=True)
    for table in tables:
        sheet = book.create_sheet(table.sheet[:31])
        sheet.freeze_panes = "A2"
        sheet.append([_cell(h) for h in table.head])
        for row in table.rows:
            sheet.append([_cell(v) for v in row])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def font_files() -> dict[str, Path]:
    """The PDF font's files by style ("" regular, "B" bold); PdfFontMissing naming what to install if none."""
    for folder in FONT_DIRS:
        found = {style: folder / name for style, name in FONT_FILES.items()}
        if all(path.is_file() for path in found.values()):
            return found
    raise PdfFontMissing(
        f"DejaVu Sans ({', '.join(FONT_FILES.values())}) not found in {', '.join(map(str, FONT_DIRS))}: "
        "install Debian's fonts-dejavu-core"
    )


def _text(value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S" if lang == "vi" else "%Y-%m-%d %H:%M:%S")
    return str(value)


def _draw_chart(pdf: Any, chart: TimelineChart, tz: str) -> None:
    """Draw the timeline chart across the page at the current position (a new page first if it does not fit)."""
    height = CHART_ROW_MM * (len(chart.rows) + 1) + 10
    if pdf.get_y() + height > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(0, 7, f"{chart.title} ({tz})", new_x="LMARGIN", new_y="NEXT")
    left: float = pdf.l_margin + CHART_LABEL_MM
    top: float = pdf.get_y() + 2
    width: float = pdf.epw - CHART_LABEL_MM - 4
    span = max(1.0, (chart.end - chart.start).total_seconds())

    def x_of(moment: datetime) -> float:
        return left + width * (moment - chart.start).total_seconds() / span

    bottom = top + CHART_ROW_MM * len(chart.rows)
    pdf.set_draw_color(*AXIS_COLOUR)
    pdf.set_line_width(0.2)
    pdf.set_font(FONT, "", 7)
    pdf.line(left, bottom, left + width, bottom)
    for tick in range(CHART_TICKS + 1):
        moment = chart.start + (chart.end - chart.start) * (tick / CHART_TICKS)
        x = x_of(moment)
        pdf.line(x, top, x, bottom + 1)
        label = _local(moment, tz)
        pdf.text(x - 4, bottom + 4.5, label.strftime("%H:%M") if label else "")
    for index, row in enumerate(chart.rows):
        y = top + CHART_ROW_MM * index + CHART_ROW_MM / 2
        pdf.set_text_color(0, 0, 0)
        pdf.text(pdf.l_margin, y + 1, row.label[:48])
        for begin, finish, colour in row.bars:
            pdf.set_fill_color(*colour)
            pdf.rect(x_of(begin), y - 1, max(0.3, x_of(finish) - x_of(begin)), 2, style="F")
        for moment, colour in row.marks:
            pdf.set_fill_color(*colour)
            pdf.ellipse(x_of(moment) - MARK_RADIUS_MM, y - MARK_RADIUS_MM, 2 * MARK_RADIUS_MM, 2 * MARK_RADIUS_MM, "F")
    pdf.set_y(bottom + 7)


def pdf_bytes(
    tables: Sequence[Table], *, title: str, lang: str, chart: TimelineChart | None = None, tz: str = "UTC"
) -> bytes:
    """The tables as a landscape A4 PDF, each under its title, in DejaVu Sans (embedded, subset); the timeline
    `chart` drawn before the tables when given (times in `tz`)."""
    from fpdf import FPDF  # imported when a PDF is asked for: the library is large and few requests need it

    fonts = font_files()
    pdf = FPDF(orientation="L", format="A4")
    pdf.set_title(title)
    pdf.set_creator("IOC")
    pdf.set_lang(lang)
    for style, path in fonts.items():
        pdf.add_font(FONT, style, str(path))
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    if chart is not None:
        pdf.ln(2)
        _draw_chart(pdf, chart, tz)
    for table in tables:
        pdf.ln(3)
        pdf.set_font(FONT, "B", 11)
        pdf.multi_cell(0, 7, table.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", 8)
        if not table.rows:
            pdf.multi_cell(0, 5, "—", new_x="LMARGIN", new_y="NEXT")
            continue
        widths = table.widths if len(table.widths) == len(table.head) else tuple(1.0 for _ in table.head)
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.5, first_row_as_headings=True) as grid:
            for cells in (table.head, *table.rows):
                row = grid.row()
                for value in cells:
                    row.cell(_text(value, lang))
    return bytes(pdf.output())


def export_name(exercise_id: int, fmt: Format, *, tz: str, now: datetime | None = None) -> str:
    """The file name of an export made now: `exercise-N-report-YYYYMMDD-HHMMSS` in local time, .xlsx or .pdf."""
    stamp = (now or utcnow()).astimezone(ZoneInfo(tz)).strftime("%Y%m%d-%H%M%S")
    return f"exercise-{exercise_id}-report-{stamp}.{fmt}"


def check_format(fmt: str) -> Format:
    """The format named (InvalidInput for another)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown report format {fmt!r}; formats: {', '.join(FORMATS)}")
    return fmt


def export_bytes(
    report: AfterActionReport, fmt: str, *, lang: str, tz: str, now: datetime | None = None
) -> tuple[str, bytes]:
    """The report exported in the reader's language: its file name and content."""
    chosen = check_format(fmt)
    tables = report_tables(report, lang, tz)
    if chosen == "xlsx":
        content = xlsx_bytes(tables)
    else:
        title = f"{t('aar.title', lang)} — #{report.exercise.id} {report.exercise.name}"
        content = pdf_bytes(tables, title=title, lang=lang, chart=timeline_chart(report, lang), tz=tz)
    return export_name(report.exercise.id, chosen, tz=tz, now=now), content
