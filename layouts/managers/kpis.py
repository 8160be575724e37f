"""The figure cards: incidents in the period, time to acknowledge and to resolve (median large; mean, 90th
percentile and how many it is over below), and the share past a time limit (to acknowledge, to resolve)."""

from __future__ import annotations

from dash import html
from dash.development.base_component import Component

from ioc.i18n import fmt_number, t
from ioc.incidents.reports import Durations, Report


def duration_text(minutes: float | None, lang: str) -> str:
    """Minutes as people read them: `12,5 phút` / `12.5 min`, from two hours on `2 giờ 5 phút` / `2 h 5 min`;
    `—` when unknown."""
    if minutes is None:
        return "—"
    if minutes < 120:
        return t("mgr.minutes", lang, minutes=fmt_number(minutes, lang, 1))
    whole = round(minutes)
    return t("mgr.hours", lang, hours=whole // 60, minutes=whole % 60)


def percent_text(share: float | None, lang: str) -> str:
    """A share as a percentage with one decimal (`12,5%` / `12.5%`); `—` when there is nothing to share."""
    return "—" if share is None else f"{fmt_number(share * 100, lang, 1)}%"


def card(title: str, value: str, detail: str, *, kind: str) -> Component:
    """One figure card: a title, the figure, a line of detail."""
    return html.Div(
        className=f"mgr-kpi mgr-kpi--{kind}",
        children=[
            html.Div(title, className="mgr-kpi-title"),
            html.Div(value, className="mgr-kpi-value"),
            html.Div(detail, className="mgr-kpi-detail"),
        ],
    )


def _durations(title: str, figures: Durations, lang: str, kind: str) -> Component:
    if figures.count == 0:
        return card(title, "—", t("mgr.kpi.none", lang), kind=kind)
    detail = t(
        "mgr.kpi.detail",
        lang,
        mean=duration_text(figures.mean, lang),
        p90=duration_text(figures.p90, lang),
        count=figures.count,
    )
    value = f"{duration_text(figures.median, lang)} ({t('mgr.kpi.median', lang)})"
    return card(title, value, detail, kind=kind)


def kpi_cards(report: Report | None, lang: str) -> list[Component]:
    """The four cards of a report (None: the figures are unknown, e.g. the database does not answer)."""
    if report is None:
        return [
            card(t(key, lang), "—", "", kind=kind)
            for key, kind in (
                ("mgr.kpi.total", "total"),
                ("mgr.kpi.ack", "ack"),
                ("mgr.kpi.resolve", "resolve"),
                ("mgr.kpi.overdue", "overdue"),
            )
        ]
    unresolved = report.total - report.resolve.count
    return [
        card(
            t("mgr.kpi.total", lang),
            fmt_number(report.total, lang, 0),
            t("mgr.kpi.total_detail", lang, open=fmt_number(unresolved, lang, 0)),
            kind="total",
        ),
        _durations(t("mgr.kpi.ack", lang), report.ack, lang, "ack"),
        _durations(t("mgr.kpi.resolve", lang), report.resolve, lang, "resolve"),
        card(
            t("mgr.kpi.overdue", lang),
            percent_text(report.overdue_share, lang),
            t(
                "mgr.kpi.overdue_detail",
                lang,
                ack=percent_text(report.ack_overdue_share, lang),
                resolve=percent_text(report.resolve_overdue_share, lang),
                count=fmt_number(report.overdue, lang, 0),
            ),
            kind="overdue",
        ),
    ]
