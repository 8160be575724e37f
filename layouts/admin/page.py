"""The whole admin page: a header (title, reload, language), the place where actions answer (a message, a secret
shown once), then the accounts, the wall screens' display tokens and the newest audit entries. Pure: plain data in
(AdminData), components out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.audit import AuditEntry
from ioc.i18n import t
from ioc.identity.accounts import Account
from ioc.identity.tokens import DisplayToken
from layouts.admin import ids
from layouts.admin.accounts import account_form, accounts_table
from layouts.admin.audit import audit_table
from layouts.admin.tokens import token_form, tokens_table
from layouts.common import language_switch

PATH: Final = "/admin"
AUDIT_ROWS: Final = 50  # the newest audit entries the page shows


@dataclass(frozen=True)
class AdminData:
    """What the page shows: every account and display token, and the newest audit entries (newest first)."""

    accounts: Sequence[Account] = field(default_factory=list)
    tokens: Sequence[DisplayToken] = field(default_factory=list)
    entries: Sequence[AuditEntry] = field(default_factory=list)


def header(lang: str) -> Component:
    """Title, a reload link (the tables as they are now) and the language switch."""
    switch = language_switch(PATH, lang, "admin")
    return html.Header(
        className="admin-header",
        children=[
            html.H1(t("admin.title", lang), className="admin-title"),
            html.A(t("admin.reload", lang), href=f"{PATH}?lang={lang}", className="admin-button admin-reload"),
            switch,
        ],
    )


def panel(title: str, *children: Component, wide: bool = False) -> Component:
    """One titled section of the page."""
    return html.Section(
        className=f"admin-panel{' admin-panel--wide' if wide else ''}",
        children=[html.H2(title, className="admin-panel-title"), *children],
    )


def layout(data: AdminData, *, me: str | None, lang: str, tz: str, message: Component | None = None) -> Component:
    """The admin page in one language; `me` is the signed-in admin (marked in the accounts table), `tz` the city's
    time zone for every time shown, `message` an initial message (e.g. the database does not answer)."""
    return html.Div(
        id=ids.ROOT,
        className="admin desk",
        lang=lang,
        children=[
            dcc.Store(id=ids.LANG, data=lang),
            header(lang),
            html.Div(
                className="admin-feedback",
                children=[html.Div(message, id=ids.MESSAGE), html.Div(id=ids.SECRET, className="admin-secret")],
            ),
            panel(
                t("admin.accounts", lang),
                account_form(lang),
                html.Div(accounts_table(data.accounts, me=me, lang=lang, tz=tz), id=ids.ACCOUNTS),
                wide=True,
            ),
            panel(
                t("admin.tokens", lang),
                token_form(lang),
                html.Div(tokens_table(data.tokens, lang=lang, tz=tz), id=ids.TOKENS),
            ),
            panel(t("admin.audit", lang), html.Div(audit_table(data.entries, lang=lang, tz=tz), id=ids.AUDIT)),
        ],
    )
