"""Display tokens on real databases: the secret shown once and stored only as its SHA-256, revocation refused at
the next check, audit rows; and the session secret key kept in the data folder."""

from __future__ import annotations

import hashlib
import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from ioc import audit
from ioc.db import Database
from ioc.errors import AlreadyExists, InvalidInput, NotFound, SettingsError, StaleVersion
from ioc.identity.tables import DisplayTokenRow
from ioc.identity.tokens import (
    TOKEN_BYTES,
    create_display_token,
    display_url,
    list_display_tokens,
    revoke_display_token,
    verify_display_token,
)
from ioc.secret_key import SECRET_KEY_FILE, secret_key
from ioc.settings import Settings, load_settings

ACTOR = "test:admin"


def stored_rows(db: Database) -> list[dict[str, object]]:
    """Every column of every display token row, as stored."""
    with db.read() as session:
        return [dict(row._mapping) for row in session.execute(sa.select(DisplayTokenRow.__table__)).all()]


def test_secret_is_stored_only_as_its_hash(db: Database) -> None:
    token, secret = create_display_token(db, "lobby-wall", actor=ACTOR)
    assert len(secret) >= TOKEN_BYTES  # token_urlsafe(32): 43 characters
    (row,) = stored_rows(db)
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert not any(secret in str(value) for value in row.values())
    assert verify_display_token(db, secret) == token
    assert token.active and token.created_by == ACTOR and token.created_at.tzinfo is not None
    _, other = create_display_token(db, "ops-room", actor=ACTOR)
    assert other != secret


@pytest.mark.parametrize("guess", ["", "x", "A" * 43, "A" * 10_000])
def test_unknown_tokens_are_refused(db: Database, guess: str) -> None:
    create_display_token(db, "lobby-wall", actor=ACTOR)
    assert verify_display_token(db, guess) is None
    assert verify_display_token(db, None) is None


def test_revoked_token_is_refused(db: Database) -> None:
    _, secret = create_display_token(db, "lobby-wall", actor=ACTOR)
    revoked = revoke_display_token(db, "lobby-wall", actor="cli:root", address="192.0.2.9")
    assert not revoked.active and revoked.revoked_at is not None
    assert verify_display_token(db, secret) is None
    with pytest.raises(NotFound, match="lobby-wall"):
        revoke_display_token(db, "lobby-wall", actor=ACTOR)
    _, fresh = create_display_token(db, "lobby-wall", actor=ACTOR)  # the name is free again
    assert verify_display_token(db, fresh) is not None
    assert verify_display_token(db, secret) is None
    listed = list_display_tokens(db)
    assert [(t.name, t.active) for t in listed] == [("lobby-wall", True), ("lobby-wall", False)]
    assert [t.name for t in list_display_tokens(db, include_revoked=False)] == ["lobby-wall"]


def test_revoke_checks_the_token_the_caller_saw(db: Database) -> None:
    first, _ = create_display_token(db, "lobby", actor=ACTOR)
    revoke_display_token(db, "lobby", actor=ACTOR)
    second, _ = create_display_token(db, "lobby", actor=ACTOR)
    with pytest.raises(StaleVersion, match="lobby"):
        revoke_display_token(db, "lobby", actor=ACTOR, expected_id=first.id)
    assert revoke_display_token(db, "lobby", actor=ACTOR, expected_id=second.id).id == second.id


def test_active_names_are_unique(db: Database) -> None:
    create_display_token(db, "lobby-wall", actor=ACTOR)
    with pytest.raises(AlreadyExists, match="revoke it first"):
        create_display_token(db, "lobby-wall", actor=ACTOR)
    assert len(stored_rows(db)) == 1


@pytest.mark.parametrize("name", ["", "-wall", "lobby wall", "x" * 65, "sảnh"])
def test_token_name_rule(db: Database, name: str) -> None:
    with pytest.raises(InvalidInput, match="display token name"):
        create_display_token(db, name, actor=ACTOR)


def test_create_and_revoke_are_audited_without_the_secret(db: Database) -> None:
    token, secret = create_display_token(db, "lobby-wall", actor=ACTOR, address="192.0.2.1")
    revoke_display_token(db, "lobby-wall", actor="cli:root")
    entries = audit.entries(db, object_type="display_token")
    assert [(e.action, e.actor, e.object_id) for e in entries] == [
        ("display_token.revoke", "cli:root", str(token.id)),
        ("display_token.create", ACTOR, str(token.id)),
    ]
    assert entries[0].before == token.public() and (entries[0].after or {})["revoked_at"] is not None
    assert entries[1].address == "192.0.2.1"
    assert secret not in repr(entries) and hashlib.sha256(secret.encode()).hexdigest() not in repr(entries)


def test_display_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IOC_PUBLIC_URL", "IOC_WEB_HOST", "IOC_WEB_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert display_url(load_settings(), "abc-_1") == "http://127.0.0.1:8050/display?token=abc-_1"
    monkeypatch.setenv("IOC_PUBLIC_URL", "https://ioc.tamky.example/")
    assert display_url(load_settings(), "abc") == "https://ioc.tamky.example/display?token=abc"
    monkeypatch.setenv("IOC_PUBLIC_URL", "ftp://ioc.example")
    with pytest.raises(SettingsError, match="IOC_PUBLIC_URL"):
        load_settings()


# --- the session secret key ----------------------------------------------------------------------------------------


def test_secret_key_generated_once_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    key = secret_key(settings)
    path = tmp_path / "data" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 32
    assert secret_key(settings) == key
    assert secret_key(Settings(data_dir=tmp_path / "other")) != key


def test_secret_key_same_for_workers_starting_together(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    keys: list[bytes] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait(10)
        keys.append(secret_key(settings))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(keys) == 8 and len(set(keys)) == 1
    assert [p.name for p in (tmp_path / "data").iterdir()] == [SECRET_KEY_FILE]  # no drafts left behind


def test_secret_key_from_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IOC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("IOC_SECRET_KEY", "k" * 40)
    assert secret_key(load_settings()) == b"k" * 40
    assert not (tmp_path / SECRET_KEY_FILE).exists()
    monkeypatch.setenv("IOC_SECRET_KEY", "too-short-key")
    with pytest.raises(SettingsError, match="IOC_SECRET_KEY") as caught:
        load_settings()
    assert "too-short-key" not in str(caught.value)


def test_secret_key_loose_file_mode_tightened(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = secret_key(settings)
    (tmp_path / SECRET_KEY_FILE).chmod(0o644)
    assert secret_key(settings) == key
    assert stat.S_IMODE((tmp_path / SECRET_KEY_FILE).stat().st_mode) == 0o600


def test_web_settings_defaults_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IOC_SESSION_IDLE_MINUTES", "IOC_COOKIE_SECURE", "IOC_LOGIN_MAX_FAILURES", "IOC_LOGIN_WINDOW_S"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert (settings.session_idle_minutes, settings.cookie_secure) == (720, False)
    assert (settings.login_max_failures, settings.login_window_s) == (5, 300)
    monkeypatch.setenv("IOC_COOKIE_SECURE", "true")
    assert load_settings().cookie_secure
    for name, bad in (("IOC_SESSION_IDLE_MINUTES", "0"), ("IOC_LOGIN_MAX_FAILURES", "0"), ("IOC_LOGIN_WINDOW_S", "x")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=name):
            load_settings()
        monkeypatch.delenv(name)
