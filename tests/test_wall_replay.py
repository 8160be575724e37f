"""The wall's replay control over HTTP, as a browser calls it: an operator opens a replay, moves it to a past moment
and the wall's tick shows the city as it was then, marked as a replay; a display token never enters replay (its page
has no control, the callbacks refuse it, and a replay its browser names is not shown); nor does another account's
browser; a moment or a speed that is not one is refused at the boundary."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest

from benchmarks.browser import BrowserPage
from ioc.aggregator import Aggregator
from ioc.clock import TimeCheck
from ioc.exercises.records import check_spec, start_exercise
from ioc.identity.roles import Role
from ioc.keys import Keys
from ioc.namespaces import exercise_namespace
from ioc.replay import read_replay
from ioc.replay.registry import ask, home
from ioc.replay.runner import ReplayRunner
from ioc.snapshot import read_wall_snapshot
from layouts.common import local_time
from layouts.wall import ids
from layouts.wall.page import PATH
from simulators import load_scenario
from simulators.engine import generate
from simulators.runner import write_events
from tests.conftest import wipe_namespace
from tests.sessions import PASSWORD, app_database, new_account, new_display_token

START = datetime(2026, 11, 24, 7, 0, tzinfo=timezone(timedelta(hours=7)))


def clock_text(reply_values: dict[str, dict[str, object]]) -> str:
    """The wall clock a tick sent, as text."""
    return json.dumps(reply_values[ids.CLOCK]["children"], ensure_ascii=False)


@pytest.fixture
def history(r, keys, city):
    """Two phases of a normal day, a whole second apart: (the moment between them in epoch seconds, the city clock
    the wall showed then, the city clock now)."""
    aggregator = Aggregator(r, keys, city, consumer="live-test")
    aggregator.setup()
    events = generate(city, load_scenario("normal-day"), 3, START)
    write_events(r, keys, islice(events, 600), maxlen=1_000_000)
    aggregator.drain()
    then = read_wall_snapshot(r, keys, city, stale_after_s=3600).clock
    moment = int(time.time()) + 1
    time.sleep(moment - time.time() + 0.05)
    write_events(r, keys, islice(events, 600), maxlen=1_000_000)
    aggregator.drain()
    aggregator.close()
    now = read_wall_snapshot(r, keys, city, stale_after_s=3600).clock
    yield moment, then, now
    for namespace in r.zrange(home(keys.namespace).replays(), 0, -1):
        wipe_namespace(r, Keys(namespace))
    wipe_namespace(r, home(keys.namespace))


def test_an_operator_replays_a_past_moment_and_goes_back_to_live(r, keys, city, history, redis_url, make_app) -> None:
    moment, then, now = history
    assert then is not None and now is not None and then < now
    app = make_app(redis_url=redis_url, namespace=keys.namespace)
    operator = new_account(app_database(app), Role.OPERATOR)
    page = BrowserPage(app, PATH, user=(operator.username, PASSWORD))
    assert page.knows(ids.REPLAY_OPEN) and page.knows(ids.REPLAY)
    (live,) = page.set(ids.INTERVAL, "n_intervals", 1)
    assert local_time(now, city.timezone, "%H:%M:%S") in clock_text(live.values)

    opened = page.set(ids.REPLAY_OPEN, "n_clicks", 1)
    store = page.props[(ids.REPLAY, "data")]
    assert opened[0].status == 200 and isinstance(store, dict), opened
    assert page.props[(ids.REPLAY_PANEL, "className")] == "wall-replay-panel"
    assert page.props[(ids.REPLAY_SLIDER, "min")] <= moment <= page.props[(ids.REPLAY_SLIDER, "max")]
    assert "Lịch sử từ" in page.props[(ids.REPLAY_REACH, "children")]
    page.set(ids.REPLAY_SLIDER, "value", moment)
    runner = ReplayRunner(r, keys.namespace, city, idle_s=60, time_check=TimeCheck())
    runner.run_once()
    state = read_replay(r, store["ns"])
    assert state is not None and state.built_ms == moment * 1000 and state.owner == f"a:{operator.id}"

    (replayed,) = page.set(ids.INTERVAL, "n_intervals", 2)
    assert local_time(then, city.timezone, "%H:%M:%S") in clock_text(replayed.values)  # the city as it was then
    (marked,) = page.set(ids.REPLAY_INTERVAL, "n_intervals", 1)
    assert "PHÁT LẠI" in json.dumps(marked.values[ids.REPLAY_MARKER]["children"], ensure_ascii=False)
    assert marked.values[ids.REPLAY_MARKER]["className"] == "wall-replay-marker"

    for hostile in ("13:00", True, None, 1e300, moment + 10**9, [moment]):  # refused at the boundary, nothing asked
        (refused,) = page.set(ids.REPLAY_SLIDER, "value", hostile)
        assert refused.status == 200 and "không hợp lệ" in json.dumps(refused.values, ensure_ascii=False)
    (bad_speed,) = page.set(ids.REPLAY_SPEED, "value", 7)
    assert "không hợp lệ" in json.dumps(bad_speed.values, ensure_ascii=False)
    assert read_replay(r, store["ns"]).seq == state.seq  # type: ignore[union-attr]

    other = new_account(app_database(app), Role.OPERATOR)  # another account's browser naming this replay: live
    stranger = BrowserPage(app, PATH, user=(other.username, PASSWORD))
    stranger.props[(ids.REPLAY, "data")] = store
    (not_theirs,) = stranger.set(ids.INTERVAL, "n_intervals", 1)
    assert local_time(now, city.timezone, "%H:%M:%S") in clock_text(not_theirs.values)

    page.set(ids.REPLAY_LIVE, "n_clicks", 1)
    assert page.props[(ids.REPLAY, "data")] is None
    (back,) = page.set(ids.INTERVAL, "n_intervals", 3)
    assert local_time(now, city.timezone, "%H:%M:%S") in clock_text(back.values)
    runner.run_once()
    assert not list(r.scan_iter(match=Keys(store["ns"]).all_keys_pattern()))  # its keys went


def test_a_display_token_never_enters_replay(r, keys, city, history, redis_url, make_app) -> None:
    moment, then, now = history
    app = make_app(redis_url=redis_url, namespace=keys.namespace)
    operator = new_account(app_database(app), Role.OPERATOR)
    owner = BrowserPage(app, PATH, user=(operator.username, PASSWORD))
    owner.set(ids.REPLAY_OPEN, "n_clicks", 1)
    owner.set(ids.REPLAY_SLIDER, "value", moment)
    ReplayRunner(r, keys.namespace, city, idle_s=60, time_check=TimeCheck()).run_once()
    store = owner.props[(ids.REPLAY, "data")]

    wall = BrowserPage(app, PATH, token=new_display_token(app_database(app))[1])
    assert wall.knows(ids.REPLAY) and not wall.knows(ids.REPLAY_OPEN)  # no control on a kiosk
    wall.props[(ids.REPLAY, "data")] = store  # a browser naming a replay anyway
    (shown,) = wall.set(ids.INTERVAL, "n_intervals", 1)
    assert local_time(now, city.timezone, "%H:%M:%S") in clock_text(shown.values)  # live, as always
    control = next(d for d in wall.dependencies if ids.REPLAY_SLIDER in json.dumps(d["inputs"]))
    body = wall.body(control, [(ids.REPLAY_OPEN, "n_clicks")])
    for item in body["inputs"]:
        item.setdefault("value", 1)
    assert wall.http.request("POST", "/_dash-update-component", json_body=body).status == 403
    assert then is not None


def test_a_trainer_replays_an_exercise_and_an_operator_cannot_choose_one(r, keys, city, redis_url, make_app) -> None:
    app = make_app(redis_url=redis_url, namespace=keys.namespace)
    database = app_database(app)
    exercise = start_exercise(
        database,
        r,
        check_spec(name="Diễn tập lũ", scenario="normal-day", seed=7, speed=60),
        actor="t",
        base=keys.namespace,
    )
    drill = Keys(exercise_namespace(keys.namespace, exercise.id))
    try:
        live = Aggregator(r, keys, city, consumer="live-test")  # the live city has a history of its own
        live.setup()
        write_events(r, keys, islice(generate(city, load_scenario("normal-day"), 9, START), 200), maxlen=1_000_000)
        live.drain()
        live.close()
        aggregator = Aggregator(r, drill, city, consumer="drill-test")
        aggregator.setup()
        write_events(r, drill, islice(generate(city, load_scenario("normal-day"), 5, START), 400), maxlen=1_000_000)
        aggregator.drain()
        aggregator.close()
        drill_clock = read_wall_snapshot(r, drill, city, stale_after_s=3600).clock
        assert drill_clock is not None

        trainer = new_account(database, Role.TRAINER)
        page = BrowserPage(app, PATH, user=(trainer.username, PASSWORD))
        choices = [option["value"] for option in page.props[(ids.REPLAY_SOURCE, "options")]]
        assert choices == ["live", f"ex:{exercise.id}"]
        for hostile in ("ex:999999", "ex:abc", "ex:-1"):
            page.props[(ids.REPLAY_SOURCE, "value")] = hostile
            (refused,) = page.set(ids.REPLAY_OPEN, "n_clicks", 1)
            assert "không hợp lệ" in json.dumps(refused.values, ensure_ascii=False)
            assert page.props[(ids.REPLAY, "data")] is None
        page.props[(ids.REPLAY_SOURCE, "value")] = f"ex:{exercise.id}"
        page.set(ids.REPLAY_OPEN, "n_clicks", 2)
        store = page.props[(ids.REPLAY, "data")]
        state = read_replay(r, store["ns"])
        assert state is not None and state.source == drill.namespace
        ask(r, store["ns"], at_ms=int(time.time() * 1000))
        ReplayRunner(r, keys.namespace, city, idle_s=60, time_check=TimeCheck()).run_once()
        (replayed,) = page.set(ids.INTERVAL, "n_intervals", 1)
        assert local_time(drill_clock, city.timezone, "%H:%M:%S") in clock_text(replayed.values)  # the drill's city

        operator = new_account(database, Role.OPERATOR)  # not a trainer: the choice is not offered, nor honoured
        other = BrowserPage(app, PATH, user=(operator.username, PASSWORD))
        assert "is-hidden" in other.props[(ids.REPLAY_SOURCE, "className")]
        other.props[(ids.REPLAY_SOURCE, "value")] = f"ex:{exercise.id}"
        other.set(ids.REPLAY_OPEN, "n_clicks", 1)
        theirs = read_replay(r, other.props[(ids.REPLAY, "data")]["ns"])
        assert theirs is not None and theirs.source == keys.namespace
    finally:
        wipe_namespace(r, drill)
        for namespace in r.zrange(home(keys.namespace).replays(), 0, -1):
            wipe_namespace(r, Keys(namespace))
        wipe_namespace(r, home(keys.namespace))
