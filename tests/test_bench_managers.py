"""`python -m benchmarks --managers` runs end to end on a tiny year of incidents, on the embedded SQLite and on the
PostgreSQL at IOC_TEST_DATABASE_URL (in a schema of its own, dropped afterwards), and prints its figures, the last
line being one JSON object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy

from ioc.db import sqlalchemy_url
from tests.conftest import DATABASES


def schemas(url: str) -> set[str]:
    """The benchmark's schemas in that PostgreSQL (other tests' come and go meanwhile)."""
    engine = sqlalchemy.create_engine(sqlalchemy_url(url), poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as connection:
        found = {
            row[0]
            for row in connection.exec_driver_sql("SELECT nspname FROM pg_namespace")
            if row[0].startswith("bench_")
        }
    engine.dispose()
    return found


@pytest.mark.parametrize("database", DATABASES)
def test_managers_bench_prints_figures_and_json_last_line(database: str, tmp_path: Path, repo_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env["IOC_DATA_DIR"] = str(tmp_path)
    extra: list[str] = []
    url = os.environ.get("IOC_TEST_DATABASE_URL")
    if database == "postgresql":
        if not url:
            pytest.skip("IOC_TEST_DATABASE_URL not set: PostgreSQL variant skipped")
        extra = ["--database-url", url]
        before = schemas(url)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--managers",
            "--json",
            "--incidents",
            "400",
            "--managers-rounds",
            "1",
            *extra,
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["managers_incidents"] == 400 and figures["managers_audit_rows"] >= 400
    assert figures["managers_report_365d_incidents"] == 400  # the year generated falls in the default period
    assert 0 < figures["managers_report_30d_incidents"] < 400
    for name in (
        "report_365d_ms",
        "report_30d_ms",
        "read_365d_ms",
        "http_365d_ms",
        "http_30d_ms",
        "export_30d_csv_ms",
        "export_30d_xlsx_ms",
    ):
        assert figures[f"managers_{name}"] > 0, name
    assert figures["managers_http_365d_bytes"] > figures["managers_http_30d_bytes"] > 0
    assert ("PostgreSQL" if database == "postgresql" else "SQLite") in figures["managers_database"]
    text = "\n".join(lines[:-1])
    assert "managers' report 365 d:" in text and "managers' page HTTP:" in text
    assert "aggregator:" not in text  # --managers runs only this benchmark
    assert not list(tmp_path.iterdir()), "the benchmark must not touch the data folder"
    if database == "postgresql":
        assert url is not None and schemas(url) == before  # its schema dropped
