"""What the exercise runner tells the trainer's page, one stored format each, read and written here: the scenarios
an exercise may play (the runner reads the scenario files; the web may not import the simulators) and each active
exercise's expected responses as of its clock now (scored by the runner, which holds the MSEL), so the page shows
them turning green or red without loading a scenario itself."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson
import redis
from pydantic import BaseModel, ConfigDict, ValidationError

from ioc.keys import Keys

log = logging.getLogger(__name__)

SCENARIOS_TTL_S: Final = 3_600  # the catalogue outlives a runner stopped a while, not forever


class ScenarioInfo(BaseModel):
    """A scenario as the trainer's page lists it."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    msel: bool = False  # it has injects and expected responses


class Progress(BaseModel):
    """An exercise's expected responses as of `clock` (simulated epoch s), each `ResponseScore.as_json()`, and the
    names of its MSEL's objectives (id -> (vi, en)), so a report names them from an exercise's first run on."""

    model_config = ConfigDict(frozen=True)

    exercise_id: int
    clock: float
    responses: tuple[dict[str, Any], ...] = ()
    written_at: float = 0.0  # wall clock
    objectives: dict[str, tuple[str, str]] = {}


def publish_scenarios(client: redis.Redis, keys: Keys, scenarios: Sequence[ScenarioInfo]) -> None:
    """Write the catalogue of scenarios (the base namespace's keys)."""
    payload = orjson.dumps([s.model_dump() for s in scenarios])
    client.set(keys.scenarios(), payload, ex=SCENARIOS_TTL_S)


def read_scenarios(client: redis.Redis, keys: Keys) -> list[ScenarioInfo]:
    """The catalogue of scenarios, empty when no runner wrote one (or it cannot be read)."""
    raw = client.get(keys.scenarios())
    if raw is None:
        return []
    try:
        return [ScenarioInfo.model_validate(item) for item in orjson.loads(raw)]
    except (orjson.JSONDecodeError, ValidationError, TypeError) as exc:
        log.warning("unreadable scenario catalogue in %s: %s", keys.scenarios(), exc)
        return []


def publish_progress(
    client: redis.Redis,
    keys: Keys,
    exercise_id: int,
    clock: float,
    responses: Sequence[dict[str, Any]],
    objectives: Mapping[str, tuple[str, str]] | None = None,
) -> None:
    """Write an exercise's expected responses as of its clock, with its objectives' names (the exercise's own
    namespace's keys)."""
    progress = Progress(
        exercise_id=exercise_id,
        clock=clock,
        responses=tuple(responses),
        written_at=time.time(),
        objectives=dict(objectives or {}),
    )
    client.set(keys.exercise_progress(), orjson.dumps(progress.model_dump()))


def read_progress(client: redis.Redis, keys: Keys) -> Progress | None:
    """An exercise's expected responses as last written, or None."""
    raw = client.get(keys.exercise_progress())
    if raw is None:
        return None
    try:
        return Progress.model_validate(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        log.warning("unreadable exercise progress in %s: %s", keys.exercise_progress(), exc)
        return None
