"""Where a person works: the live city, or the training exercise they are a trainee of (running or paused), with its
key namespace and its clock. The one decision of which incidents, keys and time a person's pages and actions use:
made on the server for each request from the account alone (never from anything a browser sends); a wall screen
signed in with a display token, or anyone not training now, works live."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from ioc import namespaces
from ioc.db import Database, utcnow
from ioc.exercises.records import Exercise, clock_now, trainee_exercise
from ioc.incidents.model import IncidentRefused
from ioc.keys import Keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """The namespace a person works in and, in an exercise, the exercise and where its clock stood when read."""

    namespace: str
    exercise: Exercise | None = None
    clock: datetime | None = None  # the exercise's clock when this was decided (None: live, or not played yet)

    @property
    def exercise_id(self) -> int | None:
        """The exercise's id (what the incidents core takes as `exercise=`), None when live."""
        return None if self.exercise is None else self.exercise.id

    @property
    def keys(self) -> Keys:
        """The key names of this namespace (an exercise's own, or the base's)."""
        return Keys(self.namespace)

    def now(self) -> datetime:
        """The time pages count back from: the exercise's clock, else (live, or before it was played) the wall's."""
        return self.clock or utcnow()

    def action_time(self) -> datetime | None:
        """The time an action is recorded at (`now=` of the incidents core): the exercise's clock; None when live
        (the core takes the wall clock). IncidentRefused in an exercise whose clock has not started yet."""
        if self.exercise is None:
            return None
        if self.clock is None:
            raise IncidentRefused("incident.exercise_clock", "the exercise's clock has not started yet")
        return self.clock


def live(base: str) -> Workspace:
    """The live city's workspace (the base namespace)."""
    return Workspace(base)


def workspace_of(db: Database, client: redis.Redis, base: str, account_id: int) -> Workspace:
    """Where an account works now: the exercise it trains in (`trainee_exercise`) with its clock read now, else
    live. With no exercise running or paused (the active set in Redis is empty) nobody trains, and the database is
    not asked: a wall's tick stays free of SQL. Redis not answering leaves the exercise's saved position as its
    clock."""
    try:
        if not namespaces.active_namespaces(client, base):
            return live(base)
    except (redis.RedisError, OSError):
        pass  # the database says
    exercise = trainee_exercise(db, account_id)
    if exercise is None:
        return live(base)
    try:
        clock = clock_now(client, exercise, base)
    except (redis.RedisError, OSError) as exc:
        log.warning("exercise %s: clock unreadable, its saved position used: %s", exercise.id, exc)
        clock = exercise.position
    at = None if clock is None else datetime.fromtimestamp(clock, UTC)
    return Workspace(namespaces.exercise_namespace(base, exercise.id), exercise, at)
