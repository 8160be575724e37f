"""The trainer's page at `/exercises`, for the roles holding RUN_EXERCISES: registers itself, guarded with that
permission (callbacks.auth.register_page). `?lang=vi|en` picks the language; the default is a setting of the app
serving the request."""

from __future__ import annotations

import logging

import redis
from dash.development.base_component import Component

from callbacks import resources
from callbacks.auth import register_page
from callbacks.exercises.actions import PERMISSION, read_page, said
from ioc.errors import DatabaseError
from ioc.exercises.trainer import Board
from ioc.i18n import normalize_lang, t
from layouts.exercises.page import PATH, layout

log = logging.getLogger(__name__)


def page(lang: str | None = None, **_query: object) -> Component:
    """The trainer's page with the exercises as they are now (none selected)."""
    res = resources()
    chosen = normalize_lang(lang, res.settings.language)
    try:
        data, scenarios, trainees = read_page(None)
        message = None
    except (DatabaseError, redis.RedisError, OSError) as exc:
        log.error("trainer's page cannot read the exercises: %s", exc)
        data, scenarios, trainees = Board(), [], []
        message = said(False, t("exercises.refused.unavailable", chosen))
    return layout(
        data,
        scenarios=scenarios,
        trainees=trainees,
        lang=chosen,
        tz=res.city.timezone,
        message=message,
        city=res.city,
    )


register_page(
    __name__, path=PATH, name="Exercises", permission=PERMISSION, nav_label="shell.page.exercises", build=page
)
