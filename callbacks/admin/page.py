"""The admin page at `/admin`, for the roles holding MANAGE_ACCOUNTS: registers itself, guarded with that permission
(callbacks.auth.register_page). `?lang=vi|en` picks the language; the default is a setting of the app serving the
request."""

from __future__ import annotations

import logging

from dash.development.base_component import Component

from callbacks import resources
from callbacks.admin.actions import PERMISSION, read_data
from callbacks.auth import principal, register_page
from ioc.errors import DatabaseError
from ioc.i18n import normalize_lang, t
from layouts.admin.feedback import problem
from layouts.admin.page import PATH, AdminData, layout

log = logging.getLogger(__name__)


def page(lang: str | None = None, **_query: object) -> Component:
    """The admin page with the accounts, display tokens and audit entries as they are now."""
    res = resources()
    chosen = normalize_lang(lang, res.settings.language)
    who = principal()
    try:
        data, message = read_data(res.database), None
    except DatabaseError as exc:
        log.error("admin page cannot read the database: %s", exc)
        data, message = AdminData(), problem(t("admin.refused.unavailable", chosen))
    return layout(data, me=who.name if who else None, lang=chosen, tz=res.city.timezone, message=message)


register_page(__name__, path=PATH, name="Admin", permission=PERMISSION, nav_label="shell.page.admin", build=page)
