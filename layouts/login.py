"""The pages outside the app: the login form, "not allowed for your role", "no such page" and "access revoked".
Plain HTML served by Flask (no scripts needed, so they work even when the app's bundles do not load), dark like the
wall, in Vietnamese or English. Pure: text in, text out."""

from __future__ import annotations

from html import escape
from typing import Final

from dash import html
from dash.development.base_component import Component

from ioc.i18n import LANGS, t
from ioc.links import lang_link

_STYLE: Final = """
body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
       background: #0b1017; color: #e6eef6; font: 18px/1.4 system-ui, "Segoe UI", Roboto, sans-serif; }
main { width: min(26rem, 92vw); padding: 2rem; border-radius: 0.6rem; background: #141c26; }
h1 { font-size: 1.3rem; margin: 0 0 1.2rem; }
label { display: block; margin: 0.8rem 0 0.3rem; color: #9fb0c2; font-size: 0.95rem; }
input { width: 100%; box-sizing: border-box; padding: 0.6rem; border: 1px solid #2f3b49; border-radius: 0.4rem;
        background: #0b1017; color: #e6eef6; font-size: 1rem; }
button { margin-top: 1.3rem; width: 100%; padding: 0.7rem; border: 0; border-radius: 0.4rem; background: #3d7eff;
         color: #fff; font-size: 1rem; font-weight: 600; cursor: pointer; }
.problem { margin: 0 0 0.8rem; padding: 0.6rem 0.8rem; border-radius: 0.4rem; background: #3a0710; color: #ffd2d9; }
.langs { margin-top: 1.2rem; font-size: 0.9rem; text-align: right; }
.langs a { color: #9fb0c2; margin-left: 0.6rem; }
a.back { color: #9fb0c2; }
"""
PROBLEMS: Final = ("invalid_credentials", "disabled", "rate_limited", "expired", "unavailable")


def _page(lang: str, title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def _langs(lang: str, path: str) -> str:
    links = "".join(f'<a href="{escape(lang_link(path, code))}">{code.upper()}</a>' for code in LANGS if code != lang)
    return f'<div class="langs">{links}</div>'


def login_html(
    lang: str,
    *,
    csrf: str,
    target: str,
    problem: str | None = None,
    username: str = "",
    retry_after_s: int | None = None,
) -> str:
    """The login form; `problem` (one of PROBLEMS) shows why the last attempt was refused."""
    shown = ""
    if problem in PROBLEMS:
        text = t(f"login.{problem}", lang, seconds=retry_after_s or 0)
        shown = f'<p class="problem" role="alert" id="login-problem">{escape(text)}</p>'
    body = (
        f"<h1>{escape(t('login.title', lang))}</h1>{shown}"
        f'<form method="post" action="/login" id="login-form">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="next" value="{escape(target)}">'
        f'<input type="hidden" name="lang" value="{escape(lang)}">'
        f'<label for="login-username">{escape(t("login.username", lang))}</label>'
        f'<input id="login-username" name="username" autocomplete="username" required autofocus'
        f' value="{escape(username)}">'
        f'<label for="login-password">{escape(t("login.password", lang))}</label>'
        f'<input id="login-password" name="password" type="password" autocomplete="current-password" required>'
        f'<button type="submit" id="login-submit">{escape(t("login.submit", lang))}</button></form>'
        f"{_langs(lang, '/login')}"
    )
    return _page(lang, t("login.title", lang), body)


def forbidden_html(lang: str, name: str) -> str:
    """A page this role may not open (HTTP 403): says so, and offers the way back."""
    body = (
        f"<h1>{escape(t('auth.forbidden', lang))}</h1><p>{escape(t('auth.signed_in_as', lang, name=name))}</p>"
        f'<p><a href="/" class="back">{escape(t("auth.back", lang))}</a></p>'
    )
    return _page(lang, t("auth.forbidden", lang), body)


def forbidden_component(lang: str, name: str | None) -> Component:
    """The same refusal inside the app (a page opened by in-app navigation)."""
    lines: list[Component] = [html.H1(t("auth.forbidden", lang))]
    if name:
        lines.append(html.P(t("auth.signed_in_as", lang, name=name)))
    return html.Div(lines, className="auth-forbidden", id="auth-forbidden")


def not_found_component(lang: str) -> Component:
    """The not-found page inside the app (an address reached by in-app navigation where no page is)."""
    return html.Div(
        [
            html.H1(t("auth.not_found", lang)),
            html.P(t("shell.not_found_hint", lang)),
            html.A(t("auth.back", lang), href="/", className="back", id="not-found-back"),
        ],
        className="auth-not-found",
        id="auth-not-found",
    )


def not_found_html(lang: str, path: str) -> str:
    """An address where no page is (HTTP 404): says so, and offers the way back."""
    body = (
        f"<h1>{escape(t('auth.not_found', lang))}</h1><p>{escape(t('auth.not_found_hint', lang, path=path))}</p>"
        f'<p><a href="/" class="back" id="not-found-back">{escape(t("auth.back", lang))}</a></p>'
    )
    return _page(lang, t("auth.not_found", lang), body)


def unavailable_html(lang: str) -> str:
    """A page that needs the database while it does not answer (HTTP 503): says so; the wall still works."""
    body = (
        f"<h1>{escape(t('auth.unavailable', lang))}</h1><p>{escape(t('auth.unavailable_hint', lang))}</p>"
        f'<p><a href="/" class="back">{escape(t("auth.back", lang))}</a></p>'
    )
    return _page(lang, t("auth.unavailable", lang), body)


def revoked_html(lang: str) -> str:
    """A display link whose token is unknown or revoked (HTTP 401)."""
    body = f"<h1>{escape(t('auth.revoked', lang))}</h1><p>{escape(t('auth.revoked_hint', lang))}</p>"
    return _page(lang, t("auth.revoked", lang), body)


def display_confirm_html(lang: str, *, name: str, wall: str, csrf: str, token: str) -> str:
    """A display-token link opened in a browser where a person is signed in: asks before that session is replaced
    by the wall screen's (a POST with the session's CSRF token); the other choice keeps the session."""
    body = (
        f"<h1>{escape(t('auth.display_confirm', lang))}</h1>"
        f"<p>{escape(t('auth.display_confirm_hint', lang, name=name, wall=wall))}</p>"
        f'<form method="post" action="/display" id="display-form">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<input type="hidden" name="token" value="{escape(token)}">'
        f'<input type="hidden" name="lang" value="{escape(lang)}">'
        f'<button type="submit" id="display-open">{escape(t("auth.display_open", lang))}</button></form>'
        f'<p><a href="/" class="back" id="display-keep">{escape(t("auth.display_keep", lang))}</a></p>'
    )
    return _page(lang, t("auth.display_confirm", lang), body)
