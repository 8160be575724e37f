"""One picture per data version, shared by every screen: what a screen gets from the shared picture equals what the
per-screen computation gives for the same state, over random changes of the city and screens holding random earlier
versions (a property test on the pure builder); and, on real Redis with the aggregator, the tick's shared path
equals the per-screen path, while working out one picture per data version and language."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import redis
from dash import NoUpdate, no_update
from hypothesis import given, settings
from hypothesis import strategies as st
from plotly.utils import PlotlyJSONEncoder

from callbacks.wall.tick import WallPictures, picture_key, update_wall
from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.keys import Keys
from ioc.snapshot import (
    Health,
    Kpis,
    SegmentState,
    SpeedBand,
    StationState,
    WallAlert,
    WallSnapshot,
    read_data_stamp,
    read_wall_snapshot,
)
from layouts.wall.city_map import MapMemory
from layouts.wall.tick import ClientState, WallPicture, build_tick, chart_query
from simulators import generate, load_scenario, write_events
from tests.conftest import example_count
from tests.test_callbacks_wall import STALE_AFTER_S, START

NOW = 1_767_600_000.0  # 2026-01-05 15:00 in Tam Kỳ
BANDS: tuple[SpeedBand, ...] = ("unknown", "smooth", "slow", "congested")
HEALTH: tuple[Health, ...] = ("online", "offline", "fault")


def _marked(value: Any) -> Any:
    """no_update (alone, or each item of a wildcard output) as a marker JSON can hold."""
    if isinstance(value, NoUpdate):
        return "<no_update>"
    return [_marked(item) for item in value] if isinstance(value, list) else value


def wire(outputs: dict[str, Any]) -> str:
    """The outputs as JSON, as they would go over the wire (no_update marked), but the map's change: a shared tick
    sends it from the version the screen holds, its own computation whole (compared by `shown_map` instead)."""
    plain = {name: _marked(value) for name, value in outputs.items() if name != "map_delta"}
    return json.dumps(plain, cls=PlotlyJSONEncoder, sort_keys=True, ensure_ascii=False)


Shown = tuple[str | None, dict[str, dict[str, str]]]  # the map version a screen holds and its states


def shown_map(held: Shown, sent: object) -> Shown:
    """The map a screen shows after a tick sent `sent` (assets/wall_map.js's merge): a whole map replaces what it
    held, a change is merged into the version it is from (which must be the one held)."""
    if isinstance(sent, NoUpdate):
        return held
    assert isinstance(sent, str)
    delta = json.loads(sent)
    if delta["base"] is None:
        merged: dict[str, dict[str, str]] = {}
    else:
        assert delta["base"] == held[0], "a change from a version the screen does not hold"
        merged = {layer: dict(states) for layer, states in held[1].items()}
    for layer, changes in delta["layers"].items():
        states = merged.setdefault(layer, {})
        for fid, state in changes.items():
            if state == "unknown":
                states.pop(fid, None)
            else:
                states[fid] = state
    return delta["v"], {layer: states for layer, states in merged.items() if states}


@st.composite
def city_states(draw: st.DrawFn, city: City) -> WallSnapshot:
    """A random state of the city as the wall sees it: bands, water levels, device health, critical alerts."""
    segment_ids = sorted(city.segments)
    stations = [s.id for s in city.sensors.values() if s.kind == "water_station"]
    sensors = sorted(city.sensors)
    segments = {
        sid: SegmentState(sid, speed, band, band == "congested", NOW - 30)
        for sid in draw(st.lists(st.sampled_from(segment_ids), max_size=12, unique=True))
        for band, speed in [(draw(st.sampled_from(BANDS)), draw(st.sampled_from([None, 12.0, 35.5, 61.0])))]
    }
    levels = {
        sid: StationState(sid, draw(st.sampled_from([None, 0.4, 1.8, 2.9])), draw(st.integers(0, 3)), NOW - 40)
        for sid in draw(st.lists(st.sampled_from(stations), max_size=4, unique=True))
    }
    health = {sid: draw(st.sampled_from(HEALTH)) for sid in draw(st.lists(st.sampled_from(sensors), max_size=12))}
    critical = [
        WallAlert(
            kind="flood.level.changed",
            ts=NOW - 60 - n,
            place=place,
            old="2",
            new="3",
            severity="critical",
            lat=15.55,
            lon=108.49,
            id=f"flood:active:{place}:{n}",
            domain="flood",
        )
        for n, place in enumerate(draw(st.lists(st.sampled_from(stations), max_size=2, unique=True)))
    ]
    clock = draw(st.sampled_from([None, NOW - 5, NOW - 65]))
    return WallSnapshot(
        clock=clock,
        kpis=Kpis(
            sum(1 for h in health.values() if h == "online"),
            len(city.sensors),
            draw(st.sampled_from([None, 44.6])),
            sum(1 for s in segments.values() if s.congested),
            len(city.segments),
            max((s.alarm for s in levels.values()), default=0),
            None,
            len(critical),
            draw(st.integers(0, 3)),
        ),
        segments=segments,
        stations=levels,
        gauges={},
        hotspots={},
        health=health,
        recent_alerts=[],
        critical_alerts=critical,
        active_alerts=critical,
        stale=False,
        stale_reason=None,
        last_event_age_s=1.0,
        simulated_speed=draw(st.sampled_from([None, 60.0])),
    )


@settings(max_examples=example_count(200, 40), deadline=None)
@given(data=st.data())
def test_the_shared_picture_gives_each_screen_what_its_own_computation_gives(city: City, data: st.DataObject) -> None:
    stations = [s.id for s in city.sensors.values() if s.kind == "water_station"]
    every_alert = [f"flood:active:{place}:{n}" for place in stations for n in (0, 1)]
    earlier = st.sampled_from(
        [
            None,
            {},
            {"v": "garbage"},
            {"v": {"clock": "stale"}, "focus": "wl-x"},
            *({"focus": place, "seen": every_alert} for place in stations),  # focused on an alert seen before
        ]
    )
    screens: list[Any] = [data.draw(earlier) for _ in range(data.draw(st.integers(1, 4)))]
    langs = [data.draw(st.sampled_from(["vi", "en"])) for _ in screens]
    maps = MapMemory(data.draw(st.sampled_from([2, 32])))  # the process's map versions (a small memory forgets)
    shown: list[Shown] = [(None, {}) for _ in screens]
    own_shown: list[Shown] = [(None, {}) for _ in screens]
    for step in range(data.draw(st.integers(1, 5))):
        snapshot = data.draw(city_states(city))
        if data.draw(st.booleans()):
            snapshot = replace(snapshot, stale=True, stale_reason="no-data", last_event_age_s=90.0 + step)
        now = NOW + 2 * step
        pictures = {lang: WallPicture() for lang in ("vi", "en")}  # one per language for this data version
        for index, store in enumerate(screens):
            if not data.draw(st.booleans()):
                continue  # this screen misses the version: it will hold an older one at the next
            client = ClientState.from_store(store)
            query = chart_query(client, now)
            own = build_tick(snapshot, None, query, city, langs[index], client, now)
            shared = build_tick(
                snapshot, None, query, city, langs[index], client, now, pictures[langs[index]], maps=maps
            )
            assert wire(shared.outputs()) == wire(own.outputs())
            shown[index] = shown_map(shown[index], shared.map_delta)
            own_shown[index] = shown_map(own_shown[index], own.map_delta)
            assert shown[index] == own_shown[index]  # the same map on screen, however it got there
            if shared.client is not no_update:
                screens[index] = json.loads(json.dumps(shared.client))


def test_the_tick_shares_one_picture_per_data_version(r: redis.Redis, keys: Keys, city: City) -> None:
    aggregator = Aggregator(r, keys, city, consumer="shared-test")
    aggregator.setup()
    shared = WallPictures()
    events = generate(city, load_scenario("normal-day"), 3, START)
    stores: dict[str, Any] = {"a": None, "b": None, "c": None}
    shown: dict[str, Shown] = {name: (None, {}) for name in stores}
    own_shown: dict[str, Shown] = {name: (None, {}) for name in stores}
    try:
        for step in range(6):
            batch = [next(events) for _ in range(400)]
            write_events(r, keys, batch, 100_000)
            aggregator.heartbeat(aggregator.drain())
            for name in stores if step % 2 == 0 else ("a",):  # b and c hold older versions on odd steps
                for lang in ("vi", "en"):
                    now = batch[-1].at + 1
                    kwargs: dict[str, Any] = {"lang": lang, "store": stores[name], "stale_after_s": STALE_AFTER_S}
                    own = update_wall(r, keys, city, now=now, **kwargs)
                    from_shared = update_wall(r, keys, city, now=now, shared=shared, **kwargs)
                    assert wire(from_shared.outputs()) == wire(own.outputs())
                    if lang == "vi":
                        shown[name] = shown_map(shown[name], from_shared.map_delta)
                        own_shown[name] = shown_map(own_shown[name], own.map_delta)
                        assert shown[name] == own_shown[name]
                    if lang == "vi" and from_shared.client is not no_update:
                        stores[name] = json.loads(json.dumps(from_shared.client))
            assert len(shared.pictures) == 2  # the newest version, once per language
        stamp = read_data_stamp(r, keys)
        assert stamp is not None
        kept = shared.pictures.get(
            picture_key(keys, "vi"),
            stamp.version,
            lambda: (read_wall_snapshot(r, keys, city, stale_after_s=1), WallPicture()),
        )
        assert kept[1].sections  # the newest version's picture was kept (worked out, it would have no section yet)
    finally:
        aggregator.close()
