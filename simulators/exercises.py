"""The exercise runner (`ioc exercise-runner`): plays every running exercise's scenario into its own namespace, at its
speed, with its seed, and keeps where each got to.

Every second it reads the exercises table (the truth) and makes the world agree: the exercises set in Redis holds
the active ones' namespaces (so the consumers follow them), a running exercise not being played starts playing (a
thread each, `run_simulation`), one no longer running stops. At each check it sends each running exercise's MSEL
injects due at the simulated time its events reached (`ioc.exercises.injects.send_due`: once each, contingencies
only when a response is late) and writes each active one's expected responses as of its clock for the trainer's page
(`ioc.exercises.progress`, with the scenarios an exercise may play), and when an exercise stops (or its scenario
ends) it keeps its ratings (`keep_results`). The simulated time each has reached is saved every few
seconds and when it stops, so a runner restarted (killed, or its host rebooted) goes on from the saved position with
the same events a run without the break would have written (the scenario regenerated from its own start with the
same seed, the events before the position skipped; those since the last save are written again: at least once, as
every producer delivers). When an exercise pauses or stops, or its scenario ends (the exercise is then stopped,
`finished`), its namespace's clock is declared paused at the position reached, so its incident limits stand still
until it resumes; a reset deletes that declaration with the rest of the namespace. The runner says at each pass
which namespaces it plays into (`ioc.namespaces.announce`), so a reset waits until it has let go. A trainer's change
of speed or jump ahead (`ioc.exercises.records.set_speed`, `jump_ahead`) is followed at the next check: the play is
stopped and begun again from where it got to (or the position jumped to, the events in between skipped) at the
exercise's speed. So is an event a trainer placed on the map (`ioc.exercises.map_injects`): the play begins again
from where it got to with the exercise's map events added to its scenario as episodes (`map_episode`), each from the
exercise-clock time it was placed at; a restarted runner reads them from the database and plays the same.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import redis

from ioc import namespaces
from ioc.city import City
from ioc.clock import declare_simulated, read_timebase
from ioc.db import Database
from ioc.errors import DatabaseError, NotFound
from ioc.exercises.injects import clock_time, keep_results, score_responses_now, send_due
from ioc.exercises.map_injects import MapEvent, map_events
from ioc.exercises.msel import Msel
from ioc.exercises.progress import ScenarioInfo, publish_progress, publish_scenarios
from ioc.exercises.records import ACTIVE, JUMP_SLACK_S, Exercise, get_exercise, list_exercises, save_position
from ioc.keys import Keys
from simulators.engine import as_epoch
from simulators.episodes import CrashEpisode, DeviceOutageEpisode, Episode, FloodEpisode
from simulators.errors import ScenarioError
from simulators.runner import run_simulation
from simulators.scenario import list_scenarios, load_scenario, merged_scenario

log = logging.getLogger(__name__)

CHECK_EVERY_S: Final = 1.0
SAVE_EVERY_S: Final = 2.0
CATALOGUE_EVERY_S: Final = 60.0
PUBLISH_EVERY_S: Final = 2.0  # how often an exercise's expected responses are scored for the trainer's page
CATALOGUE_AFTER_S: Final = 2.0  # the first list waits until the plays are under way (parsing YAML holds the GIL)
MAP_FLOOD_ABOVE_M: Final = 0.3  # a flood placed on the map peaks this far above its station's BĐ III


def map_episode(event: MapEvent, city: City) -> Episode:
    """The episode a trainer's event on the map plays: a crash with its queue two segments back, a device going dark
    (silently: the watchdog has to notice), or a flood point (its station through BĐ I, II, III to above III in 45
    minutes, held, then receding; its segments flooding above BĐ II; only that station rising, no extra rain)."""
    context = {"city": city}
    common: dict[str, Any] = {"at_min": event.at_min, "duration_min": event.duration_min, "title": event.kind}
    if event.kind == "crash":
        return CrashEpisode.model_validate(
            {**common, "kind": "crash", "segment": event.segments[0], "spill_hops": 2}, context=context
        )
    if event.kind == "device_fault":
        return DeviceOutageEpisode.model_validate(
            {**common, "kind": "device_outage", "devices": [event.device], "announce": "none"}, context=context
        )
    station = city.sensors[event.station or ""]
    levels = station.alarm_levels_m or (0.0, 0.0, 0.0)
    normal = station.normal_level_m if station.normal_level_m is not None else levels[0] - 1.0
    peak = levels[2] + MAP_FLOOD_ABOVE_M
    duration = event.duration_min
    return FloodEpisode.model_validate(
        {
            **common,
            "kind": "flood",
            "rain_mm_h": [[0, 0], [duration, 0]],
            "reference": station.id,
            "hydrograph_m": [[0, normal], [45, peak], [duration * 0.6, peak], [duration, normal]],
            "stations": {"default": {"scale": 0}},
            "flooded_roads": [{"segments": list(event.segments), "station": station.id, "at_alarm": 2}],
        },
        context=context,
    )


@dataclass
class _Play:
    """One exercise being played: its thread, how to stop it, and the simulated time its events reached."""

    exercise: Exercise
    sim_start: float
    position: float
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    failed: BaseException | None = None
    saved_at: float = 0.0
    events: tuple[MapEvent, ...] = ()  # the trainers' map events it plays with the scenario


class ExerciseRunner:
    """Plays the running exercises of a base namespace (see the module's docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        db: Database,
        city: City,
        *,
        base: str = namespaces.LIVE,
        member: str = "exercise-runner",
        maxlen: int = 200_000,
        save_every_s: float = SAVE_EVERY_S,
    ) -> None:
        self.client = client
        self.db = db
        self.city = city
        self.base = base
        self.member = member
        self.maxlen = maxlen
        self.save_every_s = save_every_s
        self.plays: dict[int, _Play] = {}
        self._msels: dict[str, Msel[Any] | None] = {}
        self._published: dict[int, float] = {}  # exercise id -> when its progress was last written (monotonic)
        self._was_active: set[int] = set()  # the exercises running or paused at the last check

    def check(self) -> None:
        """One look at the exercises table: the active set written, plays started and stopped, positions saved."""
        active = list_exercises(self.db, ACTIVE)
        namespaces.set_active(self.client, self.base, {e.namespace(self.base) for e in active})
        running = {e.id: e for e in active if e.status == "running"}
        # Stopped while not playing (paused, or started and stopped between two checks): scored here, since no
        # play ends for it.
        for exercise_id in self._was_active - {e.id for e in active} - set(self.plays):
            self._keep_results_of(exercise_id)
        self._was_active = {e.id for e in active}
        for exercise_id, play in list(self.plays.items()):
            ended = play.thread is not None and not play.thread.is_alive()
            if exercise_id not in running or ended:
                self._end(play, finished=ended and not play.stop.is_set() and play.failed is None)
                del self.plays[exercise_id]
        for exercise in running.values():
            playing = self.plays.get(exercise.id)
            if playing is not None and (
                self._moved(exercise, playing) or map_events(self.db, exercise.id) != playing.events
            ):
                self._restart(playing)
                del self.plays[exercise.id]
                exercise = get_exercise(self.db, exercise.id)
            if exercise.id not in self.plays:
                self._begin(exercise)
        for exercise in active:
            if exercise.status == "paused" and exercise.position is not None:
                self._hold_clock(exercise, exercise.position, "paused")
                self._publish(exercise, exercise.position, every_s=PUBLISH_EVERY_S)
        now = time.monotonic()
        for play in self.plays.values():
            self._send(play)
            self._publish(play.exercise, play.position, every_s=PUBLISH_EVERY_S)
            if now - play.saved_at >= self.save_every_s:
                self._save(play)
        namespaces.announce(
            self.client, self.base, self.member, {p.exercise.namespace(self.base) for p in self.plays.values()}
        )

    @staticmethod
    def _moved(exercise: Exercise, play: _Play) -> bool:
        """Whether a trainer changed the exercise's speed or jumped its clock ahead since it began playing (a jump
        saves a position ahead of the play's own: `save_position` never takes it back)."""
        jumped = exercise.position is not None and exercise.position > play.position + JUMP_SLACK_S
        return exercise.speed != play.exercise.speed or jumped

    def _restart(self, play: _Play) -> None:
        """Stop playing an exercise to play it again at once from where it is now (its new speed, the position it
        jumped to, or with a new map event): what came due is sent and the position saved, and its clock is declared
        again by the new play."""
        play.stop.set()
        if play.thread is not None:
            play.thread.join()
        self._send(play)
        self._save(play)
        log.info("exercise %d: speed, clock or map events changed, playing on from there", play.exercise.id)

    def _publish(self, exercise: Exercise, position: float, *, every_s: float) -> None:
        """Write the exercise's expected responses as of `position` on its clock, for the trainer's page (at most
        every `every_s`: scoring reads the exercise's rows)."""
        now = time.monotonic()
        if now - self._published.get(exercise.id, -math.inf) < every_s:
            return
        self._published[exercise.id] = now
        msel = self._msel(exercise)
        try:
            responses = [] if msel is None else score_responses_now(self.db, exercise.id, msel, clock_time(position))
        except DatabaseError as exc:
            log.warning("could not score exercise %d (%s); tried again at the next check", exercise.id, exc)
            return
        names = {} if msel is None else {o.id: (o.name.vi, o.name.en) for o in msel.objectives}
        publish_progress(
            self.client,
            Keys(exercise.namespace(self.base)),
            exercise.id,
            position,
            [r.as_json() for r in responses],
            names,
        )

    def catalogue(self) -> None:
        """Write the scenarios an exercise may play, for the trainer's page: each one's name, title and whether it has
        an MSEL, read from the files merged along `extends` but not checked (cheap; a broken scenario is refused when
        an exercise of it is played, and a file that cannot be read at all is left out)."""
        found: list[ScenarioInfo] = []
        for name in list_scenarios():
            try:
                data = merged_scenario(name)
            except (ScenarioError, OSError, ValueError) as exc:
                log.warning("scenario %s is left out of the trainer's list: %s", name, exc)
                continue
            title = data.get("title")
            found.append(
                ScenarioInfo(name=name, title=title if isinstance(title, str) else name, msel=bool(data.get("msel")))
            )
        publish_scenarios(self.client, Keys(self.base), found)

    def _catalogue_every(self, stop: threading.Event, every_s: float) -> None:
        """Write the catalogue every `every_s` until `stop` (a thread of its own: reading every scenario file
        takes a while, and the plays' checks do not wait for it), the first after CATALOGUE_AFTER_S."""
        if stop.wait(CATALOGUE_AFTER_S):
            return
        while not stop.is_set():
            try:
                self.catalogue()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("could not write the scenario list (%s); retrying", exc)
            stop.wait(every_s)

    def _begin(self, exercise: Exercise) -> None:
        """Start playing an exercise from its saved position (or its scenario's start)."""
        zone = ZoneInfo(self.city.timezone)
        if exercise.sim_start is None:
            scenario = load_scenario(exercise.scenario, city=self.city)
            begin = scenario.start or datetime.now(zone)
            sim_start = as_epoch(begin, self.city)
            position = sim_start
        else:
            sim_start = exercise.sim_start
            position = exercise.position if exercise.position is not None else sim_start
        play = _Play(exercise, sim_start, position, events=map_events(self.db, exercise.id))
        play.thread = threading.Thread(target=self._play, args=(play,), name=f"exercise-{exercise.id}", daemon=True)
        self.plays[exercise.id] = play
        self._save(play)
        play.thread.start()
        log.info(
            "playing exercise %d (%s) into %s at x%g from %s",
            exercise.id,
            exercise.scenario,
            exercise.namespace(self.base),
            exercise.speed,
            datetime.fromtimestamp(position, ZoneInfo(self.city.timezone)).isoformat(timespec="seconds"),
        )

    def _play(self, play: _Play) -> None:
        """The thread of one exercise: its scenario's events into its namespace until stopped or ended."""
        exercise = play.exercise
        zone = ZoneInfo(self.city.timezone)

        def reached(position: float) -> None:
            play.position = max(play.position, position)

        try:
            run_simulation(
                self.client,
                Keys(exercise.namespace(self.base)),
                self.city,
                exercise.scenario,
                seed=exercise.seed,
                speed=exercise.speed,
                start=datetime.fromtimestamp(play.sim_start, zone),
                resume_at=play.position if play.position > play.sim_start else None,
                maxlen=self.maxlen,
                stop=play.stop,
                progress=reached,
                extra_episodes=[map_episode(event, self.city) for event in play.events],
            )
        except Exception as exc:  # one exercise's failure stops that one only; logged and retried at the next check
            log.exception("exercise %d stopped playing: %s", exercise.id, exc)
            play.failed = exc

    def _msel(self, exercise: Exercise) -> Msel[Any] | None:
        """The MSEL of an exercise's scenario (None: it has none), read once per scenario."""
        if exercise.scenario not in self._msels:
            self._msels[exercise.scenario] = load_scenario(exercise.scenario, city=self.city).msel
        return self._msels[exercise.scenario]

    def _send(self, play: _Play) -> None:
        """Send the exercise's injects (and contingencies) due at the simulated time its events reached."""
        msel = self._msel(play.exercise)
        if msel is None:
            return
        try:
            send_due(
                self.db, play.exercise.id, msel, sim_start=clock_time(play.sim_start), now=clock_time(play.position)
            )
        except DatabaseError as exc:
            log.warning(
                "could not send exercise %d's injects (%s); tried again at the next check", play.exercise.id, exc
            )

    def _save(self, play: _Play, *, finished: bool = False) -> None:
        try:
            save_position(
                self.db, play.exercise.id, sim_start=play.sim_start, position=play.position, finished=finished
            )
            play.saved_at = time.monotonic()
        except DatabaseError as exc:
            log.warning("could not save exercise %d's position (%s); saved at the next check", play.exercise.id, exc)

    def _end(self, play: _Play, *, finished: bool) -> None:
        """Stop playing an exercise (paused, stopped, reset, or its scenario ended): its position saved and, unless it
        was reset, its clock paused where it got to."""
        play.stop.set()
        if play.thread is not None:
            play.thread.join()
        if self._status(play) != "created":  # what came due before the end is still sent
            self._send(play)
        self._save(play, finished=finished)
        status = self._status(play)
        if status != "created":  # a reset wipes the namespace: nothing more is written into it
            self._hold_clock(play.exercise, play.position, status)
        msel = self._msel(play.exercise)
        if status == "stopped" and msel is not None:
            try:
                keep_results(self.db, play.exercise.id, msel, clock_time(play.position), actor="exercise-runner")
            except DatabaseError as exc:
                log.warning("could not keep exercise %d's results (%s)", play.exercise.id, exc)
        log.info("exercise %d %s", play.exercise.id, "finished its scenario" if finished else f"is {status}")

    def _keep_results_of(self, exercise_id: int) -> None:
        """Keep the results of an exercise that was stopped where its clock stood (at its saved position)."""
        try:
            exercise = get_exercise(self.db, exercise_id)
            msel = self._msel(exercise)
            if exercise.status == "stopped" and exercise.position is not None and msel is not None:
                keep_results(self.db, exercise_id, msel, clock_time(exercise.position), actor="exercise-runner")
                log.info("exercise %d is stopped", exercise_id)
        except (DatabaseError, NotFound) as exc:
            log.warning("could not keep exercise %d's results (%s)", exercise_id, exc)

    def _status(self, play: _Play) -> str:
        try:
            return get_exercise(self.db, play.exercise.id).status
        except NotFound:
            return "created"

    def _hold_clock(self, exercise: Exercise, position: float, status: str) -> None:
        """Declare the exercise's clock standing still at `position` (unless it does already)."""
        keys = Keys(exercise.namespace(self.base))
        clock = read_timebase(self.client, keys)
        if clock.paused and clock.sim == position:
            return
        source = f"exercise {exercise.id} {status}"
        declare_simulated(self.client, keys, start=position, speed=exercise.speed, source=source, paused=True)

    def run_forever(self, stop: threading.Event, check_every_s: float = CHECK_EVERY_S) -> None:
        """Check every `check_every_s` until `stop` is set; then stop every play, saving where each got to (a
        running exercise goes on from there when a runner starts again)."""
        threading.Thread(
            target=self._catalogue_every, args=(stop, CATALOGUE_EVERY_S), name="exercise-scenarios", daemon=True
        ).start()
        try:
            while not stop.is_set():
                try:
                    self.check()
                except (redis.ConnectionError, redis.TimeoutError, DatabaseError) as exc:
                    log.warning("exercise runner paused (%s); retrying", exc)
                stop.wait(check_every_s)
        finally:
            for play in self.plays.values():
                play.stop.set()
            for play in self.plays.values():
                if play.thread is not None:
                    play.thread.join()
                self._save(play)
            self.plays.clear()
