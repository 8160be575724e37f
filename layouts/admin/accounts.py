"""The accounts panel: the new-account form, and one table row per account (user name, role, enabled or disabled,
last change) with its actions. Each action button carries the account's version as the page shows it, so a change
made meanwhile by someone else is refused rather than overwritten; each asks for a confirmation first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from dash import dcc, html
from dash.development.base_component import Component

from ioc.i18n import t
from ioc.identity.accounts import Account, Role
from layouts.admin import ids
from layouts.common import dropdown_labels, local_datetime

ACTIONS: Final = ("disable", "enable", "set_role", "reset_password")
GENERATE: Final = "generate"  # the value of the "generate a random password" box when ticked
DEFAULT_ROLE: Final = Role.OPERATOR


def role_options(lang: str) -> list[dict[str, str]]:
    """Every role, labelled in the page's language."""
    return [{"label": t(f"role.{role.value}", lang), "value": role.value} for role in Role]


def account_form(lang: str) -> Component:
    """The new-account form: user name, role, and a password typed twice or generated and shown once."""

    def field(label: str, control: Component) -> Component:
        return html.Label([html.Span(label, className="admin-field-label"), control], className="admin-field")

    return html.Div(
        className="admin-form",
        children=[
            html.H3(t("admin.create.title", lang), className="admin-form-title"),
            html.Div(
                className="admin-form-row",
                children=[
                    field(
                        t("admin.col.username", lang),
                        dcc.Input(
                            id=ids.NEW_USERNAME, type="text", autoComplete="off", maxLength=64, className="admin-input"
                        ),
                    ),
                    field(
                        t("admin.col.role", lang),
                        dcc.Dropdown(
                            labels=dropdown_labels(lang),
                            id=ids.NEW_ROLE,
                            options=role_options(lang),
                            value=DEFAULT_ROLE.value,
                            clearable=False,
                            searchable=False,
                            className="admin-select",
                        ),
                    ),
                    field(
                        t("admin.create.password", lang),
                        dcc.Input(
                            id=ids.NEW_PASSWORD, type="password", autoComplete="new-password", className="admin-input"
                        ),
                    ),
                    field(
                        t("admin.create.password_again", lang),
                        dcc.Input(
                            id=ids.NEW_PASSWORD_AGAIN,
                            type="password",
                            autoComplete="new-password",
                            className="admin-input",
                        ),
                    ),
                ],
            ),
            html.Div(
                className="admin-form-row",
                children=[
                    dcc.Checklist(
                        id=ids.NEW_GENERATE,
                        options=[{"label": t("admin.create.generate", lang), "value": GENERATE}],
                        value=[],
                        className="admin-check",
                    ),
                    html.Span(t("admin.create.rule", lang), className="admin-hint"),
                    html.Button(
                        t("admin.create.submit", lang),
                        id=ids.CREATE_ACCOUNT,
                        n_clicks=0,
                        className="admin-button is-primary",
                    ),
                ],
            ),
        ],
    )


def action_button(account: Account, action: str, lang: str, *, danger: bool = False) -> Component:
    """One action on one account, asking for a confirmation; its id carries the version shown."""
    return dcc.ConfirmDialogProvider(
        html.Button(t(f"admin.do.{action}", lang), className=f"admin-button{' is-danger' if danger else ''}"),
        id={"type": ids.ACCOUNT_ACTION, "account": account.id, "version": account.version, "action": action},
        message=t(f"admin.confirm.{action}", lang, name=account.username),
    )


def account_row(account: Account, *, me: str | None, lang: str, tz: str) -> Component:
    """One account's row: name (marked when it is the signed-in admin's), role to choose, status, last change and
    the actions."""
    yours = me is not None and account.username.lower() == me.lower()
    name: list[Component | str] = [account.username]
    if yours:
        name.append(html.Span(t("admin.you", lang), className="admin-you"))
    status = "disabled" if account.disabled else "enabled"
    toggle = (
        action_button(account, "enable", lang)
        if account.disabled
        else action_button(account, "disable", lang, danger=True)
    )
    return html.Tr(
        className=f"admin-row is-{status}",
        children=[
            html.Td(name, className="admin-cell-name"),
            html.Td(
                dcc.Dropdown(
                    labels=dropdown_labels(lang),
                    id={"type": ids.ACCOUNT_ROLE, "account": account.id},
                    options=role_options(lang),
                    value=account.role.value,
                    clearable=False,
                    searchable=False,
                    className="admin-select admin-select--row",
                )
            ),
            html.Td(html.Span(t(f"admin.status.{status}", lang), className=f"admin-status is-{status}")),
            html.Td(local_datetime(account.updated_at, tz, lang), className="admin-cell-time"),
            html.Td(
                html.Div(
                    className="admin-actions",
                    children=[
                        toggle,
                        action_button(account, "set_role", lang),
                        action_button(account, "reset_password", lang),
                    ],
                ),
            ),
        ],
    )


def accounts_table(accounts: Sequence[Account], *, me: str | None, lang: str, tz: str) -> Component:
    """Every account, one row each (or a line saying there is none)."""
    if not accounts:
        return html.P(t("admin.none.accounts", lang), className="admin-empty")
    head = ["admin.col.username", "admin.col.role", "admin.col.status", "admin.col.changed", "admin.col.actions"]
    return html.Table(
        className="admin-table",
        children=[
            html.Thead(html.Tr([html.Th(t(key, lang)) for key in head])),
            html.Tbody([account_row(account, me=me, lang=lang, tz=tz) for account in accounts]),
        ],
    )
