"""`ioc status [--json]`: how the namespace's processes and data are doing, for people and for monitoring (the exit
status is 1 when something is wrong: a heartbeat missing or old, a consumer behind, the database unreachable or
not migrated)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ioc.db import open_database
from ioc.errors import DatabaseError
from ioc.health import status_report
from ioc.keys import Keys
from ioc.settings import load_settings
from ioc.store import connect


def _when(epoch: float | None) -> str:
    """An entry time for people (UTC, to the second), or a dash."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S") if epoch is not None else "-"


def _span(seconds: float) -> str:
    """A retained span for people: 3 h 20 min, 12 min, 40 s."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min"
    return f"{seconds:.0f} s"


def _age(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f} s ago"


def status_lines(report: dict[str, Any]) -> list[str]:
    """The report as a few aligned lines."""
    lines = [f"namespace {report['namespace']}: {'ok' if report['ok'] else 'PROBLEMS'}"]
    lines += [f"  ! {problem}" for problem in report["problems"]]
    database = report["database"]
    if database.get("reachable"):
        lines.append(f"database   {database['where']}, revision {database['revision']} (code {database['head']})")
    else:
        lines.append(f"database   unreachable {database.get('where', '')}".rstrip())
    aggregator = report["aggregator"]
    lines.append(
        f"aggregator {aggregator['consumer'] or '-'}: heartbeat {_age(aggregator['heartbeat_age_s'])}, "
        f"last event {_age(aggregator['last_event_age_s'])}"
    )
    engines = report["incident_engines"] or {"-": {"heartbeat_age_s": None}}
    for name, engine in engines.items():
        lines.append(f"incidents  {name}: heartbeat {_age(engine['heartbeat_age_s'])}")
    header = ("domain", "length", "retained", "memory", "pending", "waiting", "processed", "dead", "alerts", "inc.left")
    rows = [header]
    for domain, figures in report["domains"].items():
        rows.append(
            (
                domain,
                str(figures["length"]),
                _span(figures["retained_s"]),
                f"{figures['memory_bytes'] / 1_048_576:.1f} MiB",
                str(figures["pending"] if figures["pending"] is not None else "-"),
                str(figures["undelivered"] if figures["undelivered"] is not None else "-"),
                str(figures["processed"]),
                str(figures["deadletters"]),
                str(figures["alerts"]),
                str(figures["incidents_backlog"] if figures["incidents_backlog"] is not None else "-"),
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        lines.append(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
    for domain, figures in report["domains"].items():
        if figures["length"]:
            lines.append(f"{domain} history: {_when(figures['oldest'])} to {_when(figures['newest'])} UTC")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    """Print the namespace's status; exit 1 when something is wrong."""
    settings = load_settings()
    client = connect(settings)
    try:
        try:
            database = open_database(settings, check=False)
        except DatabaseError:
            database = None
        try:
            report = status_report(
                client,
                database,
                Keys(settings.namespace),
                heartbeat_max_age_s=settings.stale_after_s,
                max_backlog=settings.ready_max_backlog,
            )
        finally:
            if database is not None:
                database.close()
    finally:
        client.close()
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print("\n".join(status_lines(report)))
    return 0 if report["ok"] else 1


def register(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Add `ioc status` to the command line."""
    status = add(
        "status", cmd_status, "show the namespace's streams, consumers, heartbeats and database; exit 1 on trouble"
    )
    status.add_argument("--json", action="store_true", help="print as JSON")
