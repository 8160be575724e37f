"""Wall callbacks as plain functions and over HTTP, against real Redis with simulator events and the aggregator;
the app's callbacks are called signed in, as an operator or a wall screen with its display token."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import pytest
import redis
from dash import NoUpdate, no_update
from plotly.utils import PlotlyJSONEncoder

from app_factory import serving
from benchmarks.browser import BrowserPage
from callbacks import resources_of
from callbacks.auth import Principal, start_session
from callbacks.wall.tick import TICK_OUTPUTS, tick, update_wall
from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.events import DeviceStatusChanged, FloodWaterLevelObserved, TrafficSpeedObserved, encode_event
from ioc.identity.roles import Role
from ioc.keys import DOMAINS, Keys
from ioc.snapshot import read_wall_snapshot
from layouts.wall import ids
from layouts.wall.chart import CHART_TOP_N, CHART_WINDOW_MINUTES
from layouts.wall.city_map import FOCUS_ZOOM
from layouts.wall.kpis import KPI_TILES
from layouts.wall.page import PATH
from layouts.wall.tick import TickUpdate
from simulators import SimEvent, generate, load_scenario, write_events
from tests.sessions import PASSWORD, app_database, new_account, new_display_token

ICT = timezone(timedelta(hours=7))
# Minute roll-ups expire by event time, so the simulated hour must be a recent one.
START = datetime.fromtimestamp((time.time() // 60 - 45) * 60, ICT)
STALE_AFTER_S = 30.0
TICK_BUDGET_BYTES = 20_000


T = TypeVar("T")


def sent(value: T | NoUpdate) -> T:
    """A section this tick sent (not no_update), for the test to look into."""
    assert not isinstance(value, NoUpdate)
    return value


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll until the condition holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sim_events(city: City, minutes_from: int, minutes_to: int) -> list[SimEvent]:
    """The normal-day scenario's events between two offsets from START, in minutes."""
    begin, end = (START + timedelta(minutes=m) for m in (minutes_from, minutes_to))
    events = generate(city, load_scenario("normal-day"), 11, START)
    return [e for e in itertools.takewhile(lambda e: e.at < end.timestamp(), events) if e.at >= begin.timestamp()]


def water(station: str, at: datetime, metres: float) -> SimEvent:
    """A water level reading as a producer sends it."""
    fields = encode_event(
        FloodWaterLevelObserved(v=1, type="flood.water_level.observed", ts=at, sensor=station, level_m=metres)
    )
    return SimEvent(at.timestamp(), "flood", fields)


@pytest.fixture
def aggregator(r: redis.Redis, keys: Keys, city: City) -> Iterator[Aggregator]:
    """The aggregator running in the background for the test, as in production (its heartbeat keeps data fresh)."""
    agg = Aggregator(r, keys, city, consumer="wall-test")
    agg.setup()
    stop = threading.Event()
    worker = threading.Thread(target=agg.run_forever, args=(stop,), kwargs={"idle_wait_s": 0.05}, daemon=True)
    worker.start()
    yield agg
    stop.set()
    worker.join(timeout=10)


def send(r: redis.Redis, keys: Keys, city: City, events: list[SimEvent]) -> None:
    """Append events to the raw streams and wait until the aggregator has processed up to the newest one."""
    write_events(r, keys, events, 100_000)
    newest = max(e.at for e in events)
    reporting = {e.fields["sensor"] for e in events}

    def caught_up() -> bool:
        snapshot = read_wall_snapshot(r, keys, city, stale_after_s=STALE_AFTER_S)
        # The device watchdog runs every 2 s on the city clock: wait for its view of these events too, i.e. a health
        # for every sensor that reported (a status a device reported itself can come first; seen in a CI run).
        return snapshot.clock is not None and snapshot.clock >= newest - 0.01 and reporting <= set(snapshot.health)

    wait_for(caught_up, what="the aggregator to catch up")


def tick_once(r: redis.Redis, keys: Keys, city: City, store: object, lang: str = "vi") -> tuple[TickUpdate, Any]:
    """One tick as a browser would see it, and the store it keeps afterwards."""
    update = update_wall(r, keys, city, lang=lang, store=store, stale_after_s=STALE_AFTER_S)
    return update, (store if update.client is no_update else json.loads(json.dumps(update.client)))


def test_tick_follows_events_as_they_flow(r, keys, city, aggregator) -> None:
    send(r, keys, city, sim_events(city, 0, 15))
    first, store = tick_once(r, keys, city, None)
    assert first.stale is None  # fresh data: no banner
    sensors, speed = sent(first.kpi_values[0]), first.kpi_values[1]
    assert int(sensors) > 0 and speed != "—"
    states = json.loads(sent(first.map_delta))["layers"][ids.SEGMENTS]
    assert states and set(states) <= set(city.segments)
    assert set(states.values()) <= {"congested", "slow", "smooth"}
    figure = sent(first.chart_figure)
    assert len(figure["data"]) == 1 + CHART_TOP_N
    assert len(figure["data"][0]["x"]) >= 10 and any(y is not None for y in figure["data"][0]["y"])
    clock: list[Any] = sent(first.clock)
    time_text, badge = clock  # the events were replayed: the clock says it is simulated time
    assert time_text.count(":") == 2 and badge.children.startswith("MÔ PHỎNG ×")

    send(r, keys, city, sim_events(city, 15, 25))
    second, store = tick_once(r, keys, city, store)
    assert second.clock != first.clock
    assert second.chart_figure is no_update  # appended to, not rebuilt
    extend = sent(second.chart_extend)
    assert extend is not None
    assert extend[1] == list(range(1 + CHART_TOP_N)) and extend[2] == CHART_WINDOW_MINUTES
    new_minutes = extend[0]["x"][0]
    assert 8 <= len(new_minutes) <= 11 and new_minutes[0] > figure["data"][0]["x"][-1]

    third, _ = tick_once(r, keys, city, store)  # nothing new since
    assert third.chart_extend is no_update and third.clock is no_update


def test_a_bd3_reading_takes_over_the_wall(r, keys, city, aggregator) -> None:
    at = START + timedelta(minutes=1)
    send(r, keys, city, [water("wl-tam-ky", at + timedelta(minutes=i), m) for i, m in enumerate((1.5, 2.3, 2.95))])
    update, store = tick_once(r, keys, city, None, lang="en")
    banner = json.dumps(update.takeover, cls=PlotlyJSONEncoder, ensure_ascii=False)
    assert f"Alarm III at Trạm Tam Kỳ: water level 2.95 m at {(at + timedelta(minutes=2)):%H:%M}" in banner
    station = city.sensors["wl-tam-ky"]
    assert update.viewport == {"center": [station.lat, station.lon], "zoom": FOCUS_ZOOM, "transition": "flyTo"}
    assert update.alarm is not no_update
    assert json.loads(sent(update.map_delta))["layers"][ids.STATIONS]["wl-tam-ky"] == "a3"
    index = [s.id for s in city.sensors_of("water_station")].index("wl-tam-ky")
    assert update.gauge_classes[index] == "wall-gauge wall-gauge--a3"
    assert update.gauge_badges[index] == "Alarm III"
    again, _ = tick_once(r, keys, city, store, lang="en")
    assert again.viewport is no_update and again.alarm is no_update  # this browser has seen it


def test_alerts_list_shows_every_active_alert_the_kpi_counts(r, keys, city, aggregator) -> None:
    at = START + timedelta(minutes=1)
    camera = city.sensors_of("traffic_camera")[0]
    segment = camera.segments[0]
    speed = encode_event(
        TrafficSpeedObserved(
            v=1,
            type="traffic.speed.observed",
            ts=at,
            sensor=camera.id,
            segment=segment,
            speed_kmh=6.0,
            vehicles=30,
            interval_s=60,
        )
    )
    fault = encode_event(
        DeviceStatusChanged(v=1, type="device.status.changed", ts=at, sensor="spd-01", status="fault", detail="lens")
    )
    send(
        r,
        keys,
        city,
        [
            water("wl-an-son", at, 2.7),
            water("wl-tam-ky", at + timedelta(minutes=1), 2.95),
            SimEvent(at.timestamp(), "traffic", speed),
            SimEvent(at.timestamp(), "device", fault),
        ],
    )
    snapshot = read_wall_snapshot(r, keys, city, stale_after_s=STALE_AFTER_S)
    found = {(a.kind, a.place, a.new) for a in snapshot.active_alerts}
    assert {
        ("flood.level.changed", "wl-tam-ky", "3"),
        ("flood.level.changed", "wl-an-son", "2"),
        ("traffic.congestion.changed", segment, "congested"),
        ("device.health.changed", "spd-01", "fault"),
    } <= found
    stored = sum(r.hlen(keys.active(domain)) for domain in DOMAINS)
    assert snapshot.kpis.active_alerts == len(snapshot.active_alerts) == stored

    update, _ = tick_once(r, keys, city, None, lang="vi")
    alerts: list[Any] = sent(update.alerts)
    rows = [row for row in alerts if "wall-alert--more" not in row.className]
    more = [int(row.children.lstrip("+").split()[0]) for row in alerts if "wall-alert--more" in row.className]
    shown = int(sent(update.kpi_values[[k for k, _, _ in KPI_TILES].index("alerts")]))
    assert shown == len(snapshot.active_alerts) == len(rows) + sum(more)
    assert rows[0].className == "wall-alert wall-alert--critical"  # BĐ III heads the list
    assert [child.children for child in rows[0].children][1:] == ["Mực nước", "Trạm Tam Kỳ", "BĐ III"]


def test_tick_outputs_are_matched_by_name() -> None:
    assert list(TICK_OUTPUTS) == list(TickUpdate.names())  # every field has its output, in the same order


def test_unreachable_redis_gives_the_stale_banner_without_raising(make_app) -> None:
    app = make_app(redis_url="redis://127.0.0.1:1/0")
    operator = new_account(app_database(app), Role.OPERATOR)
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        start_session(Principal.of_account(operator))
        started = time.monotonic()
        outputs = tick(1, "en", None)
    assert time.monotonic() - started < 5
    assert outputs["stale"].children == "Cannot reach Redis: the figures on screen may be out of date"
    assert outputs["chart_figure"] is no_update and all(v is no_update for v in outputs["kpi_values"])


# ---------------------------------------------------------------- over HTTP, as browsers (and the benchmark) call it


def test_tick_over_http_stays_small(r, keys, city, aggregator, redis_url, make_app) -> None:
    app = make_app(redis_url=redis_url, namespace=keys.namespace)
    page = BrowserPage(app, PATH, "?lang=vi", token=new_display_token(app_database(app))[1])  # a wall screen
    assert page.props[(ids.LANG, "data")] == "vi"
    send(r, keys, city, sim_events(city, 0, 20))
    sizes = []
    for step in range(8):
        if step:
            send(r, keys, city, sim_events(city, 19 + step, 20 + step))
        (reply,) = page.set(ids.INTERVAL, "n_intervals", step + 1)
        assert reply.status == 200
        sizes.append(reply.size)
        if step == 0:
            assert page.props[(ids.CLIENT, "data")]["v"]  # the store the browser keeps, sent back next time
            assert (
                len(
                    page.props[(json.dumps({"kpi": "speed", "type": ids.KPI_VALUE}, separators=(",", ":")), "children")]
                )
                > 1
            )
    assert max(sizes) < TICK_BUDGET_BYTES, sizes  # even the first tick, which fills the page
    assert max(sizes[1:]) < TICK_BUDGET_BYTES / 2, sizes


def test_the_one_app_serves_the_settings_of_the_resources_attached(
    r, keys, city, aggregator, redis_url, make_app
) -> None:
    send(r, keys, city, sim_events(city, 0, 5))
    app = make_app(redis_url=redis_url, namespace=keys.namespace, language="en")
    operator = new_account(app_database(app), Role.OPERATOR)
    live = BrowserPage(app, PATH, user=(operator.username, PASSWORD))
    assert live.props[(ids.LANG, "data")] == "en"
    (fresh,) = live.set(ids.INTERVAL, "n_intervals", 1)
    assert fresh.values[ids.STALE]["children"] is None
    own = resources_of(app.server).settings
    away_settings = own.model_copy(update={"redis_url": "redis://127.0.0.1:1/0", "language": "vi"})
    with serving(away_settings):  # the same database and session key, Redis away, Vietnamese by default
        away = BrowserPage(app, PATH, token=new_display_token(app_database(app))[1])
        assert away.props[(ids.LANG, "data")] == "vi"
        (lost,) = away.set(ids.INTERVAL, "n_intervals", 1)
        assert "Mất kết nối Redis" in json.dumps(lost.values[ids.STALE]["children"], ensure_ascii=False)
        (also_lost,) = live.set(ids.INTERVAL, "n_intervals", 2)  # every browser: the app's settings are these
        assert also_lost.values[ids.STALE]["children"] is not None
    (again,) = live.set(ids.INTERVAL, "n_intervals", 3)
    assert again.values[ids.STALE]["children"] is None  # the test's own settings again
