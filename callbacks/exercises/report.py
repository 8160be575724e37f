"""The after-action report page at `/exercises/report?id=N`, for the roles holding REVIEW_EXERCISES (trainers, and
managers, who review how operators handle incidents: drills included): registers itself, guarded with that
permission, and its two callbacks, each guarded with it too: the report of the exercise chosen, and its export as
Excel or PDF (audited) sent to the browser through dcc.Download. One call into ioc.exercises each."""

from __future__ import annotations

import logging
from typing import Any, Final

import dash
import redis
from dash import Input, Output, State, callback
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from callbacks import chosen_lang, resources
from callbacks.auth import acting_principal, client_address, guarded, register_page
from callbacks.exercises.actions import said
from callbacks.managers.report import download
from ioc.errors import DatabaseError, NotFound
from ioc.exercises.exports import MEDIA_TYPES, Format, PdfFontMissing, export_bytes
from ioc.exercises.records import list_exercises
from ioc.exercises.report import AfterActionReport, after_action_report, record_export
from ioc.i18n import normalize_lang, t
from ioc.identity.accounts import list_accounts
from ioc.identity.roles import Permission
from ioc.inputs import id_in_query, valid_id
from layouts.exercises import ids
from layouts.exercises.report import PATH, body, lang_switch, layout, timeline_figure

log = logging.getLogger(__name__)

PERMISSION: Final = Permission.REVIEW_EXERCISES
EXPORT_BUTTONS: Final[dict[str, Format]] = {ids.REPORT_XLSX: "xlsx", ids.REPORT_PDF: "pdf"}


def read_report(exercise_id: int) -> AfterActionReport:
    """The report of an exercise as the page shows it (trainees by their user names)."""
    res = resources()
    names = {a.id: a.username for a in list_accounts(res.database)}
    return after_action_report(res.database, exercise_id, client=res.redis, base=res.keys.namespace, names=names)


def page(lang: str | None = None, id: str | None = None, **_query: object) -> Component:
    """The page with the exercises to choose from, `id` (the query's text) chosen (its callback fills the report)."""
    res = resources()
    chosen = normalize_lang(lang, res.settings.language)
    try:
        exercises, message = list_exercises(res.database), None
    except DatabaseError as exc:
        log.error("report page cannot read the exercises: %s", exc)
        exercises, message = [], said(False, t("aar.unavailable", chosen))
    return layout(exercises, id_in_query(id), lang=chosen, message=message)


@callback(
    output={
        "body": Output(ids.REPORT_BODY, "children"),
        "message": Output(ids.REPORT_MESSAGE, "children"),
        "lang_switch": Output(ids.REPORT_LANG_SWITCH, "children"),
    },
    inputs={"selected": Input(ids.REPORT_SELECT, "value"), "lang": State(ids.REPORT_LANG, "data")},
)
@guarded(PERMISSION)
def show(selected: Any, lang: str | None) -> dict[str, Any]:
    """The report of the exercise chosen (when the page loads too), and the language links keeping it."""
    chosen, tz = chosen_lang(lang), resources().city.timezone
    exercise_id = valid_id(selected)
    switch = lang_switch(chosen, exercise_id)
    if exercise_id is None:
        return {"body": body(None, chosen, tz), "message": None, "lang_switch": switch}
    try:
        report = read_report(exercise_id)
    except NotFound:
        return {
            "body": body(None, chosen, tz),
            "message": said(False, t("exercises.refused.not_found", chosen)),
            "lang_switch": lang_switch(chosen, None),
        }
    except (DatabaseError, redis.RedisError, OSError) as exc:
        log.error("report page cannot read exercise %s: %s", exercise_id, exc)
        return {"body": dash.no_update, "message": said(False, t("aar.unavailable", chosen)), "lang_switch": switch}
    return {"body": body(report, chosen, tz), "message": None, "lang_switch": switch}


@callback(
    output={
        "download": Output(ids.REPORT_DOWNLOAD, "data"),
        "message": Output(ids.REPORT_MESSAGE, "children", allow_duplicate=True),
    },
    inputs={
        "xlsx": Input(ids.REPORT_XLSX, "n_clicks"),
        "pdf": Input(ids.REPORT_PDF, "n_clicks"),
        "selected": State(ids.REPORT_SELECT, "value"),
        "lang": State(ids.REPORT_LANG, "data"),
    },
    prevent_initial_call=True,
)
@guarded(PERMISSION)
def export(xlsx: int | None, pdf: int | None, selected: Any, lang: str | None) -> dict[str, Any]:
    """The report of the exercise chosen as .xlsx or .pdf in the page's language, audited as the reader's."""
    trigger = dash.ctx.triggered_id
    clicks = {ids.REPORT_XLSX: xlsx, ids.REPORT_PDF: pdf}
    if trigger not in EXPORT_BUTTONS or not clicks[trigger]:
        raise PreventUpdate  # drawn anew, not clicked
    fmt, chosen, res = EXPORT_BUTTONS[trigger], chosen_lang(lang), resources()
    exercise_id = valid_id(selected)
    if exercise_id is None:
        return {"download": None, "message": said(False, t("aar.select", chosen))}
    who = acting_principal()
    try:
        report = read_report(exercise_id)
        name, content = export_bytes(report, fmt, lang=chosen, tz=res.city.timezone)
        record_export(res.database, exercise_id, actor=who.name, name=name, size=len(content), address=client_address())
    except NotFound:
        return {"download": None, "message": said(False, t("exercises.refused.not_found", chosen))}
    except PdfFontMissing as exc:
        log.error("after-action report as PDF: %s", exc)
        return {"download": None, "message": said(False, t("aar.pdf_unavailable", chosen, why=str(exc)))}
    except (DatabaseError, redis.RedisError, OSError) as exc:  # not audited, not given
        log.error("after-action report export of exercise %s failed: %s", exercise_id, exc)
        return {"download": None, "message": said(False, t("aar.unavailable", chosen))}
    log.info("%s exported exercise %d's report as %s (%d bytes)", who.name, exercise_id, name, len(content))
    return {
        "download": download(content, name, MEDIA_TYPES[fmt]),
        "message": said(True, t("aar.export.done", chosen, name=name)),
    }


__all__ = ["export", "page", "show", "timeline_figure"]

register_page(
    __name__, path=PATH, name="After-action report", permission=PERMISSION, nav_label="shell.page.aar", build=page
)
