"""The whole incidents page: a header (title, language), the answer to the last action, the filters and the table
of incidents, the selected incident's detail with its actions, and the form to open one by hand. A poll (about
every 3 s) reloads the table only when the incidents changed. Pure: plain data in, components out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import t
from layouts.common import language_switch
from layouts.incidents import ids
from layouts.incidents.detail import actions_panel, no_detail
from layouts.incidents.filters import filter_bar
from layouts.incidents.report import report_form
from layouts.incidents.table import incidents_table

PATH: Final = "/incidents"
POLL_MS: Final = 3000


def header(lang: str) -> Component:
    """Title and the language switch."""
    switch = language_switch(PATH, lang, "inc")
    return html.Header(
        className="inc-header", children=[html.H1(t("incidents.title", lang), className="inc-title"), switch]
    )


def count_text(shown: int, limit: int, lang: str) -> str:
    """How many incidents the table holds (and that only the newest are shown when the limit is reached)."""
    return t("incidents.count_limited" if shown >= limit else "incidents.count", lang, count=shown)


def panel(title: str, *children: Component, extra: str = "") -> Component:
    """One titled section of the page."""
    return html.Section(
        className=f"inc-panel {extra}".strip(), children=[html.H2(title, className="inc-panel-title"), *children]
    )


def layout(
    city: City,
    *,
    rows: Sequence[dict[str, Any]],
    marker: str | None,
    limit: int,
    units: Sequence[str],
    lang: str,
    tile_url: str,
    message: Component | None = None,
    poll_ms: int = POLL_MS,
) -> Component:
    """The page in one language; `rows` the table as first shown (filters at their defaults), `marker` the change
    marker they were read at (None: the database did not answer), `message` an initial message."""
    return html.Div(
        id=ids.ROOT,
        className="inc desk",
        lang=lang,
        children=[
            dcc.Store(id=ids.LANG, data=lang),
            dcc.Store(id=ids.MARKER, data=marker),
            dcc.Store(id=ids.SHOWN, data=None),
            dcc.Interval(id=ids.POLL, interval=poll_ms, n_intervals=0),
            header(lang),
            html.Div(message, id=ids.MESSAGE, className="inc-feedback", role="status"),
            panel(
                t("incidents.list", lang),
                filter_bar(city, lang),
                html.Div(count_text(len(rows), limit, lang), id=ids.COUNT, className="inc-muted inc-count"),
                html.Div(incidents_table(list(rows), lang), className="inc-grid-box"),
                extra="inc-panel--list",
            ),
            panel(
                t("incidents.detail", lang),
                html.Div(no_detail(lang), id=ids.DETAIL),
                actions_panel(units, lang),
                extra="inc-panel--detail",
            ),
            panel(t("incidents.new.title", lang), report_form(city, lang, tile_url), extra="inc-panel--new"),
        ],
    )
