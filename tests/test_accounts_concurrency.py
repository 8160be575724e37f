"""Cross-row rules of accounts and display tokens under concurrency, on SQLite and PostgreSQL: threads released
together by a barrier, each on its own connection, several rounds, the rule checked after each round."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from ioc.audit import AuditRow
from ioc.db import Database
from ioc.embedded import EmbeddedRedis
from ioc.identity.accounts import Account, authenticate, create_account, disable, list_accounts, set_role
from ioc.identity.ratelimit import LoginLimiter
from ioc.identity.roles import Role
from ioc.identity.tables import AccountRow
from ioc.identity.tokens import create_display_token, list_display_tokens, revoke_display_token
from ioc.keys import Keys
from ioc.store import connect_url
from tests.conftest import wipe_namespace

PASSWORD = "correct horse battery"
ROUNDS = 10
JOIN_S = 20.0


@pytest.fixture
def connections(db: Database) -> Iterator[Callable[[], Database]]:
    """A maker of separate handles on the database under test (each its own engine, so its own connection)."""
    made: list[Database] = []

    def make() -> Database:
        handle = Database(db.url, embedded=db.embedded)
        made.append(handle)
        return handle

    yield make
    for handle in made:
        handle.close()


def race(dbs: list[Database], calls: list[Callable[[Database], Any]]) -> list[Any]:
    """Run each call on its own handle in its own thread, all released at once; each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(JOIN_S)
        try:
            results[index] = calls[index](dbs[index])
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_S)
    assert not any(thread.is_alive() for thread in threads), "a racing call did not finish in time"
    return results


def only_admins(db: Database, names: list[str]) -> None:
    """Make these accounts (created when missing) the only enabled admins, set by hand for the next round."""
    existing = {account.username for account in list_accounts(db)}
    for name in names:
        if name not in existing:
            create_account(db, name, Role.ADMIN, PASSWORD, actor="test")
    admin = AccountRow.username.in_(names)
    with db.transaction() as session:
        session.execute(
            sa.update(AccountRow).values(
                role=sa.case((admin, Role.ADMIN.value), else_=Role.OPERATOR.value),
                disabled=False,
                version=AccountRow.version + 1,
            )
        )


def enabled_admins(db: Database) -> list[str]:
    """The names of the enabled admins now."""
    return [a.username for a in list_accounts(db) if a.role is Role.ADMIN and not a.disabled]


def test_two_admins_demoting_each_other_leave_one(db: Database, connections: Callable[[], Database]) -> None:
    dbs = [connections(), connections()]
    for _ in range(ROUNDS):
        only_admins(db, ["a", "b"])
        results = race(
            dbs,
            [
                lambda d: set_role(d, "b", Role.OPERATOR, actor="a"),
                lambda d: set_role(d, "a", Role.OPERATOR, actor="b"),
            ],
        )
        assert sorted(type(r).__name__ for r in results) == ["Account", "LastAdmin"], results
        assert len(enabled_admins(db)) == 1


def test_two_admins_disabling_each_other_leave_one(db: Database, connections: Callable[[], Database]) -> None:
    dbs = [connections(), connections()]
    for _ in range(ROUNDS):
        only_admins(db, ["a", "b"])
        results = race(dbs, [lambda d: disable(d, "b", actor="a"), lambda d: disable(d, "a", actor="b")])
        assert sorted(type(r).__name__ for r in results) == ["Account", "LastAdmin"], results
        assert len(enabled_admins(db)) == 1


def test_demote_and_disable_at_once_leave_one(db: Database, connections: Callable[[], Database]) -> None:
    dbs = [connections(), connections()]
    for _ in range(ROUNDS):
        only_admins(db, ["a", "b"])
        results = race(dbs, [lambda d: set_role(d, "b", Role.MANAGER, actor="a"), lambda d: disable(d, "a", actor="b")])
        assert sorted(type(r).__name__ for r in results) == ["Account", "LastAdmin"], results
        assert len(enabled_admins(db)) == 1


def test_three_admins_three_demotions_leave_one(db: Database, connections: Callable[[], Database]) -> None:
    dbs = [connections(), connections(), connections()]
    for _ in range(ROUNDS):
        only_admins(db, ["a", "b", "c"])
        results = race(
            dbs,
            [
                lambda d: set_role(d, "b", Role.OPERATOR, actor="a"),
                lambda d: set_role(d, "c", Role.OPERATOR, actor="b"),
                lambda d: disable(d, "a", actor="c"),
            ],
        )
        assert sorted(type(r).__name__ for r in results) == ["Account", "Account", "LastAdmin"], results
        assert len(enabled_admins(db)) == 1


def test_a_token_is_revoked_once(db: Database, connections: Callable[[], Database]) -> None:
    dbs = [connections(), connections()]
    for n in range(ROUNDS):
        name = f"wall-{n}"
        create_display_token(db, name, actor="test")
        results = race(dbs, [partial(revoke_display_token, name=name, actor="x")] * 2)
        assert sorted(type(r).__name__ for r in results) == ["DisplayToken", "NotFound"], results
        with db.read() as session:
            revokes = session.scalar(sa.select(sa.func.count()).where(AuditRow.action == "display_token.revoke"))
        assert revokes == n + 1  # one audit row per token: the second revoke changed nothing


def test_one_active_token_per_name(db: Database, connections: Callable[[], Database]) -> None:
    dbs = [connections(), connections()]
    for n in range(ROUNDS):
        name = f"wall-{n}"
        results = race(dbs, [partial(create_display_token, name=name, actor="x")] * 2)
        assert sorted(type(r).__name__ for r in results) == ["AlreadyExists", "tuple"], results
        assert [t.name for t in list_display_tokens(db, include_revoked=False)].count(name) == 1


def test_one_account_per_name_whatever_its_case(db: Database, connections: Callable[[], Database]) -> None:
    dbs = [connections(), connections()]
    for n in range(ROUNDS):
        results = race(
            dbs,
            [
                partial(create_account, username=f"same{n}", role=Role.OPERATOR, password=PASSWORD, actor="x"),
                partial(create_account, username=f"SAME{n}", role=Role.OPERATOR, password=PASSWORD, actor="x"),
            ],
        )
        assert sorted(type(r).__name__ for r in results) == ["Account", "AlreadyExists"], results


def test_two_logins_rehashing_one_old_password_at_once_both_succeed(
    db: Database, connections: Callable[[], Database], embedded_redis: EmbeddedRedis
) -> None:
    # Both find a hash made with weaker parameters than today's and hash the password again: the second one's
    # versioned update finds the row changed (a 500 on the login before the fix, on PostgreSQL).
    keys = Keys(f"rh{uuid.uuid4().hex[:8]}")
    client = connect_url(embedded_redis.url)
    limiter = LoginLimiter(client, keys, max_failures=100, window_s=60)
    old_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
    try:
        for round_number in range(ROUNDS // 2):
            name = f"rehash-{round_number}"
            create_account(db, name, Role.OPERATOR, PASSWORD, actor="test")
            with db.transaction() as session:
                session.execute(
                    sa.update(AccountRow)
                    .where(AccountRow.username == name)
                    .values(password_hash=old_hasher.hash(PASSWORD))
                )

            def login(handle: Database, name: str = name) -> Any:
                return authenticate(handle, limiter, name, PASSWORD, "192.0.2.1")

            results = race([connections(), connections()], [login, login])
            assert all(isinstance(result, Account) for result in results), results
            with db.read() as session:
                stored = session.scalars(sa.select(AccountRow.password_hash).where(AccountRow.username == name)).one()
            assert not PasswordHasher().check_needs_rehash(stored)
    finally:
        wipe_namespace(client, keys)
        client.close()
