"""Incident words and refusals in the user's language (the texts themselves live in ioc/i18n.py)."""

from __future__ import annotations

from ioc.errors import InvalidInput, IocError, NotFound
from ioc.i18n import TEXTS, t
from ioc.incidents.model import IncidentChanged, IncidentRefused


def label(kind: str, value: str | None, lang: str) -> str:
    """The label of a type, status, severity, action, unit or condition (`kind`); a unit not in the table (one a
    city configured) is shown as it is named."""
    if value is None:
        return ""
    key = f"incident.{kind}.{value}"
    return t(key, lang) if key in TEXTS else value


def refusal(exc: IocError, lang: str) -> str:
    """Why an action was refused, in `lang`: not allowed, missing or unacceptable text, or someone else was first."""
    if isinstance(exc, IncidentChanged):
        return t("incident.changed", lang, status=label("status", exc.current.status, lang))
    if isinstance(exc, IncidentRefused):
        values = dict(exc.values)
        if "action" in values:
            values["action"] = label("action", str(values["action"]), lang).lower()
        if "status" in values:
            values["status"] = label("status", str(values["status"]), lang).lower()
        return t(exc.key, lang, **values)
    if isinstance(exc, NotFound):
        return t("incident.not_found", lang)
    if isinstance(exc, InvalidInput):  # a text or id that breaks ioc.inputs' rule: the rule's words after a lead-in
        return t("input.invalid", lang, detail=str(exc))
    return t("incident.unavailable", lang)
