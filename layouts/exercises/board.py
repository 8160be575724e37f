"""What the trainer's page shows of its exercises: the list (to select one from), the selected one's status and
clock, its expected responses (in time green, late or missed red, pending), its trainees' actions and the messages it
sent. Pure: a Board in, components out; times on the exercise's clock, in the city's time zone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from dash import html
from dash.development.base_component import Component

from ioc.exercises.records import Exercise
from ioc.exercises.scoring import SentInject, TraineeAction
from ioc.i18n import t
from ioc.incidents.texts import label
from ioc.links import with_query
from layouts.common import local_datetime
from layouts.exercises import ids

REPORT_PATH: Final = "/exercises/report"  # the after-action report's page (layouts/exercises/report.py)

STATE_CLASSES: Final = {"on_time": "is-met", "late": "is-failed", "missed": "is-failed", "pending": "is-pending"}


def _when(value: str | float | datetime | None, tz: str, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return "—"
    else:
        moment = value
    return local_datetime(moment, tz, lang, seconds=True)


def status_text(exercise: Exercise, lang: str) -> str:
    """An exercise's status in the reader's words."""
    return t(f"exercises.status.{exercise.status}", lang)


def options(exercises: Sequence[Exercise], lang: str) -> list[dict[str, Any]]:
    """The exercises as choices of the selection."""
    return [{"label": f"#{e.id} {e.name} · {status_text(e, lang)}", "value": e.id} for e in exercises]


def table(head: Sequence[str], rows: Sequence[Sequence[Any]], empty: str, *, classes: Sequence[str] = ()) -> Component:
    """A small table, or the `empty` text."""
    if not rows:
        return html.P(empty, className="exercises-empty")
    return html.Table(
        className="exercises-table",
        children=[
            html.Thead(html.Tr([html.Th(h) for h in head])),
            html.Tbody(
                [
                    html.Tr([html.Td(c) for c in row], className=classes[i] if i < len(classes) else None)
                    for i, row in enumerate(rows)
                ]
            ),
        ],
    )


def exercises_table(exercises: Sequence[Exercise], lang: str) -> Component:
    """Every exercise, newest first."""
    head = [t(f"exercises.col.{c}", lang) for c in ("id", "name", "scenario", "status", "speed", "trainees")]
    rows = [[e.id, e.name, e.scenario, status_text(e, lang), f"×{e.speed:g}", len(e.trainees)] for e in exercises]
    return table(head, rows, t("exercises.none", lang))


def status_line(exercise: Exercise | None, clock: float | None, tz: str, lang: str) -> Component:
    """The selected exercise's status, speed and clock."""
    if exercise is None:
        return html.P(t("exercises.refused.select", lang), className="exercises-empty")
    return html.P(
        className=f"exercises-status is-{exercise.status}",
        children=[
            html.B(f"#{exercise.id} {exercise.name}"),
            f" · {status_text(exercise, lang)} · ×{exercise.speed:g} · ",
            t("exercises.clock", lang, clock=_when(clock, tz, lang)),
        ],
    )


def report_href(exercise: Exercise | None, lang: str) -> str:
    """Where the selected exercise's after-action report is."""
    return REPORT_PATH if exercise is None else with_query(REPORT_PATH, id=str(exercise.id), lang=lang)


def report_link(exercise: Exercise | None, lang: str) -> Component:
    """The link to the selected exercise's after-action report (hidden while none is selected)."""
    return html.A(
        t("exercises.report_link", lang),
        id=ids.REPORT_LINK,
        href=report_href(exercise, lang),
        hidden=exercise is None,
        className="exercises-report-link",
    )


def expected_text(expected: dict[str, Any], lang: str) -> str:
    """An expected response in words: the action, on which incident, within how long."""
    action = str(expected.get("action", ""))
    place = expected.get("place")
    return t(
        "exercises.expected",
        lang,
        action=label("action", action, lang) if action != "open_by_hand" else "open_by_hand",
        type=label("type", str(expected.get("incident_type", "")), lang),
        place=f" @ {place}" if place else "",
        minutes=expected.get("within_min", ""),
    )


def responses_table(responses: Sequence[dict[str, Any]], tz: str, lang: str) -> Component:
    """The expected responses with their state: green when met in time, red when late or missed."""
    head = [t(f"exercises.col.{c}", lang) for c in ("expected", "due", "done", "state")]
    rows = [
        [
            f"{r.get('inject', '')}: {expected_text(r.get('expected') or {}, lang)}",
            _when(r.get("due_at"), tz, lang),
            _when(r.get("done_at"), tz, lang),
            t(f"exercises.state.{r.get('status', 'pending')}", lang),
        ]
        for r in responses
    ]
    classes = [f"exercises-response {STATE_CLASSES.get(str(r.get('status')), 'is-idle')}" for r in responses]
    return table(head, rows, t("exercises.no_responses", lang), classes=classes)


def actions_table(actions: Sequence[TraineeAction], tz: str, lang: str) -> Component:
    """The trainees' actions, on the exercise's clock."""
    head = [t(f"exercises.col.{c}", lang) for c in ("when", "who", "what")]
    rows = [
        [
            _when(a.at, tz, lang),
            a.actor,
            f"{label('action', a.action, lang) if a.action != 'open_by_hand' else 'open_by_hand'} #{a.incident_id} "
            f"({label('type', a.incident_type, lang)}){f' → {a.unit}' if a.unit else ''}",
        ]
        for a in actions
    ]
    return table(head, rows, t("exercises.no_actions", lang))


def messages_table(messages: Sequence[SentInject], tz: str, lang: str) -> Component:
    """The messages sent to the trainees (the MSEL's, contingencies and by hand)."""
    head = [t(f"exercises.col.{c}", lang) for c in ("when", "who", "what")]
    rows = [
        [_when(m.sent_at, tz, lang), f"{m.sender} → {m.recipient}", m.text_vi if lang == "vi" else m.text_en]
        for m in messages
    ]
    return table(head, rows, t("exercises.no_messages", lang))
