"""The admin page's component ids, each defined once and prefixed with the page's name."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "admin-"

ROOT: Final = "admin-root"
LANG: Final = "admin-lang"
MESSAGE: Final = "admin-message"
SECRET: Final = "admin-secret"
SECRET_VALUE: Final = "admin-secret-value"
ACCOUNTS: Final = "admin-accounts"
TOKENS: Final = "admin-tokens"
AUDIT: Final = "admin-audit"
# The new-account form
NEW_USERNAME: Final = "admin-new-username"
NEW_ROLE: Final = "admin-new-role"
NEW_PASSWORD: Final = "admin-new-password"
NEW_PASSWORD_AGAIN: Final = "admin-new-password-again"
NEW_GENERATE: Final = "admin-new-generate"
CREATE_ACCOUNT: Final = "admin-create-account"
# The new-token form
TOKEN_NAME: Final = "admin-token-name"
CREATE_TOKEN: Final = "admin-create-token"
# Pattern-matching id types, one component per table row:
# {"type": ACCOUNT_ACTION, "account": id, "version": version shown, "action": "disable" | "enable" | ...},
# {"type": ACCOUNT_ROLE, "account": id}, {"type": TOKEN_REVOKE, "token": id}
ACCOUNT_ACTION: Final = "admin-account-action"
ACCOUNT_ROLE: Final = "admin-account-role"
TOKEN_REVOKE: Final = "admin-token-revoke"
