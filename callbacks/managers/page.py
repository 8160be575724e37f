"""The managers' page at `/managers`, for the roles holding REVIEW_INCIDENTS: registers itself, guarded with that
permission (callbacks.auth.register_page), and imports its callbacks. `?lang=vi|en` picks the language; the default is
a setting of the app serving the request."""

from __future__ import annotations

from dash.development.base_component import Component

from callbacks import resources
from callbacks.auth import register_page
from callbacks.managers.report import PERMISSION, ward_names
from ioc.db import utcnow
from ioc.i18n import normalize_lang
from ioc.incidents.model import INCIDENT_TYPES, SEVERITY_ORDER
from layouts.common import zone
from layouts.managers.page import PATH, layout


def page(lang: str | None = None, **_query: object) -> Component:
    """The page's controls and empty figures: its callback fills them when the page loads (no database read here, so
    the page opens even when the database does not answer)."""
    res = resources()
    return layout(
        lang=normalize_lang(lang, res.settings.language),
        types=INCIDENT_TYPES,
        wards=ward_names(res.city),
        severities=SEVERITY_ORDER,
        today=utcnow().astimezone(zone(res.city.timezone)).date(),
    )


register_page(__name__, path=PATH, name="Managers", permission=PERMISSION, nav_label="shell.page.managers", build=page)
