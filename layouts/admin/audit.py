"""The audit panel: the newest audit entries, who did what and when, from where, in the page's language."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import html
from dash.development.base_component import Component

from ioc.audit import AuditEntry
from ioc.i18n import TEXTS, t
from layouts.common import local_datetime


def _role(value: Any, lang: str) -> str:
    return t(f"role.{value}", lang) if isinstance(value, str) and f"role.{value}" in TEXTS else str(value or "")


def describe(entry: AuditEntry, lang: str) -> str:
    """What an entry records, as a short sentence ("created account ana (operator)"); an action this page does not
    know is shown as stored (action, record type and id)."""
    key = f"admin.what.{entry.action}"
    if key not in TEXTS:
        return " ".join(part for part in (entry.action, entry.object_type, entry.object_id) if part)
    before, after = entry.before or {}, entry.after or {}
    name = after.get("username") or after.get("name") or before.get("username") or before.get("name") or ""
    reason = after.get("reason")
    reason_key = f"admin.reason.{reason}"
    return t(
        key,
        lang,
        name=name,
        role=_role(after.get("role"), lang),
        before=_role(before.get("role"), lang),
        reason=t(reason_key, lang) if reason_key in TEXTS else str(reason or ""),
    )


def audit_table(entries: Sequence[AuditEntry], *, lang: str, tz: str) -> Component:
    """The entries as a table, newest first as given (or a line saying the log is empty)."""
    if not entries:
        return html.P(t("admin.none.audit", lang), className="admin-empty")
    head = ["admin.col.when", "admin.col.who", "admin.col.what", "admin.col.address"]
    rows = [
        html.Tr(
            className=f"admin-row is-{entry.action.replace('.', '-')}",
            children=[
                html.Td(local_datetime(entry.at, tz, lang, seconds=True), className="admin-cell-time"),
                html.Td(entry.actor),
                html.Td(describe(entry, lang)),
                html.Td(entry.address or "—", className="admin-cell-address"),
            ],
        )
        for entry in entries
    ]
    return html.Table(
        className="admin-table admin-table--audit",
        children=[html.Thead(html.Tr([html.Th(t(key, lang)) for key in head])), html.Tbody(rows)],
    )
