"""What an action on the incidents page answers: a message saying it was done, or why it was refused (already in
the user's language: ioc/incidents/texts.py words the refusals). Pure."""

from __future__ import annotations

from dash import html
from dash.development.base_component import Component


def done(text: str) -> Component:
    """A message saying an action was done."""
    return html.Div(text, className="inc-message is-ok", role="status")


def problem(text: str) -> Component:
    """A message saying why an action was refused, or that the page cannot show its data."""
    return html.Div(text, className="inc-message is-error", role="alert")
