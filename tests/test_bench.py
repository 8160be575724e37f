"""`python -m benchmarks` runs end to end on a small load and prints its figures, the last line being one JSON
object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import cluster
from benchmarks.screens import CHROMIUM


def test_bench_prints_figures_and_json_last_line(tmp_path: Path, repo_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env["IOC_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--json",
            "--events",
            "3000",
            "--rounds",
            "1",
            "--ticks",
            "4",
            "--alerts",
            "400",
            "--incidents",
            "300",
            "--managers-rounds",
            "1",
            "--cluster-events",
            "1000",
            "--cluster-rounds",
            "1",
            "--history-events-per-day",
            "200",
            "--replay-hours",
            "0.5",
            "--screens",
            "3",
            "--poll-rounds",
            "2",
            "--big-city-sensors",
            "300",
            "--big-city-screens",
            "3",
            "--big-city-rounds",
            "2",
            "--exercise-minutes",
            "0.5",
            "--exercise-rounds",
            "1",
            "--screen-events",
            "0",
            "--light-screens",
            "0",
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
    assert figures["events"] == 3000
    assert figures["aggregator_events_per_s"] > 0 and figures["raw_drain_events_per_s"] > 0
    assert figures["ratio"] == figures["ratio_per_round"][0] > 0  # one round: its own ratio
    assert 0 < figures["tick_steady_bytes"] <= figures["tick_steady_max_bytes"]
    assert figures["tick_first_bytes"] > 0 and figures["tick_count"] == 3
    assert figures["incident_alerts"] == 400 and figures["incident_engine_sqlite_alerts_per_s"] > 0
    assert figures["incident_engine_sqlite_incidents"] == 8  # the storm's eight stations, nothing twice
    assert figures["polls_screens"] == 3 and len(figures["polls_before_per_round"]) == 2
    assert figures["polls_before_per_s"] > 0 and figures["polls_after_per_s"] > 0
    text = "\n".join(lines[:-1])
    assert "aggregator:" in text and "raw XREADGROUP+XACK:" in text and "wall tick, steady:" in text
    assert "incident engine, sqlite:" in text and "wall polls, 3 screens: before" in text
    if cluster.available():  # one and two aggregators on a local cluster, every event counted
        assert figures["cluster_events"] == 1000 and figures["cluster_one_aggregator_events_per_s"] > 0
        assert figures["cluster_two_aggregators_events_per_s"] > 0 and "two aggregators:" in text
    assert all(figures["retention_checks"].values()), figures["retention_checks"]  # nothing that must stay is gone
    trimmed = figures["retention_trimmed"]
    assert trimmed["events"] > 0 and trimmed["alerts"] > 0 and trimmed["deadletter"] > 0
    assert figures["retention_sql_rows_pruned"] > 0 and "kept what must stay:  yes" in text
    assert figures["retention_redis_bytes_after"]["events"] < figures["retention_redis_bytes_before"]["events"]
    assert figures["city_sensors"] == 300 and figures["city_update_rounds"] == 2
    assert 0 < figures["city_update_map_bytes"] < figures["city_first_tick_map_bytes"]  # a change, not the whole map
    assert 0 < figures["city_geometry_gzip_bytes"] < figures["city_geometry_bytes"]
    assert figures["city_screens"] == 3 and 0 < figures["city_delivery_p50_ms"] <= figures["city_delivery_p95_ms"]
    if "city_first_render_s" in figures:  # Chromium is here
        assert 0 < figures["city_first_render_loaded_s"] <= figures["city_first_render_s"]
    assert "big city, per update:" in text
    # an exercise at x60 beside live: 60 times the simulated minutes, every event handled, its share measured
    assert figures["exercise_events"] > 30 * figures["exercise_live_events"] > 0
    assert 0.9 < figures["exercise_event_share"] < 1 and figures["exercise_cost_ratio"] > 0
    assert figures["exercise_both_s"] > 0 and "exercise's share:" in text
    assert figures["replay_events"] > 0 and all(figures["replay_checks"].values()), figures["replay_checks"]
    assert figures["replay_namespace_bytes"] > 0 and "replay of history:" in text
    assert not list(tmp_path.iterdir()), "the benchmark must not touch the data folder (it uses its own Redis)"


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium")
def test_bench_screens_on_one_ioc_run_print_figures_and_json(tmp_path: Path, repo_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env["IOC_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--json",
            "--screens-only",
            "--screen-events",
            "4",
            "--light-screens",
            "6",
            "--light-changes",
            "2",
            "--light-change-every-s",
            "1.5",
            "--light-threads",
            "3",
        ],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["screen_event_samples"] == 4
    assert figures["screen_event_seen"] + figures["screen_event_lost"] == 4 and figures["screen_event_seen"] >= 1
    assert 0 < figures["screen_event_p50_ms"] <= figures["screen_event_p95_ms"] <= figures["screen_event_max_ms"]
    assert figures["light_screens"] == 6 and figures["light_streams_refused"] == 0
    for kind in ("push", "naive"):  # every screen received both changes, without an error
        assert figures[f"light_{kind}_deliveries"] == 12 and figures[f"light_{kind}_missed"] == 0, kind
        assert figures[f"light_{kind}_tick_errors"] == 0 and figures[f"light_{kind}_p95_ms"] > 0, kind
    assert figures["light_server_mb_per_screen"] is not None
    text = "\n".join(lines[:-1])
    assert "event to screen (Chromium, push, simulator x60): p50" in text
    assert "light screens on one ioc run: 6 screens" in text and "naive, whole wall per poll" in text
    assert not list(tmp_path.iterdir()), "the benchmark must not touch the data folder"
