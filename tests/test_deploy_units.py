"""The shipped deployment files agree with the code: a systemd unit for each long-running Procfile process running
the same command, and a settings file naming only settings that exist."""

from __future__ import annotations

import configparser
from pathlib import Path

from ioc.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"


def procfile() -> dict[str, str]:
    """Procfile lines: name -> command."""
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {name.strip(): command.strip() for name, _, command in (line.partition(":") for line in lines if line)}


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string((UNITS / name).read_text())
    return parser


def test_each_long_running_process_has_a_unit_running_its_command() -> None:
    for name, command in procfile().items():
        if name == "simulator":
            continue  # a demonstration's; real sensors replace it
        service = unit(f"ioc-{name}.service")
        assert service["Service"]["ExecStart"].endswith(command), (name, command)
        assert service["Service"]["Restart"] == "always" and service["Service"]["EnvironmentFile"] == "/etc/ioc/ioc.env"
    backup = unit("ioc-backup.service")["Service"]["ExecStart"]
    assert "ioc db backup" in backup and "%%Y" in backup  # systemd's % escaped for the shell's date
    assert unit("ioc-backup.timer")["Timer"]["OnCalendar"]


def test_the_settings_file_names_only_real_settings() -> None:
    names = {f"IOC_{field.upper()}" for field in Settings.model_fields} | {"IOC_LOG_LEVEL"}
    lines = [line for line in (UNITS / "ioc.env").read_text().splitlines() if line and not line.startswith("#")]
    given = {line.partition("=")[0] for line in lines}
    assert given <= names, sorted(given - names)
    assert {"IOC_REDIS_URL", "IOC_DATABASE_URL", "IOC_SECRET_KEY", "IOC_TRUSTED_PROXIES"} <= given
