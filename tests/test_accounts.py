"""Accounts on real databases (SQLite file, PostgreSQL when IOC_TEST_DATABASE_URL is set) with login limits in real
Redis: roles, hashing, every change audited in the same transaction, authentication and its rate limit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ioc import audit
from ioc.audit import AuditRow
from ioc.db import Database
from ioc.embedded import EmbeddedRedis
from ioc.errors import AlreadyExists, InvalidInput, LastAdmin, NotFound, StaleVersion
from ioc.identity.accounts import (
    MIN_PASSWORD_LENGTH,
    Account,
    LoginFailure,
    LoginRefused,
    authenticate,
    create_account,
    create_default_accounts,
    disable,
    enable,
    find_account,
    get_account,
    list_accounts,
    record_logout,
    reset_password,
    set_role,
)
from ioc.identity.ratelimit import LoginLimiter, subject
from ioc.identity.roles import ROLE_PERMISSIONS, Permission, Role, may, parse_role
from ioc.identity.tables import ROLE_VALUES, AccountRow
from ioc.keys import Keys
from ioc.store import connect_url
from tests.conftest import wipe_namespace

PASSWORD = "correct horse battery"
ACTOR = "test:admin"
ADDRESS = "203.0.113.7"


@pytest.fixture
def limiter(embedded_redis: EmbeddedRedis, keys: Keys) -> Iterator[LoginLimiter]:
    """A login limiter (3 failures per minute) on the embedded Redis, in the test's own namespace."""
    client = connect_url(embedded_redis.url)
    yield LoginLimiter(client, keys, max_failures=3, window_s=60)
    wipe_namespace(client, keys)
    client.close()


def password_hash_of(db: Database, username: str) -> str:
    """The stored hash, read straight from the table."""
    with db.read() as session:
        return session.scalars(sa.select(AccountRow.password_hash).where(AccountRow.username == username)).one()


def audit_rows(db: Database) -> list[AuditRow]:
    """Every audit row, oldest first."""
    with db.read() as session:
        return list(session.scalars(sa.select(AuditRow).order_by(AuditRow.id)).all())


def fail_audit_writes(db: Database) -> None:
    """Make every later INSERT into audit_log fail inside the database (a real failure halfway through a change)."""
    with db.transaction() as session:
        if db.dialect == "postgresql":
            session.execute(
                sa.text(
                    "CREATE FUNCTION fail_audit() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit write failed'; END $$"
                )
            )
            session.execute(
                sa.text(
                    "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION fail_audit()"
                )
            )
        else:
            session.execute(
                sa.text(
                    "CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit write failed'); END"
                )
            )


# --- roles -------------------------------------------------------------------------------------------------------


def test_roles_and_permissions_as_designed() -> None:
    operator = ROLE_PERMISSIONS[Role.OPERATOR]
    manager = ROLE_PERMISSIONS[Role.MANAGER]
    assert operator < manager
    assert manager - operator == {
        Permission.REVIEW_INCIDENTS,
        Permission.CLOSE_INCIDENTS,
        Permission.EXPORT_REPORTS,
        Permission.REVIEW_EXERCISES,
    }
    assert may(Role.TRAINER, Permission.REVIEW_EXERCISES) and not may(Role.MANAGER, Permission.RUN_EXERCISES)
    assert may(Role.TRAINER, Permission.RUN_EXERCISES)
    assert not may(Role.OPERATOR, Permission.RUN_EXERCISES)
    assert may(Role.ADMIN, Permission.MANAGE_ACCOUNTS)
    assert not any(may(role, Permission.MANAGE_ACCOUNTS) for role in Role if role is not Role.ADMIN)
    assert ROLE_PERMISSIONS[Role.DISPLAY] == {Permission.VIEW_WALL}
    assert all(may(role, Permission.VIEW_WALL) for role in Role)
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_no_role_and_unknown_roles_may_nothing() -> None:
    assert not any(may(None, permission) for permission in Permission)
    assert not any(may("root", permission) for permission in Permission)
    assert may("manager", Permission.CLOSE_INCIDENTS)


def test_role_names_parse_and_match_the_table_constraint() -> None:
    assert parse_role(" Manager ") is Role.MANAGER
    with pytest.raises(InvalidInput, match="operator, manager, trainer, admin, display"):
        parse_role("boss")
    assert set(ROLE_VALUES) == {role.value for role in Role}


# --- creating, hashing, listing ----------------------------------------------------------------------------------


def test_password_is_stored_as_argon2id_hash(db: Database, limiter: LoginLimiter) -> None:
    account = create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    stored = password_hash_of(db, "ana")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert "password_hash" not in account.public()
    create_account(db, "bao", Role.OPERATOR, PASSWORD, actor=ACTOR)
    assert password_hash_of(db, "bao") != stored  # salted
    assert authenticate(db, limiter, "ana", PASSWORD, ADDRESS) == get_account(db, account.id)


@pytest.mark.parametrize("password", ["", "short", "x" * (MIN_PASSWORD_LENGTH - 1), " " * 12, "Ana-Nguyen", "y" * 2000])
def test_password_rule(db: Database, password: str) -> None:
    with pytest.raises(InvalidInput, match="password") as caught:
        create_account(db, "Ana-Nguyen", Role.OPERATOR, password, actor=ACTOR)
    if password.strip():
        assert password not in str(caught.value)
    assert list_accounts(db) == []


@pytest.mark.parametrize("name", ["", "-ana", "ana nguyen", "Ánh", "a" * 65, "ana\n"])
def test_username_rule(db: Database, name: str) -> None:
    with pytest.raises(InvalidInput, match="user name"):
        create_account(db, name, Role.OPERATOR, PASSWORD, actor=ACTOR)


def test_username_unique_whatever_its_case(db: Database) -> None:
    created = create_account(db, "Ana.Nguyen", Role.OPERATOR, PASSWORD, actor=ACTOR)
    with pytest.raises(AlreadyExists):
        create_account(db, "ana.nguyen", Role.MANAGER, PASSWORD, actor=ACTOR)
    assert find_account(db, "ANA.NGUYEN") == created
    assert created.username == "Ana.Nguyen"
    with pytest.raises(sa_exc.IntegrityError), db.transaction() as session:  # the database refuses it too
        session.add(
            AccountRow(
                username="ANA.nguyen",
                role="operator",
                password_hash="x",
                disabled=False,
                created_at=created.created_at,
                updated_at=created.created_at,
            )
        )


def test_list_and_get(db: Database) -> None:
    for name, role in (("cuong", Role.MANAGER), ("Bao", Role.OPERATOR), ("an", Role.ADMIN)):
        create_account(db, name, role, PASSWORD, actor=ACTOR)
    accounts = list_accounts(db)
    assert [a.username for a in accounts] == ["an", "Bao", "cuong"]
    assert [a.role for a in accounts] == [Role.ADMIN, Role.OPERATOR, Role.MANAGER]
    assert get_account(db, accounts[0].id) == accounts[0]
    assert get_account(db, 999_999) is None
    assert find_account(db, "nobody") is None
    assert all(a.created_at.tzinfo is not None and a.version == 1 and not a.disabled for a in accounts)


# --- changes and their audit rows --------------------------------------------------------------------------------


def test_every_change_writes_its_audit_row(db: Database) -> None:
    created = create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR, address=ADDRESS)
    set_role(db, "ana", Role.MANAGER, actor="cli:root")
    disable(db, "ANA", actor=ACTOR)
    enable(db, "ana", actor=ACTOR)
    final = reset_password(db, "ana", "another long secret", actor=ACTOR)
    rows = audit_rows(db)
    assert [(r.action, r.actor, r.object_type, r.object_id) for r in rows] == [
        ("account.create", ACTOR, "account", str(created.id)),
        ("account.set_role", "cli:root", "account", str(created.id)),
        ("account.disable", ACTOR, "account", str(created.id)),
        ("account.enable", ACTOR, "account", str(created.id)),
        ("account.reset_password", ACTOR, "account", str(created.id)),
    ]
    assert rows[0].before is None and rows[0].after == created.public() and rows[0].address == ADDRESS
    assert (rows[1].before or {})["role"] == "operator" and (rows[1].after or {})["role"] == "manager"
    assert (rows[2].before or {})["disabled"] is False and (rows[2].after or {})["disabled"] is True
    assert [(r.before or {}).get("version") for r in rows[1:]] == [1, 2, 3, 4]
    assert (rows[4].after or {})["password_changed"] is True
    assert final.version == 5
    everything = json.dumps([(r.before, r.after) for r in rows])
    assert PASSWORD not in everything and "another long secret" not in everything and "argon2" not in everything


def test_nothing_to_change_writes_nothing(db: Database) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    assert enable(db, "ana", actor=ACTOR).version == 1
    assert set_role(db, "ana", "operator", actor=ACTOR).version == 1
    assert len(audit_rows(db)) == 1


def test_change_and_audit_row_commit_together_or_not_at_all(db: Database) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    fail_audit_writes(db)
    with pytest.raises(sa_exc.DBAPIError, match="audit write failed"):
        set_role(db, "ana", Role.MANAGER, actor=ACTOR)
    with pytest.raises(sa_exc.DBAPIError, match="audit write failed"):
        create_account(db, "bao", Role.OPERATOR, PASSWORD, actor=ACTOR)
    with pytest.raises(sa_exc.DBAPIError, match="audit write failed"):
        disable(db, "ana", actor=ACTOR)
    ana = find_account(db, "ana")
    assert ana is not None and ana.role is Role.OPERATOR and not ana.disabled and ana.version == 1
    assert find_account(db, "bao") is None
    assert [r.action for r in audit_rows(db)] == ["account.create"]


def test_stale_version_is_refused(db: Database) -> None:
    shown = create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    set_role(db, "ana", Role.MANAGER, actor="admin-1", expected_version=shown.version)
    with pytest.raises(StaleVersion, match="changed meanwhile"):
        disable(db, "ana", actor="admin-2", expected_version=shown.version)
    ana = find_account(db, "ana")
    assert ana is not None and not ana.disabled and ana.role is Role.MANAGER


def test_unknown_account(db: Database) -> None:
    with pytest.raises(NotFound, match="nobody"):
        disable(db, "nobody", actor=ACTOR)
    with pytest.raises(NotFound, match="nobody"):
        set_role(db, "nobody", "admin", actor=ACTOR)


def test_last_enabled_admin_stays(db: Database) -> None:
    create_account(db, "root", Role.ADMIN, PASSWORD, actor=ACTOR)
    with pytest.raises(LastAdmin, match="last enabled admin"):  # an InvalidInput (the CLI exits 2) of its own type
        disable(db, "root", actor=ACTOR)
    with pytest.raises(LastAdmin, match="last enabled admin"):
        set_role(db, "root", Role.OPERATOR, actor=ACTOR)
    create_account(db, "root2", Role.ADMIN, PASSWORD, actor=ACTOR)
    assert disable(db, "root", actor=ACTOR).disabled


# --- authentication ----------------------------------------------------------------------------------------------


def test_unknown_user_and_wrong_password_look_the_same(db: Database, limiter: LoginLimiter) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    unknown = authenticate(db, limiter, "nobody", PASSWORD, ADDRESS)
    wrong = authenticate(db, limiter, "ana", "not the password", "198.51.100.1")
    assert isinstance(unknown, LoginRefused) and unknown.reason is LoginFailure.UNKNOWN_USER
    assert isinstance(wrong, LoginRefused) and wrong.reason is LoginFailure.WRONG_PASSWORD
    assert unknown.shown == wrong.shown == "invalid_credentials"


def test_disabled_account_is_refused(db: Database, limiter: LoginLimiter) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    disable(db, "ana", actor=ACTOR)
    right = authenticate(db, limiter, "ana", PASSWORD, ADDRESS)
    assert isinstance(right, LoginRefused) and right.reason is LoginFailure.DISABLED and right.shown == "disabled"
    wrong = authenticate(db, limiter, "ana", "not the password", ADDRESS)
    assert isinstance(wrong, LoginRefused) and wrong.shown == "invalid_credentials"  # disabled only told to its owner
    enable(db, "ana", actor=ACTOR)
    assert isinstance(authenticate(db, limiter, "Ana", PASSWORD, ADDRESS), Account)


def test_logins_and_logouts_are_audited_without_passwords(db: Database, limiter: LoginLimiter) -> None:
    limiter = LoginLimiter(limiter.client, limiter.keys, max_failures=10, window_s=60)
    ana = create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    authenticate(db, limiter, "ana", "a wrong guess", ADDRESS)
    authenticate(db, limiter, "nobody", "another guess", ADDRESS)
    authenticate(db, limiter, "my password typed as name", "x", ADDRESS)
    account = authenticate(db, limiter, "ana", PASSWORD, ADDRESS)
    assert isinstance(account, Account)
    record_logout(db, account, ADDRESS)
    logins = [r for r in audit_rows(db) if r.action != "account.create"]
    assert [(r.action, r.actor, r.object_id, (r.after or {}).get("reason"), r.address) for r in logins] == [
        ("login.failure", "ana", str(ana.id), "wrong_password", ADDRESS),
        ("login.failure", "nobody", None, "unknown_user", ADDRESS),
        ("login.failure", "(not a user name)", None, "unknown_user", ADDRESS),
        ("login.success", "ana", str(ana.id), None, ADDRESS),
        ("logout", "ana", str(ana.id), None, ADDRESS),
    ]
    text = json.dumps([[r.actor, r.before, r.after] for r in logins])
    for secret in (PASSWORD, "a wrong guess", "another guess", "my password typed as name"):
        assert secret not in text
    assert [e.action for e in audit.entries(db, object_type="account", object_id=ana.id, limit=2)] == [
        "logout",
        "login.success",
    ]


# --- rate limiting -----------------------------------------------------------------------------------------------


def test_account_locked_after_failures_even_with_right_password(db: Database, limiter: LoginLimiter) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    for n in range(3):
        refused = authenticate(db, limiter, "ana", "wrong", f"198.51.100.{n}")  # a new address each time
        assert isinstance(refused, LoginRefused) and refused.reason is LoginFailure.WRONG_PASSWORD
    limited = authenticate(db, limiter, "ANA", PASSWORD, "198.51.100.99")
    assert isinstance(limited, LoginRefused) and limited.reason is LoginFailure.RATE_LIMITED
    assert limited.shown == "rate_limited"
    assert limited.retry_after_s is not None and 0 < limited.retry_after_s <= 60
    assert [(r.after or {}).get("reason") for r in audit_rows(db)][-1] == "rate_limited"
    other = authenticate(db, limiter, "bao", PASSWORD, "198.51.100.99")  # another name from that address: checked
    assert isinstance(other, LoginRefused) and other.reason is LoginFailure.UNKNOWN_USER


def test_address_locked_after_failures_across_names(db: Database, limiter: LoginLimiter) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    for name in ("x1", "x2", "x3"):
        assert isinstance(authenticate(db, limiter, name, "guess", ADDRESS), LoginRefused)
    limited = authenticate(db, limiter, "ana", PASSWORD, ADDRESS)
    assert isinstance(limited, LoginRefused) and limited.reason is LoginFailure.RATE_LIMITED
    assert isinstance(authenticate(db, limiter, "ana", PASSWORD, "192.0.2.1"), Account)


def test_success_forgives_the_accounts_failures(db: Database, limiter: LoginLimiter) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    for _ in range(2):
        authenticate(db, limiter, "ana", "wrong", ADDRESS)
    assert limiter.failures("ana", ADDRESS) == (2, 2)
    assert isinstance(authenticate(db, limiter, "ana", PASSWORD, ADDRESS), Account)
    assert limiter.failures("ana", ADDRESS) == (0, 2)


def test_an_address_count_taken_back_to_zero_leaves_no_window_behind(db: Database, limiter: LoginLimiter) -> None:
    """A success at a fresh address leaves no key: a later failure starts its own window, not an old one's end
    (an old window ending mid-burst split the burst and let its second half outlive the name's lock)."""
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    assert isinstance(authenticate(db, limiter, "ana", PASSWORD, ADDRESS), Account)
    assert limiter.client.exists(limiter.keys.login_failures_address(subject(ADDRESS))) == 0
    authenticate(db, limiter, "ana", "wrong", ADDRESS)
    ttl_ms = limiter.client.pttl(limiter.keys.login_failures_address(subject(ADDRESS)))
    assert limiter.window_ms - 2_000 < ttl_ms <= limiter.window_ms


def test_limit_shared_by_separate_clients(redis_url: str, keys: Keys) -> None:
    """Two web workers (separate clients and limiters) see the same count."""
    first, second = connect_url(redis_url), connect_url(redis_url)
    try:
        worker_a = LoginLimiter(first, keys, max_failures=3, window_s=60)
        worker_b = LoginLimiter(second, keys, max_failures=3, window_s=60)
        assert worker_a.acquire("ana", "192.0.2.1") is None
        assert worker_b.acquire("ana", "192.0.2.2") is None
        assert worker_a.acquire("ana", "192.0.2.3") is None
        wait = worker_b.acquire("ana", "192.0.2.4")
        assert wait is not None and 59 < wait <= 60
        assert worker_a.failures("ana", "192.0.2.1") == (3, 1)
    finally:
        wipe_namespace(first, keys)
        first.close()
        second.close()


def test_limit_resets_after_the_window(redis_url: str, keys: Keys) -> None:
    client = connect_url(redis_url)
    try:
        limiter = LoginLimiter(client, keys, max_failures=2, window_s=1)
        assert limiter.acquire("ana", ADDRESS) is None
        assert limiter.acquire("ana", ADDRESS) is None
        blocked_at = time.monotonic()
        assert limiter.acquire("ana", ADDRESS) is not None
        deadline = blocked_at + 5
        while limiter.acquire("ana", ADDRESS) is not None:
            assert time.monotonic() < deadline, "still refused 5 s after a 1 s window"
            time.sleep(0.05)
        assert time.monotonic() - blocked_at > 0.5  # it did wait for the window, not let the attempt through at once
    finally:
        wipe_namespace(client, keys)
        client.close()


def test_concurrent_attempts_never_exceed_the_limit(redis_url: str, keys: Keys) -> None:
    clients = [connect_url(redis_url) for _ in range(8)]
    allowed: list[bool] = []
    start = threading.Barrier(len(clients))

    def attempt(client: redis.Redis) -> None:
        limiter = LoginLimiter(client, keys, max_failures=3, window_s=60)
        start.wait(10)
        for _ in range(5):
            allowed.append(limiter.acquire("ana", ADDRESS) is None)

    threads = [threading.Thread(target=attempt, args=(client,)) for client in clients]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(allowed) == 40 and allowed.count(True) == 3
    finally:
        wipe_namespace(clients[0], keys)
        for client in clients:
            client.close()


def test_odd_names_and_addresses_make_bounded_keys(redis_url: str, keys: Keys) -> None:
    client = connect_url(redis_url)
    try:
        limiter = LoginLimiter(client, keys, max_failures=3, window_s=60)
        limiter.acquire("x" * 10_000 + " \n*", "\x00" * 500)
        names = list(client.scan_iter(match=keys.all_keys_pattern()))
        assert len(names) == 2 and all(len(name) < 120 and "\n" not in name and "*" not in name for name in names)
    finally:
        wipe_namespace(client, keys)
        client.close()


# --- default accounts ----------------------------------------------------------------------------------------------


def test_default_accounts_only_on_the_embedded_database(db: Database, limiter: LoginLimiter) -> None:
    made = create_default_accounts(db)
    if db.dialect == "postgresql":
        assert made == [] and list_accounts(db) == []
        return
    assert sorted(account.role for account, _ in made) == sorted(Role)
    assert {account.username for account, _ in made} == {role.value for role in Role}
    assert len({password for _, password in made}) == len(Role)
    for account, password in made:
        assert len(password) >= MIN_PASSWORD_LENGTH
        assert authenticate(db, limiter, account.username, password, ADDRESS) == account
    assert create_default_accounts(db) == []  # the first run only
    assert len(list_accounts(db)) == len(Role)


def test_no_default_accounts_once_someone_exists(db: Database) -> None:
    create_account(db, "ana", Role.ADMIN, PASSWORD, actor=ACTOR)
    assert create_default_accounts(db) == []
    assert [a.username for a in list_accounts(db)] == ["ana"]


@pytest.mark.slow
def test_repeated_lockouts_of_a_name_last_ever_longer(redis_url: str, keys: Keys) -> None:
    client = connect_url(redis_url)
    try:
        limiter = LoginLimiter(client, keys, max_failures=2, window_s=1, max_lock_s=3)
        waits = []
        for _ in range(3):
            deadline = time.monotonic() + 10
            while limiter.acquire("ana", ADDRESS) is None:  # fail until locked
                assert time.monotonic() < deadline
            wait = limiter.acquire("ana", ADDRESS)
            assert wait is not None
            waits.append(wait)
            while limiter.acquire("ana", ADDRESS) is not None:  # the lock ends by itself
                assert time.monotonic() < deadline, waits
                time.sleep(0.05)
        assert waits[0] <= 1 and 1.2 < waits[1] <= 2 and 2.2 < waits[2] <= 3, waits  # doubled, up to the longest
        limiter.succeeded("ana", ADDRESS)
        assert limiter.acquire("ana", ADDRESS) is None and limiter.acquire("ana", ADDRESS) is None
        first_again = limiter.acquire("ana", ADDRESS)
        assert first_again is not None and first_again <= 1  # a success forgot the earlier lockouts
    finally:
        wipe_namespace(client, keys)
        client.close()


def test_a_known_browser_counts_on_its_own(db: Database, limiter: LoginLimiter) -> None:
    create_account(db, "ana", Role.OPERATOR, PASSWORD, actor=ACTOR)
    for _ in range(3):
        assert isinstance(authenticate(db, limiter, "ana", "wrong", ADDRESS), LoginRefused)
    locked = authenticate(db, limiter, "ana", PASSWORD, ADDRESS)
    assert isinstance(locked, LoginRefused) and locked.reason is LoginFailure.RATE_LIMITED
    assert isinstance(authenticate(db, limiter, "ana", PASSWORD, ADDRESS, device="desk-1"), Account)
    for _ in range(3):
        assert isinstance(authenticate(db, limiter, "ana", "wrong", ADDRESS, device="stolen"), LoginRefused)
    stolen = authenticate(db, limiter, "ana", PASSWORD, ADDRESS, device="stolen")
    assert isinstance(stolen, LoginRefused) and stolen.reason is LoginFailure.RATE_LIMITED
