"""Roles and what each may do, declared once: the web guard asks `may(role, permission)` and nothing else.

Kept free of the database and of password hashing so a guard on every request imports only this.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from ioc.errors import InvalidInput


class Role(StrEnum):
    """The role of an account (stored as its value in `accounts.role`)."""

    OPERATOR = "operator"
    MANAGER = "manager"
    TRAINER = "trainer"
    ADMIN = "admin"
    DISPLAY = "display"


class Permission(StrEnum):
    """One thing a role may do; pages and callbacks name the permission they need."""

    VIEW_WALL = "view_wall"  # the live wall (read-only)
    HANDLE_INCIDENTS = "handle_incidents"  # see, acknowledge and annotate incidents
    REVIEW_INCIDENTS = "review_incidents"  # review an operator's handling
    CLOSE_INCIDENTS = "close_incidents"
    EXPORT_REPORTS = "export_reports"
    REPLAY_HISTORY = "replay_history"  # rebuild the wall at a past moment and play it forward (never a display)
    RUN_EXERCISES = "run_exercises"  # training exercises in their own namespace
    REVIEW_EXERCISES = "review_exercises"  # read and export exercises' after-action reports (not run them)
    MANAGE_ACCOUNTS = "manage_accounts"  # accounts and display tokens


_OPERATOR: Final = frozenset({Permission.VIEW_WALL, Permission.HANDLE_INCIDENTS, Permission.REPLAY_HISTORY})

ROLE_PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = {
    Role.OPERATOR: _OPERATOR,
    Role.MANAGER: _OPERATOR
    | {
        Permission.REVIEW_INCIDENTS,
        Permission.CLOSE_INCIDENTS,
        Permission.EXPORT_REPORTS,
        Permission.REVIEW_EXERCISES,  # managers review how operators handle incidents: drills included
    },
    Role.TRAINER: frozenset(
        {Permission.VIEW_WALL, Permission.RUN_EXERCISES, Permission.REVIEW_EXERCISES, Permission.REPLAY_HISTORY}
    ),
    Role.ADMIN: frozenset({Permission.VIEW_WALL, Permission.MANAGE_ACCOUNTS}),
    Role.DISPLAY: frozenset({Permission.VIEW_WALL}),
}


def may(role: Role | str | None, permission: Permission) -> bool:
    """Whether `role` holds `permission`; no role (no session) or an unknown role string may do nothing."""
    if role is None:
        return False
    try:
        known = Role(role)
    except ValueError:
        return False
    return permission in ROLE_PERMISSIONS[known]


def parse_role(text: str) -> Role:
    """The Role named by `text` (any case); InvalidInput listing the roles otherwise (also for a value not a text)."""
    try:
        return Role(text.strip().lower())
    except (ValueError, AttributeError):
        raise InvalidInput(f"unknown role {str(text)[:40]!r}; roles: {', '.join(r.value for r in Role)}") from None
