"""The `ioc db`, `ioc users` and `ioc display-token` commands, and the start-up step of `ioc run` / `ioc web` / the
incident engine (migrations; the session key for the web only).

Kept apart from cli/main.py so that module only wires them in (`register`); SQLAlchemy and argon2 are imported
when a command runs, not when `ioc` starts. Every change is audited with the actor `cli:<os user>`. A password
is read with getpass (asked twice) when standard input is a terminal, else as one line of standard input.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ioc.errors import InvalidInput
from ioc.identity.roles import Role
from ioc.settings import Settings, load_settings

if TYPE_CHECKING:
    from ioc.db import Database

Handler = Callable[[argparse.Namespace], int]
AddCommand = Callable[..., argparse.ArgumentParser]


def cli_actor() -> str:
    """The audit actor of a CLI action: `cli:<os user>` (the uid when the user has no name)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


def read_password(stdin: TextIO | None = None, *, confirm: bool = True) -> str:
    """A new password: asked twice with getpass on a terminal, else the first line of standard input."""
    stream = stdin if stdin is not None else sys.stdin
    if stream.isatty():
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Password again: ") != password:
            raise InvalidInput("the two passwords differ")
        return password
    line = stream.readline()
    if not line:
        raise InvalidInput("no password on standard input (give it as one line, e.g. from a secret file)")
    return line.removesuffix("\n").removesuffix("\r")


def open_migrated(settings: Settings) -> Database:
    """The database, checked to answer and at the newest migration (the embedded one is migrated on the spot)."""
    from ioc.db import open_database

    db = open_database(settings)
    try:
        if db.embedded and not db.is_current():
            db.upgrade()
        db.require_current()
    except BaseException:
        db.close()
        raise
    return db


def prepare_database(settings: Settings, *, default_accounts: bool) -> list[str]:
    """Start-up step of every process that writes the database (`ioc run`, `ioc web`, the incident engine): migrate,
    and on the embedded database's first run (`ioc run`) create one account per role; the lines to show the person
    starting it (passwords, once). It makes no session key: only the web signs cookies (`prepare_web`)."""
    from ioc.db import open_database
    from ioc.identity.accounts import create_default_accounts

    db = open_database(settings)
    try:
        db.upgrade()
        made = create_default_accounts(db) if default_accounts else []
    finally:
        db.close()
    if not made:
        return []
    width = max(len(account.username) for account, _ in made)
    lines = ["", "First start: one account per role was created. The passwords are shown only this once:"]
    lines += [f"    {account.username:<{width}}  {password}" for account, password in made]
    lines += ["Change one with `ioc users reset-password NAME`; add people with `ioc users add NAME --role ROLE`.", ""]
    return lines


def prepare_web(settings: Settings, *, default_accounts: bool) -> list[str]:
    """Start-up step of `ioc run` and `ioc web`: the database's (`prepare_database`), then the session key made once
    before any worker starts (IOC_SECRET_KEY, else IOC_DATA_DIR/secret_key); the lines to show."""
    from ioc.secret_key import secret_key

    lines = prepare_database(settings, default_accounts=default_accounts)
    secret_key(settings)
    return lines


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply every pending migration."""
    from ioc.db import open_database

    db = open_database(load_settings())
    try:
        before, after = db.upgrade()
        if before == after:
            print(f"{db.describe()}: already at the newest revision {after}")
        else:
            print(f"{db.describe()}: upgraded from {before or 'an empty database'} to {after}")
    finally:
        db.close()
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    """Write a consistent copy of the database to a new file (ioc.backup)."""
    from ioc.backup import backup
    from ioc.db import open_database

    db = open_database(load_settings(), check=False)
    try:
        backup(db, args.file)
    finally:
        db.close()
    print(f"{db.describe()}: backed up to {args.file} ({args.file.stat().st_size} bytes)")
    return 0


def cmd_db_restore(args: argparse.Namespace) -> int:
    """Replace every record of the database with a backup's (stop the other processes first)."""
    from ioc.backup import restore
    from ioc.db import open_database

    if not args.yes:
        raise InvalidInput("a restore replaces every account, incident and audit entry: add --yes to go ahead")
    db = open_database(load_settings(), check=False)
    try:
        revision = restore(db, args.file)
        head = db.head_revision()
    finally:
        db.close()
    advice = "" if revision == head else f"; this code needs {head}: run `ioc db upgrade`"
    print(f"{db.describe()}: restored from {args.file}, at revision {revision}{advice}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    """Show the database's migration revision and whether it is the newest."""
    from ioc.db import open_database

    db = open_database(load_settings())
    try:
        current, head = db.current_revision(), db.head_revision()
    finally:
        db.close()
    if current == head:
        print(f"{current} (newest) on {db.describe()}")
    else:
        print(f"{current or 'none'} on {db.describe()}; the newest is {head}: run `ioc db upgrade`")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    """Create an account with a role; the password from the terminal or standard input."""
    from ioc.identity.accounts import check_password_rule, check_username, create_account

    check_username(args.name)
    password = read_password()
    check_password_rule(password, args.name)
    db = open_migrated(load_settings())
    try:
        account = create_account(db, args.name, args.role, password, actor=cli_actor())
    finally:
        db.close()
    print(f"created account {account.username!r} with the role {account.role.value}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    """List the accounts."""
    from ioc.identity.accounts import list_accounts

    db = open_migrated(load_settings())
    try:
        accounts = list_accounts(db)
    finally:
        db.close()
    if args.json:
        print(json.dumps([account.public() for account in accounts], ensure_ascii=False, indent=2))
        return 0
    rows = [("USER", "ROLE", "STATUS", "VERSION", "UPDATED")]
    rows += [
        (
            a.username,
            a.role.value,
            "disabled" if a.disabled else "enabled",
            str(a.version),
            a.updated_at.isoformat(timespec="seconds"),
        )
        for a in accounts
    ]
    _print_table(rows)
    return 0


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_users_disable(args: argparse.Namespace) -> int:
    """Disable an account."""
    from ioc.identity.accounts import disable

    db = open_migrated(load_settings())
    try:
        account = disable(db, args.name, actor=cli_actor())
    finally:
        db.close()
    print(f"account {account.username!r} is disabled")
    return 0


def cmd_users_enable(args: argparse.Namespace) -> int:
    """Enable an account."""
    from ioc.identity.accounts import enable

    db = open_migrated(load_settings())
    try:
        account = enable(db, args.name, actor=cli_actor())
    finally:
        db.close()
    print(f"account {account.username!r} is enabled")
    return 0


def cmd_users_reset_password(args: argparse.Namespace) -> int:
    """Give an account a new password, from the terminal or standard input."""
    from ioc.identity.accounts import check_password_rule, reset_password

    password = read_password()
    check_password_rule(password, args.name)
    db = open_migrated(load_settings())
    try:
        account = reset_password(db, args.name, password, actor=cli_actor())
    finally:
        db.close()
    print(f"new password set for {account.username!r}")
    return 0


def cmd_users_set_role(args: argparse.Namespace) -> int:
    """Give an account another role."""
    from ioc.identity.accounts import set_role

    db = open_migrated(load_settings())
    try:
        account = set_role(db, args.name, args.role, actor=cli_actor())
    finally:
        db.close()
    print(f"account {account.username!r} has the role {account.role.value}")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    """Make a display token and print its wall URL, once."""
    from ioc.identity.tokens import check_token_name, create_display_token, display_url

    check_token_name(args.name)
    settings = load_settings()
    db = open_migrated(settings)
    try:
        _token, secret = create_display_token(db, args.name, actor=cli_actor())
    finally:
        db.close()
    print(f"display token {args.name!r} created; open this address on the wall (shown only now):")
    print(display_url(settings, secret))
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    """List display tokens, active and revoked (never their secrets)."""
    from ioc.identity.tokens import list_display_tokens

    db = open_migrated(load_settings())
    try:
        tokens = list_display_tokens(db)
    finally:
        db.close()
    if args.json:
        print(json.dumps([token.public() for token in tokens], ensure_ascii=False, indent=2))
        return 0
    rows = [("NAME", "STATUS", "CREATED", "BY")]
    rows += [
        (
            t.name,
            "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d %H:%M}Z",
            t.created_at.isoformat(timespec="seconds"),
            t.created_by,
        )
        for t in tokens
    ]
    _print_table(rows)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    """Revoke a display token: its wall is refused at its next request."""
    from ioc.identity.tokens import revoke_display_token

    db = open_migrated(load_settings())
    try:
        token = revoke_display_token(db, args.name, actor=cli_actor())
    finally:
        db.close()
    print(f"display token {token.name!r} revoked")
    return 0


def _role(text: str) -> str:
    """A role name (argparse type), any case."""
    lowered = text.strip().lower()
    if lowered not in {role.value for role in Role}:
        raise argparse.ArgumentTypeError(f"unknown role {text!r}; roles: {', '.join(r.value for r in Role)}")
    return lowered


def register(add: AddCommand) -> None:
    """Add the db, users and display-token commands to the `ioc` parser (`add` is its subcommand helper)."""
    roles = ", ".join(role.value for role in Role)

    def group(name: str, text: str) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        parser = add(name, _missing, text)
        return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")

    def action(
        subs: argparse._SubParsersAction[argparse.ArgumentParser], name: str, handler: Handler, text: str
    ) -> argparse.ArgumentParser:
        parser = subs.add_parser(name, help=text, description=text)
        parser.set_defaults(handler=handler)
        return parser

    db = group("db", "the SQL database: migrations, revision, backup and restore")
    action(db, "upgrade", cmd_db_upgrade, "apply every pending migration")
    action(db, "current", cmd_db_current, "show the database's revision")
    backup = action(db, "backup", cmd_db_backup, "write a consistent copy of the database to a new file")
    backup.add_argument("file", metavar="FILE", type=Path)
    restore = action(db, "restore", cmd_db_restore, "replace every record with a backup's (stop the processes first)")
    restore.add_argument("file", metavar="FILE", type=Path)
    restore.add_argument("--yes", action="store_true", help="confirm: every current record is replaced")

    users = group("users", "accounts: add, list, disable, enable, reset-password, set-role")
    add_user = action(users, "add", cmd_users_add, "create an account; the password from the terminal or stdin")
    add_user.add_argument("name", metavar="NAME")
    add_user.add_argument("--role", type=_role, required=True, help=f"one of {roles}")
    list_users = action(users, "list", cmd_users_list, "list the accounts")
    list_users.add_argument("--json", action="store_true", help="print as JSON")
    for name, handler, text in (
        ("disable", cmd_users_disable, "disable an account (it can no longer log in)"),
        ("enable", cmd_users_enable, "enable a disabled account"),
        ("reset-password", cmd_users_reset_password, "set a new password, from the terminal or stdin"),
    ):
        action(users, name, handler, text).add_argument("name", metavar="NAME")
    set_role = action(users, "set-role", cmd_users_set_role, "give an account another role")
    set_role.add_argument("name", metavar="NAME")
    set_role.add_argument("role", metavar="ROLE", type=_role, help=f"one of {roles}")

    tokens = group("display-token", "display tokens for wall screens: create, list, revoke")
    create = action(tokens, "create", cmd_token_create, "make a token and print the wall's URL (only once)")
    create.add_argument("name", metavar="NAME")
    list_tokens = action(tokens, "list", cmd_token_list, "list the tokens (never their secrets)")
    list_tokens.add_argument("--json", action="store_true", help="print as JSON")
    action(tokens, "revoke", cmd_token_revoke, "revoke a token: its wall is refused at once").add_argument(
        "name", metavar="NAME"
    )


def _missing(args: argparse.Namespace) -> int:
    """Never called: argparse requires an action after a command group."""
    raise InvalidInput("an action is required")
