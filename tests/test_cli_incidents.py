"""`ioc incidents list` and `ioc incidents export` as an operator runs them: real subprocesses on real databases
(SQLite file; PostgreSQL when IOC_TEST_DATABASE_URL is set), on incidents made with known times."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from ioc import audit
from ioc.city import City
from ioc.db import Database
from tests.test_cli_users import clean_env, ok, refused
from tests.test_reports import TZ, Made, local, make

ROOT = Path(__file__).resolve().parent.parent


def ioc(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python -m cli ARGS` in `cwd` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def env(db_env: dict[str, str]) -> dict[str, str]:
    """The environment of a CLI subprocess on the database under test."""
    return clean_env(db_env) | {"PYTHONPATH": str(ROOT)}


@pytest.fixture
def made(db: Database, city: City) -> list[int]:
    """Three incidents: one closed on 10 March 2026, one acknowledged on 12 March, one new on 1 February."""
    sensor = next(iter(city.sensors))
    return make(
        db,
        city,
        [
            Made("flood", sensor, "critical", local(10, 8, 15), 2, 30, status="closed"),
            Made("congestion", sensor, "warning", local(12, 23, 30), 10, status="acknowledged"),
            Made("fire", sensor, "info", local(1, 9, 0, month=2)),
        ],
    )


def test_list_as_json_and_as_a_table(env: dict[str, str], made: list[int], city: City) -> None:
    listed = json.loads(ok(ioc("incidents", "list", "--json", env=env)))
    assert [i["id"] for i in listed] == made[::-1]  # newest first
    first = listed[-1]
    sensor = next(iter(city.sensors.values()))
    assert (first["type"], first["place"], first["place_name"], first["severity"], first["status"]) == (
        "flood",
        sensor.id,
        sensor.name,
        "critical",
        "closed",
    )
    assert first["opened_at"] == "2026-03-10T01:15:00+00:00"  # 08:15 in Tam Kỳ, written as UTC
    assert first["acknowledged_at"] == "2026-03-10T01:17:00+00:00"
    assert first["resolved_at"] == "2026-03-10T01:45:00+00:00"
    assert listed[0]["acknowledged_at"] is None and listed[0]["closed_at"] is None
    only = json.loads(ok(ioc("incidents", "list", "--status", "acknowledged", "--json", env=env)))
    assert [i["id"] for i in only] == [made[1]]
    table = ok(ioc("incidents", "list", env=env)).splitlines()
    assert table[0].split()[:5] == ["ID", "TYPE", "SEVERITY", "STATUS", "OPENED"] and len(table) == 4
    assert table[1].split()[:4] == [str(made[2]), "fire", "info", "new"]
    assert "no incidents in status dispatched" in ok(ioc("incidents", "list", "--status", "dispatched", env=env))


def test_export_writes_a_file_in_the_current_folder(
    env: dict[str, str], made: list[int], tmp_path: Path, db: Database
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    name = first = ok(
        ioc("incidents", "export", "--format", "csv", "--since", "2026-03-01", env=env, cwd=folder)
    ).strip()
    assert name.startswith("incidents-") and name.endswith(".zip") and (folder / name).is_file()
    with zipfile.ZipFile(folder / name) as archive:
        incidents = pd.read_csv(io.BytesIO(archive.read("incidents.csv")), encoding="utf-8-sig")
        audit_rows = pd.read_csv(io.BytesIO(archive.read("audit.csv")), encoding="utf-8-sig")
    assert sorted(incidents["id"]) == sorted(made[:2])  # February's left out
    assert incidents.set_index("id").loc[made[0], f"opened_at ({TZ})"] == "2026-03-10 08:15:00"
    assert sorted(audit_rows["incident_id"]) == sorted([made[0], made[0], made[1], made[1]])

    name = ok(ioc("incidents", "export", "--format", "xlsx", env=env, cwd=folder)).strip()
    sheets = pd.read_excel(folder / name, sheet_name=None)
    assert name.endswith(".xlsx") and sorted(sheets["incidents"]["id"]) == sorted(made)
    assert len(sheets["audit"]) == 5
    exports = audit.entries(db, action="report.export")  # newest first
    assert [e.object_id for e in exports][::-1] == [first, name] and all(e.actor.startswith("cli:") for e in exports)
    assert exports[1].after is not None  # the first export: since 1 March, city time
    assert exports[1].after["filters"] == {"since": "2026-02-28T17:00:00+00:00"}


def test_bad_input_exits_2_and_an_unreachable_database_1(env: dict[str, str], tmp_path: Path) -> None:
    refused(ioc("incidents", "list", "--status", "lost", env=env), 2, "unknown status 'lost'")
    refused(ioc("incidents", "export", "--format", "pdf", env=env, cwd=tmp_path), 2, "invalid choice")
    refused(
        ioc("incidents", "export", "--format", "csv", "--since", "yesterday", env=env, cwd=tmp_path), 2, "not a date"
    )
    refused(ioc("incidents", env=env), 2, "required")
    down = env | {"IOC_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    refused(ioc("incidents", "list", env=down), 1, "cannot reach the database")
    assert not list(tmp_path.iterdir())  # nothing written
