"""The wall's incidents panel on its own interval, outside the tick: the tick's first payload stays small, and a
database that does not answer never stops the tick. While it does not answer, the panel says so quietly; the outage
is logged once when it begins and once when it ends (per worker process: each keeps its own note, in its app's
server, of whether the database answered last time), and the panel recovers by itself. A trainee's panel shows the
exercise's incidents on its clock (`callbacks.auth.workspace`); anyone else's, and every display token's, live."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from dash import Input, Output, State, callback

from callbacks import resources
from callbacks.auth import guarded, workspace
from ioc.db import utcnow
from ioc.errors import DatabaseError
from ioc.i18n import normalize_lang
from ioc.identity.roles import Permission
from ioc.incidents.queries import WallSummary, wall_summary
from layouts.wall import ids
from layouts.wall.incidents import build_incidents

log = logging.getLogger(__name__)

OUTPUTS: Final = {
    "body": Output(ids.INCIDENTS, "children"),
    "class_name": Output(ids.INCIDENTS_PANEL, "className"),
    "seen": Output(ids.INCIDENTS_SEEN, "data"),
}
INPUTS: Final = {
    "n_intervals": Input(ids.INCIDENTS_INTERVAL, "n_intervals"),
    "lang": State(ids.LANG, "data"),
    "seen": State(ids.INCIDENTS_SEEN, "data"),
}
OUTAGE_EXTENSION: Final = "ioc.wall.incidents.outage"


@dataclass
class Outage:
    """Whether the database failed the last read of this worker: an outage is logged when it begins and ends,
    not on every read of every wall screen."""

    down: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, error: DatabaseError) -> None:
        """A read failed: log it if it is the first since the database last answered."""
        with self.lock:
            began, self.down = not self.down, True
        if began:
            log.warning(
                "wall incidents panel: the database does not answer (%s); the panel says so until it does", error
            )

    def answered(self) -> None:
        """A read succeeded: log the end of an outage."""
        with self.lock:
            ended, self.down = self.down, False
        if ended:
            log.info("wall incidents panel: the database answers again")


def outage() -> Outage:
    """The outage note of the resources serving the request (their database's)."""
    found = resources().notes.setdefault(OUTAGE_EXTENSION, Outage())
    assert isinstance(found, Outage)
    return found


def read_summary() -> tuple[WallSummary | None, datetime]:
    """The wall's incident summary of the viewer's workspace (None while the database does not answer) and the time
    its ages count to (the exercise's clock for a trainee)."""
    note = outage()
    try:
        where = workspace()
        summary = wall_summary(resources().database, exercise=where.exercise_id)
    except DatabaseError as exc:
        note.failed(exc)
        return None, utcnow()
    note.answered()
    return summary, where.now()


@callback(output=OUTPUTS, inputs=INPUTS)
@guarded(Permission.VIEW_WALL)
def incidents(n_intervals: int | None, lang: str | None, seen: object) -> dict[str, Any]:
    """The panel's refresh: its content if it changed since this browser last saw it."""
    summary, now = read_summary()
    return build_incidents(summary, resources().city, normalize_lang(lang), seen, now).outputs()
