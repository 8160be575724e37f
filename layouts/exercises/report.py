"""The after-action report page (`/exercises/report?id=N`): a choice of exercise, the export buttons, and the report
(its header, objectives' ratings, expected responses, the timeline as a Plotly chart on the exercise's clock and as a
list, and the exercises of the same scenario compared). Pure: an AfterActionReport in, components out; the texts and
values come from the same tables the exports write (`ioc.exercises.exports.report_tables`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import dcc, html
from dash.development.base_component import Component

from ioc.exercises.exports import Table, report_tables
from ioc.exercises.records import Exercise
from ioc.exercises.report import EVENT_KINDS, AfterActionReport
from ioc.i18n import t
from layouts.common import language_switch
from layouts.exercises import ids
from layouts.exercises.board import REPORT_PATH, status_text

PATH: Final = REPORT_PATH
KIND_COLOURS: Final = {"inject": "#1f77b4", "alert": "#ff7f0e", "incident": "#d62728", "action": "#2ca02c"}
STATE_COLOURS: Final = {"on_time": "#2ca02c", "late": "#d62728", "missed": "#d62728"}
MAX_CHART_EVENTS: Final = 2_000


def _local(moment: datetime, tz: str) -> datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _cell(value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%d/%m/%Y %H:%M:%S" if lang == "vi" else "%Y-%m-%d %H:%M:%S")
    return str(value)


def table_of(table: Table, lang: str, *, empty: str, row_classes: Sequence[str] = ()) -> Component:
    """One of the report's tables (as exported), or the `empty` text."""
    if not table.rows:
        return html.P(empty, className="exercises-empty")
    return html.Table(
        className="exercises-table",
        children=[
            html.Thead(html.Tr([html.Th(h) for h in table.head])),
            html.Tbody(
                [
                    html.Tr(
                        [html.Td(_cell(v, lang)) for v in row],
                        className=row_classes[i] if i < len(row_classes) else None,
                    )
                    for i, row in enumerate(table.rows)
                ]
            ),
        ],
    )


def timeline_figure(report: AfterActionReport | None, lang: str, tz: str) -> go.Figure:
    """The timeline on the exercise's clock (local time): a row per kind of event, and each expected response as a
    bar from its clock's start to its target, its end marked where it was done (green in time, red late)."""
    figure = go.Figure()
    if report is not None:
        events = report.events[-MAX_CHART_EVENTS:]
        for kind in EVENT_KINDS:
            mine = [e for e in events if e.kind == kind]
            if not mine:
                continue
            figure.add_trace(
                go.Scatter(
                    x=[_local(e.at, tz) for e in mine],
                    y=[t(f"aar.kind.{kind}", lang)] * len(mine),
                    mode="markers",
                    name=t(f"aar.kind.{kind}", lang),
                    marker={
                        "size": 11,
                        "color": KIND_COLOURS[kind],
                        "symbol": "diamond" if kind == "inject" else "circle",
                    },
                    text=[e.text(lang) for e in mine],
                    hovertemplate="%{x|%H:%M:%S}<br>%{text}<extra></extra>",
                )
            )
        for response in report.responses:
            if response.start_at is None or response.due_at is None:
                continue
            row = f"{response.inject} · {response.index + 1}"
            state = t(f"exercises.state.{response.status}", lang)
            ends = [response.start_at, response.done_at or response.due_at]
            figure.add_trace(
                go.Scatter(
                    x=[_local(m, tz) for m in (response.start_at, response.due_at)],
                    y=[row, row],
                    mode="lines",
                    line={"width": 6, "color": "rgba(120,120,120,0.45)"},
                    showlegend=False,
                    hoverinfo="skip",
                )
            )
            figure.add_trace(
                go.Scatter(
                    x=[_local(ends[1], tz)],
                    y=[row],
                    mode="markers",
                    marker={
                        "size": 12,
                        "color": STATE_COLOURS.get(response.status, "#7f7f7f"),
                        "symbol": "x" if response.status == "missed" or response.done_at is None else "star",
                    },
                    showlegend=False,
                    text=[state],
                    hovertemplate=f"{row}: %{{text}} %{{x|%H:%M:%S}}<extra></extra>",
                )
            )
    figure.update_layout(
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        height=380,
        xaxis={"title": {"text": f"{t('aar.chart.clock', lang)} ({tz})"}},
        yaxis={"automargin": True, "type": "category"},
        legend={"orientation": "h"},
        template="plotly_white",
    )
    return figure


def options(exercises: Sequence[Exercise], lang: str) -> list[dict[str, Any]]:
    """The exercises to choose from (newest first)."""
    return [{"label": f"#{e.id} {e.name} · {e.scenario} · {status_text(e, lang)}", "value": e.id} for e in exercises]


def body(report: AfterActionReport | None, lang: str, tz: str) -> list[Component]:
    """The report's sections (nothing chosen: a hint)."""
    if report is None:
        return [html.P(t("aar.select", lang), className="exercises-empty")]
    header, objectives, responses, timeline, history = report_tables(report, lang, tz)
    states = [f"exercises-response is-{r.status}" for r in report.responses]
    return [
        section(header.title, table_of(header, lang, empty="—")),
        section(objectives.title, table_of(objectives, lang, empty=t("aar.no_objectives", lang))),
        section(responses.title, table_of(responses, lang, empty=t("aar.no_responses", lang), row_classes=states)),
        section(
            timeline.title,
            dcc.Graph(id=ids.REPORT_CHART, figure=timeline_figure(report, lang, tz), config={"displaylogo": False}),
            table_of(timeline, lang, empty=t("aar.no_timeline", lang)),
        ),
        section(history.title, table_of(history, lang, empty=t("aar.no_history", lang))),
    ]


def section(title: str, *children: Component) -> Component:
    """One titled section of the report."""
    return html.Section(
        className="exercises-panel exercises-panel--wide",
        children=[html.H2(title, className="exercises-panel-title"), *children],
    )


def lang_switch(lang: str, selected: int | None) -> Component:
    """The language links, keeping the exercise chosen."""
    return language_switch(PATH, lang, "aar", **({} if selected is None else {"id": str(selected)}))


def layout(
    exercises: Sequence[Exercise], selected: int | None, *, lang: str, message: Component | None = None
) -> Component:
    """The report page in one language: its callback fills the report of the exercise chosen."""
    return html.Div(
        id=ids.REPORT_ROOT,
        className="exercises desk",
        lang=lang,
        children=[
            dcc.Store(id=ids.REPORT_LANG, data=lang),
            dcc.Download(id=ids.REPORT_DOWNLOAD),
            html.Header(
                className="exercises-header",
                children=[
                    html.H1(t("aar.title", lang), className="exercises-title"),
                    html.Div(lang_switch(lang, selected), id=ids.REPORT_LANG_SWITCH),
                ],
            ),
            html.Div(
                className="exercises-form",
                children=[
                    dcc.Dropdown(
                        id=ids.REPORT_SELECT,
                        options=options(exercises, lang),
                        value=selected,
                        placeholder=t("aar.select", lang),
                        clearable=False,
                    ),
                    html.Span(t("aar.export", lang)),
                    html.Button(t("aar.export.xlsx", lang), id=ids.REPORT_XLSX, n_clicks=0, className="button"),
                    html.Button(t("aar.export.pdf", lang), id=ids.REPORT_PDF, n_clicks=0, className="button"),
                ],
            ),
            html.Div(message, id=ids.REPORT_MESSAGE, className="exercises-feedback"),
            html.Div(id=ids.REPORT_BODY),
        ],
    )
