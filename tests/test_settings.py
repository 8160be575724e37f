"""Settings from IOC_* variables: defaults, URL checks, rejected values, and how the CLI reports them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import mask_url, settings_lines
from ioc.errors import SettingsError
from ioc.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test with no IOC_* variable from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("IOC_"):
            monkeypatch.delenv(name)


def cli_env(**values: str) -> dict[str, str]:
    """The environment for a CLI subprocess: the caller's, minus IOC_*, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(values)
    return env


def test_defaults() -> None:
    settings = load_settings()
    assert settings.redis_url is None
    assert settings.embedded
    assert settings.data_dir == Path("var")
    assert settings.namespace == "live"
    assert settings.language == "vi"
    assert settings.web_host == "127.0.0.1"
    assert settings.web_port == 8050
    assert settings.web_workers >= 1
    assert settings.consumer_name.startswith("aggregator-")


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:secret@redis.example:6380/2",
        "rediss://user:secret@redis.example:6380",
        "unix:///run/redis/redis.sock",
    ],
)
def test_redis_url_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("IOC_REDIS_URL", url)
    settings = load_settings()
    assert settings.redis_url == url
    assert not settings.embedded


def test_empty_redis_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_REDIS_URL", "")
    assert load_settings().embedded


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379", "redis://127.0.0.1:99999/0", "redis://127.0.0.1:port/0", "unix://", "redis:///0"],
)
def test_redis_url_rejected(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("IOC_REDIS_URL", url)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "IOC_REDIS_URL" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("IOC_WEB_PORT", "0"),
        ("IOC_WEB_PORT", "70000"),
        ("IOC_WEB_PORT", "eighty"),
        ("IOC_LANGUAGE", "fr"),
        ("IOC_NAMESPACE", "Live Data"),
        ("IOC_WEB_WORKERS", "0"),
    ],
)
def test_bad_values_rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert name in str(caught.value)
    assert repr(value) in str(caught.value)


def test_every_problem_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_WEB_PORT", "0")
    monkeypatch.setenv("IOC_LANGUAGE", "fr")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "IOC_WEB_PORT" in str(caught.value)
    assert "IOC_LANGUAGE" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:****@host:6379/0"),
        ("rediss://user:s3cret@host:6380", "rediss://user:****@host:6380"),
        ("redis://s3cret@host", "redis://****@host"),
        ("redis://127.0.0.1:6379/15", "redis://127.0.0.1:6379/15"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        (
            "https://tiles.example/{z}/{x}/{y}.png?api_key=s3cret&style=dark",
            "https://tiles.example/{z}/{x}/{y}.png?api_key=****&style=dark",
        ),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_settings_lines_mask_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0")
    text = "\n".join(settings_lines(load_settings()))
    assert "s3cret" not in text
    assert "IOC_REDIS_URL=redis://:****@127.0.0.1:6379/0" in text
    assert "IOC_WEB_PORT=8050" in text


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m cli ARGS` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_cli_settings_prints_effective_values(tmp_path: Path) -> None:
    result = run_cli(
        "settings", env=cli_env(IOC_DATA_DIR=str(tmp_path), IOC_REDIS_URL="redis://:hunter2@127.0.0.1:6379/3")
    )
    assert result.returncode == 0, result.stderr
    assert f"IOC_DATA_DIR={tmp_path}" in result.stdout
    assert "IOC_REDIS_URL=redis://:****@127.0.0.1:6379/3" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    assert not any(tmp_path.iterdir()), "`ioc settings` must not create anything"


@pytest.mark.parametrize(
    ("name", "value"),
    [("IOC_REDIS_URL", "http://127.0.0.1:6379"), ("IOC_WEB_PORT", "99999"), ("IOC_LOG_LEVEL", "chatty")],
)
def test_cli_bad_setting_exits_2_without_traceback(name: str, value: str) -> None:
    result = run_cli("settings", env=cli_env(**{name: value}))
    assert result.returncode == 2
    assert name in result.stderr
    assert "invalid settings" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
