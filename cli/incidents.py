"""The `ioc incidents` commands: `list` the incidents (a table, or JSON with --json) and `export` them with their
audit rows as CSV (a .zip of two files) or Excel into the current folder (ioc/incidents/reports.py).

Kept apart from cli/main.py so that module only wires them in (`register`); the database is opened as the account
commands open it (checked, at the newest migration; the embedded one migrated on the spot). Bad input exits 2, a
database that does not answer or is not migrated exits 1.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cli.accounts import open_migrated
from ioc.errors import InvalidInput
from ioc.incidents.model import STATUSES, Incident
from ioc.settings import load_settings

AddCommand = Callable[..., argparse.ArgumentParser]
TIMES = ("detected_at", "opened_at", "acknowledged_at", "dispatched_at", "resolved_at", "closed_at")


def incident_json(incident: Incident) -> dict[str, Any]:
    """What `ioc incidents list --json` prints of an incident: who, where, how bad, where it stands, and its times
    (ISO 8601 UTC, null when it has not happened)."""
    out: dict[str, Any] = {
        "id": incident.id,
        "type": incident.type,
        "place": incident.place,
        "place_kind": incident.place_kind,
        "place_name": incident.place_name,
        "ward": incident.ward,
        "severity": incident.severity,
        "status": str(incident.status),
        "ack_overdue": incident.ack_overdue,
        "resolve_overdue": incident.resolve_overdue,
        "exercise_id": incident.exercise_id,
    }
    for name in TIMES:
        value: datetime | None = getattr(incident, name)
        out[name] = value.isoformat() if value is not None else None
    return out


def _status(text: str) -> str:
    """A status name (argparse type; a wrong one exits 2)."""
    value = text.strip().lower()
    if value not in STATUSES:
        raise argparse.ArgumentTypeError(f"unknown status {text!r}; statuses: {', '.join(STATUSES)}")
    return value


def cmd_incidents_list(args: argparse.Namespace) -> int:
    """List the live city's incidents (or one exercise's), newest first (all, or those in one status)."""
    from ioc.incidents.queries import Filters, list_incidents

    db = open_migrated(load_settings())
    try:
        if args.exercise is not None:
            from ioc.exercises.records import get_exercise

            get_exercise(db, args.exercise)  # an unknown exercise is said, not listed as empty
        filters = Filters(statuses=(args.status,) if args.status else (), exercise=args.exercise)
        incidents = list_incidents(db, filters, limit=None)
    finally:
        db.close()
    if args.json:
        print(json.dumps([incident_json(i) for i in incidents], ensure_ascii=False, indent=2))
        return 0
    if not incidents:
        print("no incidents" + (f" in status {args.status}" if args.status else ""))
        return 0
    rows = [("ID", "TYPE", "SEVERITY", "STATUS", "OPENED (UTC)", "PLACE")]
    rows += [
        (
            str(i.id),
            i.type,
            i.severity,
            str(i.status),
            i.opened_at.isoformat(timespec="seconds"),
            f"{i.place_name} ({i.place})" if i.place_name != i.place else i.place,
        )
        for i in incidents
    ]
    _print_table(rows)
    return 0


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows as left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def parse_since(text: str, tz: str) -> datetime:
    """--since: a date (from the start of that day in the city) or an ISO date-time (no offset: the city's time)."""
    from zoneinfo import ZoneInfo

    from ioc.incidents.reports import local_midnight

    try:
        if len(text.strip()) == 10:
            return local_midnight(date.fromisoformat(text.strip()), tz)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"--since: not a date (YYYY-MM-DD) or ISO date-time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(tz))


def cmd_incidents_export(args: argparse.Namespace) -> int:
    """Write the incidents (all, or opened since --since) and their audit rows into the current folder."""
    from cli.accounts import cli_actor
    from ioc.city import cached_city
    from ioc.incidents.queries import Filters
    from ioc.incidents.reports import export_file, record_export

    settings = load_settings()
    tz = cached_city(settings.city_dir).timezone
    since = parse_since(args.since, tz) if args.since else None
    db = open_migrated(settings)
    try:
        path = export_file(
            db, Filters(since=since), args.format, Path.cwd(), tz=tz, lang=args.lang or settings.language
        )
        record_export(db, actor=cli_actor(), name=path.name, filters=Filters(since=since), size=path.stat().st_size)
    finally:
        db.close()
    print(path.name)
    return 0


def register(add: AddCommand) -> None:
    """Add the incidents command to the `ioc` parser (`add` is its subcommand helper)."""
    parser = add("incidents", _missing, "incidents: list them, export them with their audit log")
    subs = parser.add_subparsers(dest="incidents_command", required=True, metavar="ACTION")

    def action(
        name: str,
        handler: Callable[[argparse.Namespace], int],
        text: str,
        options: Sequence[tuple[Sequence[str], dict[str, Any]]],
    ) -> None:
        command = subs.add_parser(name, help=text, description=text)
        command.set_defaults(handler=handler)
        for flags, kwargs in options:
            command.add_argument(*flags, **kwargs)

    action(
        "list",
        cmd_incidents_list,
        "list the incidents, newest first",
        [
            (("--status",), {"type": _status, "metavar": "S", "help": f"only this status ({', '.join(STATUSES)})"}),
            (
                ("--exercise",),
                {"type": int, "metavar": "ID", "help": "a training exercise's incidents (default: the live city's)"},
            ),
            (("--json",), {"action": "store_true", "help": "print as JSON (times ISO 8601 UTC)"}),
        ],
    )
    action(
        "export",
        cmd_incidents_export,
        "write the incidents and their audit rows into the current folder",
        [
            (
                ("--format",),
                {
                    "choices": ("csv", "xlsx"),
                    "required": True,
                    "help": "csv: a .zip of incidents.csv and audit.csv; xlsx: one file, two sheets",
                },
            ),
            (
                ("--since",),
                {"metavar": "DATE", "help": "only incidents opened since this day (city time) or date-time"},
            ),
            (
                ("--lang",),
                {
                    "choices": ("vi", "en"),
                    "help": "the language of types, statuses, severities, units and actions (default IOC_LANGUAGE)",
                },
            ),
        ],
    )


def _missing(args: argparse.Namespace) -> int:
    """Never called: argparse requires an action after the command."""
    raise InvalidInput("an action is required")
