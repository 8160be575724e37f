"""What an admin action answers: a message saying it was done or why it was refused (in the page's language, with
the rule's own words where a value broke one), and a secret shown once (a generated password, a display token's
address) with a copy button. Pure: errors and plain values in, components out."""

from __future__ import annotations

from typing import Final, Literal

from dash import dcc, html
from dash.development.base_component import Component

from ioc.errors import AlreadyExists, DatabaseError, InvalidInput, IocError, LastAdmin, NotFound, StaleVersion
from ioc.i18n import t
from layouts.admin import ids

Subject = Literal["account", "token"]
EXISTS_KEYS: Final[dict[Subject, str]] = {
    "account": "admin.refused.account_exists",
    "token": "admin.refused.token_exists",
}


def done(key: str, lang: str, **values: object) -> Component:
    """A message saying an action was done (`key` an `admin.done.*` text)."""
    return html.Div(t(key, lang, **values), className="admin-message is-ok", role="status")


def refused_text(error: IocError, lang: str, *, name: str, subject: Subject) -> str:
    """Why an action on `name` was refused, in the page's language: our own refusals fully translated, a value that
    broke a rule with the rule's words after a translated lead-in."""
    if isinstance(error, StaleVersion):
        return t("admin.refused.stale", lang, name=name)
    if isinstance(error, NotFound):
        return t("admin.refused.not_found", lang, name=name)
    if isinstance(error, AlreadyExists):
        return t(EXISTS_KEYS[subject], lang, name=name)
    if isinstance(error, LastAdmin):
        return t("admin.refused.last_admin", lang, name=name)
    if isinstance(error, DatabaseError):
        return t("admin.refused.unavailable", lang)  # its text names the database: for the log, not the page
    if isinstance(error, InvalidInput):
        return t("admin.refused.invalid", lang, detail=str(error))
    return t("admin.refused.invalid", lang, detail=type(error).__name__)


def refused(error: IocError, lang: str, *, name: str, subject: Subject) -> Component:
    """A message saying why an action was refused (see refused_text)."""
    return problem(refused_text(error, lang, name=name, subject=subject))


def problem(text: str) -> Component:
    """A refusal message of the page's own (e.g. two passwords that differ)."""
    return html.Div(text, className="admin-message is-error", role="alert")


def _secret(lead: str, value: str, lang: str, hint: str | None = None) -> Component:
    return html.Div(
        className="admin-secret-box",
        children=[
            html.Div(lead, className="admin-secret-lead"),
            html.Div(
                className="admin-secret-line",
                children=[
                    html.Code(value, id=ids.SECRET_VALUE, className="admin-secret-value"),
                    dcc.Clipboard(
                        target_id=ids.SECRET_VALUE, title=t("admin.secret.copy", lang), className="admin-copy"
                    ),
                ],
            ),
            *([html.Div(hint, className="admin-secret-hint")] if hint else []),
        ],
    )


def password_secret(username: str, password: str, lang: str) -> Component:
    """A generated password, shown this once (only its hash is kept)."""
    return _secret(t("admin.secret.password", lang, name=username), password, lang)


def token_secret(name: str, url: str, lang: str) -> Component:
    """A new display token's address for its wall screen, shown this once, with how to use it."""
    return _secret(t("admin.secret.token", lang, name=name), url, lang, t("admin.secret.token_hint", lang))
