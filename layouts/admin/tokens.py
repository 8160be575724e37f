"""The wall screens panel: the new-token form, and one table row per display token (name, created, by whom,
active or revoked) with a revoke button on the active ones."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html
from dash.development.base_component import Component

from ioc.i18n import t
from ioc.identity.tokens import DisplayToken
from layouts.admin import ids
from layouts.common import local_datetime


def token_form(lang: str) -> Component:
    """The new-token form: the wall screen's name."""
    return html.Div(
        className="admin-form",
        children=[
            html.H3(t("admin.token.title", lang), className="admin-form-title"),
            html.Div(
                className="admin-form-row",
                children=[
                    html.Label(
                        className="admin-field",
                        children=[
                            html.Span(t("admin.col.name", lang), className="admin-field-label"),
                            dcc.Input(
                                id=ids.TOKEN_NAME,
                                type="text",
                                autoComplete="off",
                                maxLength=64,
                                className="admin-input",
                            ),
                        ],
                    ),
                    html.Span(t("admin.token.rule", lang), className="admin-hint"),
                    html.Button(
                        t("admin.token.submit", lang),
                        id=ids.CREATE_TOKEN,
                        n_clicks=0,
                        className="admin-button is-primary",
                    ),
                ],
            ),
        ],
    )


def revoke_button(token: DisplayToken, lang: str) -> Component:
    """Revoke this token (after a confirmation); its id names the token shown, not just its name."""
    return dcc.ConfirmDialogProvider(
        html.Button(t("admin.do.revoke", lang), className="admin-button is-danger"),
        id={"type": ids.TOKEN_REVOKE, "token": token.id},
        message=t("admin.confirm.revoke", lang, name=token.name),
    )


def token_row(token: DisplayToken, *, lang: str, tz: str) -> Component:
    """One token's row."""
    if token.active:
        status = html.Span(t("admin.status.active", lang), className="admin-status is-active")
    else:
        when = local_datetime(token.revoked_at, tz, lang)
        status = html.Span(t("admin.status.revoked", lang, time=when), className="admin-status is-revoked")
    return html.Tr(
        className=f"admin-row is-{'active' if token.active else 'revoked'}",
        children=[
            html.Td(token.name, className="admin-cell-name"),
            html.Td(local_datetime(token.created_at, tz, lang), className="admin-cell-time"),
            html.Td(token.created_by),
            html.Td(status),
            html.Td(html.Div([revoke_button(token, lang)] if token.active else [], className="admin-actions")),
        ],
    )


def tokens_table(tokens: Sequence[DisplayToken], *, lang: str, tz: str) -> Component:
    """Every display token, the active ones first (or a line saying there is none)."""
    if not tokens:
        return html.P(t("admin.none.tokens", lang), className="admin-empty")
    ordered = sorted(tokens, key=lambda token: not token.active)  # stable: by name within each group
    head = ["admin.col.name", "admin.col.created", "admin.col.created_by", "admin.col.status", "admin.col.actions"]
    return html.Table(
        className="admin-table",
        children=[
            html.Thead(html.Tr([html.Th(t(key, lang)) for key in head])),
            html.Tbody([token_row(token, lang=lang, tz=tz) for token in ordered]),
        ],
    )
