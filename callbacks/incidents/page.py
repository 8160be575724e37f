"""The incidents page at `/incidents`, for the roles holding HANDLE_INCIDENTS (operators and managers): registers
itself, guarded with that permission (callbacks.auth.register_page). `?lang=vi|en` picks the language; the default is a
setting of the app serving the request."""

from __future__ import annotations

import logging

from dash.development.base_component import Component

from callbacks import resources
from callbacks.auth import register_page
from callbacks.incidents.actions import PERMISSION, now, read_table
from ioc.errors import DatabaseError
from ioc.i18n import normalize_lang, t
from ioc.incidents.queries import DEFAULT_LIMIT
from layouts.incidents.feedback import problem
from layouts.incidents.filters import filters_of
from layouts.incidents.page import PATH, layout

log = logging.getLogger(__name__)


def page(lang: str | None = None, **_query: object) -> Component:
    """The incidents page with the table as it is now (filters at their defaults)."""
    res = resources()
    chosen = normalize_lang(lang, res.settings.language)
    try:
        table, marker = read_table(filters_of(city=res.city, now=now()), chosen)
        message = None
    except DatabaseError as exc:
        log.error("incidents page cannot read the database: %s", exc)
        table, marker, message = [], None, problem(t("incident.unavailable", chosen))
    return layout(
        res.city,
        rows=table,
        marker=marker,
        limit=DEFAULT_LIMIT,
        units=res.settings.incident_units,
        lang=chosen,
        tile_url=res.settings.tile_url,
        message=message,
    )


register_page(
    __name__, path=PATH, name="Incidents", permission=PERMISSION, nav_label="shell.page.incidents", build=page
)
