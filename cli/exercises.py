"""The `ioc exercises` commands: `list` the training exercises, `start` one (a scenario played into a namespace of its
own by `ioc exercise-runner`), `pause`, `resume`, `stop` (its ratings kept) and `reset` it; `--json` on each prints
the exercise (a list for `list`). `messages` prints the messages its MSEL sent the trainees, `report` its timeline and
its objectives' ratings (ioc/exercises/scoring.py). The records and namespaces are `ioc/exercises/records.py`'s;
this module only reads the command line.

Bad input (an unknown scenario or trainee, a speed outside 0 to 3600, a name that breaks the input rule) exits 2; an
unknown exercise or a change its status does not allow exits 1.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

from ioc.errors import InvalidInput
from ioc.settings import Settings, load_settings

AddCommand = Callable[..., argparse.ArgumentParser]


def _speed(text: str) -> float:
    """A speed above 0 and at most MAX_SPEED (argparse type)."""
    from ioc.exercises.records import MAX_SPEED

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_SPEED:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be above 0 and at most {MAX_SPEED:g}: {text!r}")
    return value


def _id(text: str) -> int:
    """An exercise id (argparse type)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an exercise id: {text!r}") from None


def _open(settings: Settings) -> Any:
    from cli.accounts import open_migrated

    return open_migrated(settings)


def _redis(settings: Settings) -> Any:
    from cli.main import resolve_redis
    from ioc.store import connect

    return connect(resolve_redis(settings))


def _show(exercises: Sequence[Any], base: str, as_json: bool, *, single: bool) -> None:
    """Print exercises as JSON (one object when `single`) or a table."""
    if as_json:
        data = [e.as_json(base) for e in exercises]
        print(json.dumps(data[0] if single else data, ensure_ascii=False, indent=2))
        return
    if not exercises:
        print("no exercises")
        return
    rows = [("ID", "STATUS", "SCENARIO", "SPEED", "SEED", "POSITION (UTC)", "NAMESPACE", "NAME")]
    for e in exercises:
        shown = e.as_json(base)
        rows.append(
            (
                str(e.id),
                e.status + (" (finished)" if e.finished else ""),
                e.scenario,
                f"x{e.speed:g}",
                str(e.seed),
                (shown["position"] or "-")[:19],
                shown["namespace"],
                e.name,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def cmd_list(args: argparse.Namespace) -> int:
    """List the exercises, newest first."""
    from ioc.exercises.records import list_exercises

    settings = load_settings()
    db = _open(settings)
    try:
        exercises = list_exercises(db)
    finally:
        db.close()
    _show(exercises, settings.namespace, args.json, single=False)
    return 0


def trainee_ids(db: Any, names: Sequence[str]) -> tuple[int, ...]:
    """The account ids of the trainees named: accounts that handle incidents (operators, managers); InvalidInput
    naming the first unknown, disabled or other one."""
    from ioc.identity.accounts import find_account
    from ioc.identity.roles import Permission, may

    ids: list[int] = []
    for name in names:
        account = find_account(db, name)
        if account is None or account.disabled:
            raise InvalidInput(f"--trainee: no enabled account named {name[:64]!r}")
        if not may(account.role, Permission.HANDLE_INCIDENTS):
            raise InvalidInput(f"--trainee: {account.username} is a {account.role}, who handles no incidents")
        if account.id not in ids:
            ids.append(account.id)
    return tuple(ids)


def cmd_start(args: argparse.Namespace) -> int:
    """Start an exercise: a new one, running at once."""
    from cli.accounts import cli_actor
    from ioc.city import cached_city
    from ioc.exercises.records import check_spec, start_exercise
    from simulators import load_scenario

    settings = load_settings()
    spec_values: dict[str, Any] = {
        "name": args.name if args.name is not None else args.scenario,
        "scenario": args.scenario,
        "seed": args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000),
        "speed": args.speed,
    }
    check_spec(**spec_values)  # the scenario's name is checked before it is looked up as a file
    load_scenario(args.scenario, city=cached_city(settings.city_dir))  # unknown or malformed: exit 2
    db = _open(settings)
    client = _redis(settings)
    try:
        spec = check_spec(**spec_values, trainees=trainee_ids(db, args.trainee or ()))
        exercise = start_exercise(db, client, spec, actor=cli_actor(), base=settings.namespace)
    finally:
        client.close()
        db.close()
    _show([exercise], settings.namespace, args.json, single=True)
    return 0


def _change(args: argparse.Namespace, command: str) -> int:
    from cli.accounts import cli_actor
    from ioc.exercises.records import change_status, reset_exercise

    settings = load_settings()
    db = _open(settings)
    client = _redis(settings)
    try:
        if command == "reset":
            exercise = reset_exercise(db, client, args.id, actor=cli_actor(), base=settings.namespace)
        else:
            exercise = change_status(db, client, args.id, command, actor=cli_actor(), base=settings.namespace)  # type: ignore[arg-type]
        if command == "stop":
            _keep_results(db, exercise)
    finally:
        client.close()
        db.close()
    _show([exercise], settings.namespace, args.json, single=True)
    return 0


def _msel(scenario: str) -> Any:
    """The MSEL of a scenario (None: it has none)."""
    from ioc.city import cached_city
    from simulators import load_scenario

    return load_scenario(scenario, city=cached_city(load_settings().city_dir)).msel


def _keep_results(db: Any, exercise: Any) -> None:
    """Keep a stopped exercise's ratings where its clock got to (the runner, if it plays it, writes them again when
    it lets go, as of the position it reached)."""
    from cli.accounts import cli_actor
    from ioc.exercises.injects import clock_time, keep_results

    msel = _msel(exercise.scenario)
    if msel is not None and exercise.position is not None:
        keep_results(db, exercise.id, msel, clock_time(exercise.position), actor=cli_actor())


def cmd_messages(args: argparse.Namespace) -> int:
    """Print the messages an exercise sent its trainees (contingencies too), in the order of its clock."""
    from ioc.exercises.injects import sent_injects
    from ioc.exercises.records import get_exercise

    settings = load_settings()
    db = _open(settings)
    try:
        get_exercise(db, args.id)
        messages = sent_injects(db, args.id, messages_only=True)
    finally:
        db.close()
    if args.json:
        print(json.dumps([m.as_json() for m in messages], ensure_ascii=False, indent=2))
        return 0
    if not messages:
        print("no messages")
    for m in messages:
        print(f"{m.sent_at.isoformat()[:19]}  [{m.kind} {m.inject}]  {m.sender} → {m.recipient}")
        print(f"    {m.text_vi}")
        print(f"    {m.text_en}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Print an exercise's after-action report (timeline, responses, each objective's rating, the exercises of its
    scenario compared), scored from its scenario's MSEL; with --export FILE also write it as .xlsx or .pdf."""
    from ioc.city import cached_city
    from ioc.exercises.exports import check_format, export_bytes
    from ioc.exercises.records import get_exercise
    from ioc.exercises.report import after_action_report, rating_word
    from ioc.i18n import normalize_lang
    from ioc.identity.accounts import list_accounts

    settings = load_settings()
    fmt = check_format(args.export.rsplit(".", 1)[-1].lower()) if args.export else None
    db = _open(settings)
    try:
        msel = _msel(get_exercise(db, args.id).scenario)
        names = {a.id: a.username for a in list_accounts(db)}
        report = after_action_report(db, args.id, msel=msel, names=names)
    finally:
        db.close()
    if fmt is not None:
        lang = normalize_lang(args.lang, settings.language)
        _, content = export_bytes(report, fmt, lang=lang, tz=cached_city(settings.city_dir).timezone)
        try:
            with open(args.export, "xb") as handle:  # never over an existing file
                handle.write(content)
        except FileExistsError:
            raise InvalidInput(f"{args.export} exists: not overwritten") from None
    if args.json:
        print(json.dumps(report.as_json(settings.namespace), ensure_ascii=False, indent=2))
        return 0
    exercise = report.exercise
    clock = "—" if report.clock_end is None else report.clock_end.isoformat()[:19]
    print(f"exercise {exercise.id} ({exercise.name}): {exercise.scenario}, {exercise.status}, clock at {clock}")
    print(f"trainees: {', '.join(report.trainees) or '—'}; speed ×{exercise.speed:g}")
    print("timeline (exercise clock, UTC):")
    for event in report.events:
        print(f"  {event.at.isoformat()[:19]}  {event.kind:<8}  {event.text('en')}")
    if msel is None:
        print("its scenario has no MSEL: nothing to rate")
        return 0
    print("objectives:")
    for objective in report.objectives:
        rating = (
            "not rated yet"
            if objective.rating is None
            else f"{objective.rating} ({rating_word(objective.rating, 'en')})"
        )
        print(f"  {objective.objective}: {rating} — {objective.name_en} / {objective.name_vi}")
        for response in objective.responses:
            took = "" if response.took_s is None else f", took {response.took_s:.0f} s"
            print(f"    {response.status:<8} {response.inject}: {response.expected.describe()}{took}")
    if report.history:
        print(f"exercises of {exercise.scenario} compared (kept ratings, newest first):")
        for past in report.history:
            ratings = ", ".join(f"{o}={r or '-'}" for o, r in past.ratings.items())
            print(f"  #{past.id} {past.name} ({', '.join(past.trainees) or '—'}): {ratings}")
    if args.export:
        print(f"written: {args.export}")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    """Pause a running exercise (its events and its clock stand still)."""
    return _change(args, "pause")


def cmd_resume(args: argparse.Namespace) -> int:
    """Resume a paused exercise (or play a created one)."""
    return _change(args, "resume")


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop an exercise for good (until it is reset)."""
    return _change(args, "stop")


def cmd_reset(args: argparse.Namespace) -> int:
    """Take an exercise back to created: every key of its namespace and every row made in it removed."""
    return _change(args, "reset")


def register(add: AddCommand) -> None:
    """Add the exercises command to the `ioc` parser (`add` is its subcommand helper)."""
    parser = add("exercises", _missing, "training exercises: list, start, pause, resume, stop, reset, messages, report")
    subs = parser.add_subparsers(dest="exercises_command", required=True, metavar="ACTION")

    def action(name: str, handler: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        command = subs.add_parser(name, help=text, description=text)
        command.set_defaults(handler=handler)
        command.add_argument("--json", action="store_true", help="print as JSON (times ISO 8601 UTC)")
        return command

    action("list", cmd_list, "list the exercises, newest first")
    start = action("start", cmd_start, "start an exercise: a scenario played into a namespace of its own")
    start.add_argument("scenario", metavar="SCENARIO", help="scenario name (see `ioc scenarios list`)")
    start.add_argument("--speed", type=_speed, default=60.0, help="simulated seconds per real second (60; up to 3600)")
    start.add_argument("--seed", type=int, default=None, help="random seed (default: random, shown)")
    start.add_argument("--name", default=None, help="the exercise's name (default: the scenario's)")
    start.add_argument(
        "--trainee", action="append", metavar="USER", help="an operator account taking part (repeat for more)"
    )
    for name, handler, text in (
        ("pause", cmd_pause, "pause a running exercise"),
        ("resume", cmd_resume, "resume a paused (or created) exercise"),
        ("stop", cmd_stop, "stop an exercise"),
        ("reset", cmd_reset, "remove every key and row of an exercise; back to created"),
        ("messages", cmd_messages, "the messages an exercise sent its trainees"),
    ):
        action(name, handler, text).add_argument("id", type=_id, metavar="ID", help="the exercise's id")
    report = action("report", cmd_report, "an exercise's after-action report: timeline, responses, ratings")
    report.add_argument("id", type=_id, metavar="ID", help="the exercise's id")
    report.add_argument("--export", metavar="FILE", help="also write it as FILE.xlsx or FILE.pdf (never over a file)")
    report.add_argument("--lang", choices=("vi", "en"), default=None, help="the export's language (IOC_LANGUAGE)")


def _missing(args: argparse.Namespace) -> int:
    """Never called: argparse requires an action after the command."""
    raise InvalidInput("an action is required")
