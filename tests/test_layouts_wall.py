"""Wall layout builders as pure functions of the city and hand-made snapshots: what the wall shows, in vi and en."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from dash import NoUpdate, no_update
from dash.development.base_component import Component
from hypothesis import given, settings
from hypothesis import strategies as st
from plotly.utils import PlotlyJSONEncoder

from ioc.city import City
from ioc.i18n import LANGS
from ioc.snapshot import Kpis, SegmentState, SpeedSeries, StationState, WallAlert, WallSnapshot
from layouts.common import content_bounds, digest, segments_geojson, sensors_geojson
from layouts.wall import ids
from layouts.wall.alerts import MAX_ALERTS, active_alerts, alert_list, alert_value
from layouts.wall.banners import stale_banner, takeover_banner
from layouts.wall.chart import CHART_RECHOOSE_S, CHART_WINDOW_MINUTES, ChartQuery, speed_extension, speed_figure
from layouts.wall.city_map import FOCUS_ZOOM, MAP_LAYERS, MapMemory, MapStates, map_delta, map_states
from layouts.wall.flood import flood_panel, gauge_scale, gauge_views
from layouts.wall.header import clock_children
from layouts.wall.kpis import KPI_TILES, kpi_strip, kpi_views
from layouts.wall.page import layout
from layouts.wall.tick import ClientState, StoredClient, build_tick, chart_query

NOW = 1_767_600_000.0  # 2026-01-05 15:00 in Tam Kỳ


T = TypeVar("T")


def sent(value: T | NoUpdate) -> T:
    """A section this tick sent (not no_update), for the test to look into."""
    assert not isinstance(value, NoUpdate)
    return value


def make_snapshot(**changes: Any) -> WallSnapshot:
    """A healthy snapshot with no readings; tests replace what they need."""
    base = WallSnapshot(
        clock=NOW - 5,
        kpis=Kpis(68, 74, 44.6, 3, 61, 2, "wl-tam-ky", 5, 7),
        segments={},
        stations={},
        gauges={},
        hotspots={},
        health={},
        recent_alerts=[],
        critical_alerts=[],
        active_alerts=[],
        stale=False,
        stale_reason=None,
        last_event_age_s=1.0,
    )
    return replace(base, **changes)


def walk(node: Any) -> Iterator[Any]:
    """Every component in a tree (lists and single children alike)."""
    if isinstance(node, list | tuple):
        for item in node:
            yield from walk(item)
    elif isinstance(node, Component):
        yield node
        yield from walk(getattr(node, "children", None))


def texts(node: Any) -> list[str]:
    """Every string shown in a tree, in document order."""
    found: list[str] = []
    for component in walk(node):
        children = getattr(component, "children", None)
        items = children if isinstance(children, list) else [children]
        found.extend(item for item in items if isinstance(item, str))
    return found


def by_id(node: Any, component_id: object) -> Any:
    """The component with this id."""
    for component in walk(node):
        if getattr(component, "id", None) == component_id:
            return component
    raise AssertionError(f"no component {component_id!r}")


def view_alert(
    ident: str, domain: str, kind: Any, ts: float, place: str, old: str, new: str, severity: Any, lat: float, lon: float
) -> WallAlert:
    """An alert as the snapshot gives it to the pages."""
    return WallAlert(
        kind=kind, ts=ts, place=place, old=old, new=new, severity=severity, lat=lat, lon=lon, id=ident, domain=domain
    )


def critical(
    place: str = "wl-tam-ky", ts: float = NOW - 60, ident: str = "flood:active:flood:wl-tam-ky:1"
) -> WallAlert:
    return view_alert(ident, "flood", "flood.level.changed", ts, place, "", "3", "critical", 15.55633, 108.49)


# ---------------------------------------------------------------- KPI strip


def test_kpi_strip_shows_the_numbers_in_vietnamese(city: City) -> None:
    shown = texts(kpi_strip(make_snapshot().kpis, city, "vi"))
    for expected in ("68", "trên 74", "44,6", "km/h", "3", "trên 61", "BĐ II", "tại Trạm Tam Kỳ", "5", "7"):
        assert expected in shown, expected
    assert "Thiết bị hoạt động" in shown and "Bản tin bị loại" in shown


def test_kpi_strip_in_english_uses_english_numbers_and_words(city: City) -> None:
    shown = texts(kpi_strip(make_snapshot().kpis, city, "en"))
    for expected in ("Sensors online", "68", "of 74", "44.6", "Slow" if 44.6 < 25 else "Smooth", "at Trạm Tam Kỳ"):
        assert expected in shown, expected


def test_kpi_states_colour_the_tiles(city: City) -> None:
    views = {v.key: v for v in kpi_views(Kpis(50, 74, 12.0, 20, 61, 3, "wl-tam-ky", 9, 0), city, "vi")}
    assert views["sensors"].state == "bad"  # 50 of 74 online
    assert views["speed"].state == "bad" and views["speed"].sub == "Ùn tắc"  # 12 km/h is congested
    assert views["congested"].state == "bad"
    assert views["flood"].state == "a3" and views["flood"].value == "BĐ III"
    assert views["deadletters"].state == "ok"


def test_kpi_strip_without_data_shows_dashes(city: City) -> None:
    views = kpi_views(None, city, "en")
    assert [v.key for v in views] == [key for key, _, _ in KPI_TILES]
    assert {v.value for v in views} == {"—"}


# ---------------------------------------------------------------- flood panel


def test_flood_gauge_marks_the_three_alarm_lines(city: City) -> None:
    sensor = city.sensors["wl-tam-ky"]
    assert sensor.alarm_levels_m == (1.7, 2.2, 2.7)
    snapshot = make_snapshot(stations={"wl-tam-ky": StationState("wl-tam-ky", 2.35, 2, NOW - 30)})
    panel = flood_panel(snapshot, city, "vi")
    gauge = by_id(panel, {"type": ids.GAUGE, "station": "wl-tam-ky"})
    marks = [c for c in walk(gauge) if "wall-gauge-mark " in str(getattr(c, "className", ""))]
    assert [m.title for m in marks] == ["Báo động I: 1,70 m", "Báo động II: 2,20 m", "Báo động III: 2,70 m"]
    low, high = gauge_scale((1.7, 2.2, 2.7), sensor.normal_level_m)
    lefts = [float(m.style["left"].rstrip("%")) for m in marks]
    assert lefts == sorted(lefts) and all(0 < x < 100 for x in lefts)
    assert lefts[0] == pytest.approx((1.7 - low) / (high - low) * 100, abs=0.1)
    fill = by_id(gauge, {"type": ids.GAUGE_FILL, "station": "wl-tam-ky"})
    assert lefts[1] < float(fill.style["width"].rstrip("%")) < lefts[2]  # 2.35 m lies between BĐ II and BĐ III
    assert "2,35 m" in texts(gauge) and "Báo động II" in texts(gauge)
    assert gauge.className == "wall-gauge wall-gauge--a2"
    assert gauge.style == {"order": 0}  # the highest alarm comes first


def test_gauges_show_missing_readings_and_device_problems(city: City) -> None:
    snapshot = make_snapshot(
        stations={"wl-tam-ky": StationState("wl-tam-ky", 0.6, 0, NOW)}, health={"wl-tam-ky": "offline"}
    )
    views = {v.station: v for v in gauge_views(snapshot, city, "en")}
    assert views["wl-tam-ky"].status == "offline" and views["wl-tam-ky"].badge == "Offline"
    others = [v for s, v in views.items() if s != "wl-tam-ky"]
    assert others and all(v.status == "unknown" and v.value == "No reading yet" for v in others)
    assert len(views) == len(city.sensors_of("water_station"))


def test_alert_list_shows_changes_with_old_and_new_in_words(city: City) -> None:
    alerts = [
        view_alert("flood:2-0", "flood", "flood.level.changed", NOW, "wl-tam-ky", "2", "3", "critical", 15.5, 108.4),
        view_alert(
            "flood:1-0", "flood", "flood.level.changed", NOW - 600, "wl-tam-ky", "0", "1", "warning", 15.5, 108.4
        ),
    ]
    items = alert_list(alerts, city, "vi")
    assert texts(items[0]) == ["15:00", "Mực nước", "Trạm Tam Kỳ", "BĐ II → BĐ III"]
    assert texts(items[1])[-1] == "Bình thường → BĐ I"
    assert getattr(items[0], "className", None) == "wall-alert wall-alert--critical"
    assert texts(alert_list([], city, "en")) == ["No active alerts"]
    assert texts(alert_list([], city, "vi")) == ["Không có cảnh báo nào đang bật"]


def active(kind: str, place: str, new: str, severity: str, ts: float) -> WallAlert:
    """An active alert as the snapshot reads it from an active-alert hash (no old value)."""
    domain = {"flood.level.changed": "flood", "traffic.congestion.changed": "traffic"}.get(kind, "device")
    return view_alert(f"{domain}:active:{place}:{ts}", domain, kind, ts, place, "", new, severity, 15.5, 108.4)


def list_count(items: list[Any]) -> int:
    """How many alerts a rendered list stands for: its alert rows plus the N of a "+N more" row."""
    rows = [i for i in items if "wall-alert--more" not in i.className and "wall-alert--empty" not in i.className]
    more = [int(re.sub(r"\D", "", texts(i)[0])) for i in items if "wall-alert--more" in i.className]
    return len(rows) + sum(more)


def test_alert_list_shows_every_kind_of_active_alert_most_severe_first(city: City) -> None:
    segment = city.sensors_of("traffic_camera")[0].segments[0]
    alerts = [
        active("device.health.changed", "cam-02", "fault", "warning", NOW - 200),
        active("flood.level.changed", "wl-tam-phu", "1", "warning", NOW - 60),
        active("traffic.congestion.changed", segment, "congested", "warning", NOW - 30),
        active("flood.level.changed", "wl-tam-ky", "3", "critical", NOW - 600),
        active("device.health.changed", "spd-01", "offline", "warning", NOW - 120),
        active("flood.level.changed", "wl-an-son", "2", "warning", NOW - 300),
    ]
    snapshot = make_snapshot(active_alerts=alerts, kpis=replace(make_snapshot().kpis, active_alerts=len(alerts)))
    ordered = active_alerts(snapshot)
    # BĐ III first (critical), then among warnings BĐ II before BĐ I, then the rest newest first.
    assert [a.place for a in ordered] == ["wl-tam-ky", "wl-an-son", "wl-tam-phu", segment, "spd-01", "cam-02"]
    items = alert_list(ordered, city, "vi", limit=len(alerts))
    assert len(items) == len(alerts)  # one row per active alert, nothing folded away
    assert [texts(i)[1:2] + texts(i)[3:] for i in items] == [
        ["Mực nước", "BĐ III"],
        ["Mực nước", "BĐ II"],
        ["Mực nước", "BĐ I"],
        ["Giao thông", "Ùn tắc"],
        ["Thiết bị", "Mất kết nối"],
        ["Thiết bị", "Lỗi"],
    ]
    assert texts(items[0])[0] == "14:50" and texts(items[0])[2] == "Trạm Tam Kỳ"
    classes = [getattr(i, "className", None) for i in items[:2]]
    assert classes == ["wall-alert wall-alert--critical", "wall-alert wall-alert--warning"]
    english = alert_list(ordered, city, "en", limit=len(alerts))
    assert [texts(i)[1] for i in english] == ["Water level"] * 3 + ["Traffic", "Device", "Device"]
    assert [texts(i)[3] for i in english] == ["BĐ III", "BĐ II", "BĐ I", "Congested", "Offline", "Fault"]
    # The tick sends that list, and the KPI beside it counts the same alerts.
    query = ChartQuery(rebuild=False, since_minute=None, segment_ids=())
    update = build_tick(snapshot, None, query, city, "vi", ClientState({}), NOW)
    assert texts(update.alerts) == texts(alert_list(ordered, city, "vi"))
    assert texts(sent(update.alerts)[0]) == texts(items[0])
    shown = sent(update.kpi_values[[k for k, _, _ in KPI_TILES].index("alerts")])
    assert int(shown) == list_count(sent(update.alerts)) == 6


def test_a_long_alert_list_ends_with_how_many_more(city: City) -> None:
    alerts = [
        active("device.health.changed", s.id, "offline", "warning", NOW - i)
        for i, s in enumerate(city.sensors_of("traffic_camera")[:9])
    ]
    alerts.append(active("flood.level.changed", "wl-tam-ky", "3", "critical", NOW - 3600))
    snapshot = make_snapshot(active_alerts=alerts, kpis=replace(make_snapshot().kpis, active_alerts=len(alerts)))
    items = alert_list(active_alerts(snapshot), city, "en")
    assert len(items) == MAX_ALERTS  # the wall stays glanceable
    assert texts(items[0])[3] == "BĐ III"  # the oldest, but the most severe
    assert texts(items[-1]) == [f"+{len(alerts) - MAX_ALERTS + 1} more"]
    more = len(alerts) - MAX_ALERTS + 1
    assert texts(alert_list(active_alerts(snapshot), city, "vi")[-1]) == [f"+{more} cảnh báo khác"]
    assert list_count(items) == len(alerts) == snapshot.kpis.active_alerts
    # A change beyond the rows shown still reaches the browser: the "+N more" count moves.
    query = ChartQuery(rebuild=False, since_minute=None, segment_ids=())
    first = build_tick(snapshot, None, query, city, "en", ClientState({}), NOW)
    store = ClientState.from_store(first.client)
    fewer = replace(snapshot, active_alerts=alerts[:-2] + alerts[-1:])
    again = build_tick(snapshot, None, query, city, "en", store, NOW + 2)
    assert again.alerts is no_update
    after = build_tick(fewer, None, query, city, "en", store, NOW + 2)
    assert texts(after.alerts)[-1] == f"+{more - 1} more"


def test_alert_values_for_every_kind() -> None:
    assert alert_value("traffic.congestion.changed", "congested", "en") == "Congested"
    assert alert_value("device.health.changed", "offline", "vi") == "Mất kết nối"
    assert alert_value("flood.rain.changed", "very_heavy", "en") == "Very heavy rain"
    assert alert_value("something.else", "x", "en") == "x"


# ---------------------------------------------------------------- map state


def test_map_states_map_ids_to_bands_and_states(city: City) -> None:
    camera = city.sensors_of("traffic_camera")[0]
    seg_a, seg_b = camera.segments[0], camera.segments[-1]
    snapshot = make_snapshot(
        segments={
            seg_a: SegmentState(seg_a, 12.0, "congested", True, NOW),
            seg_b: SegmentState(seg_b, 40.0, "smooth", False, NOW),
            "seg-vcc-06": SegmentState("seg-vcc-06", None, "unknown", False, None),
        },
        stations={"wl-tam-ky": StationState("wl-tam-ky", 2.9, 3, NOW)},
        health={"spd-01": "offline", "cam-02": "fault"},
    )
    shown = map_states(snapshot, city, focus="wl-tam-ky")
    states = shown.layers
    assert set(states) == set(MAP_LAYERS)
    assert states[ids.SEGMENTS] == {seg_a: "congested", seg_b: "smooth"}  # unknown is left out
    assert states[ids.CAMERAS][camera.id] == "congested"  # the worst of the segments it watches
    assert states[ids.CAMERAS]["cam-02"] == "fault"
    assert states[ids.SPEED_CAMERAS] == {"spd-01": "offline"}
    assert states[ids.STATIONS] == {"wl-tam-ky": "a3"} and shown.focus == "wl-tam-ky"
    assert map_states(snapshot, city, focus="no-such-place").focus is None
    assert map_states(snapshot, city, focus="wl-tam-ky").version == shown.version  # named by content
    assert map_states(snapshot, city).version != shown.version


def apply_delta(held: dict[str, dict[str, str]], delta: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What assets/wall_map.js's merge does with a change: the map a browser then holds."""
    merged = {} if delta["base"] is None else {layer: dict(states) for layer, states in held.items()}
    for layer, changes in delta["layers"].items():
        states = merged.setdefault(layer, {})
        for fid, state in changes.items():
            if state == "unknown":
                states.pop(fid, None)
            else:
                states[fid] = state
    return {layer: states for layer, states in merged.items() if states}


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.dictionaries(st.sampled_from([f"s{i}" for i in range(12)]), st.sampled_from(["a0", "a1", "unknown"])),
        min_size=1,
        max_size=8,
    ),
    behind=st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=8),
)
def test_a_delta_from_any_kept_version_gives_the_newest_map(steps: list[dict[str, str]], behind: list[int]) -> None:
    """Whatever version a screen holds (kept or forgotten), what it is sent turns its map into the newest one."""
    memory = MapMemory(size=4)
    versions: list[tuple[MapStates, dict[str, dict[str, str]]]] = []
    current: dict[str, str] = {}
    for step in steps:
        current = {**current, **step}
        layers = {ids.STATIONS: {k: v for k, v in current.items() if v != "unknown"}}
        now = MapStates(layers=layers, focus=None, version=digest([layers]))
        memory.delta(versions[-1][0].version if versions else None, now)  # a screen at the previous version asked
        versions.append((now, {ids.STATIONS: dict(layers[ids.STATIONS])}))
        for back in behind:
            held_states, held_map = versions[max(0, len(versions) - 1 - back)]
            delta = json.loads(memory.delta(held_states.version, now))
            assert delta["v"] == now.version
            assert apply_delta(held_map, delta) == {k: v for k, v in now.layers.items() if v}
        assert json.loads(memory.delta(None, now))["base"] is None  # nothing held: the whole map


def test_a_delta_carries_only_what_changed(city: City) -> None:
    before = map_states(make_snapshot(health={"spd-01": "offline", "cam-02": "fault"}), city)
    after = map_states(make_snapshot(health={"spd-01": "offline", "cam-03": "fault"}), city)
    delta = map_delta(before, after)
    assert delta["base"] == before.version and delta["v"] == after.version
    assert delta["layers"] == {ids.CAMERAS: {"cam-02": "unknown", "cam-03": "fault"}}
    assert json.loads(MapMemory(0).delta(before.version, after))["base"] is None  # nothing kept: the whole map


def test_static_geometry_carries_ids_only(city: City) -> None:
    segments = segments_geojson(city)
    assert len(segments["features"]) == len(city.segments)
    assert set(segments["features"][0]["properties"]) == {"id", "tooltip"}
    stations = sensors_geojson(city.sensors_of("water_station"))
    assert {f["properties"]["kind"] for f in stations["features"]} == {"water_station"}
    south_west, north_east = content_bounds(city)
    assert south_west[0] < north_east[0] and south_west[1] < north_east[1]


# ---------------------------------------------------------------- banners and chart


def test_stale_banner_reasons() -> None:
    assert stale_banner(make_snapshot(), "vi") is None
    down = make_snapshot(stale=True, stale_reason="redis", last_event_age_s=None)
    assert texts(stale_banner(down, "en")) == ["Cannot reach Redis: the figures on screen may be out of date"]
    quiet = make_snapshot(stale=True, stale_reason="no-data", last_event_age_s=95.4)
    assert texts(stale_banner(quiet, "vi")) == ["Không có dữ liệu mới trong 95 giây"]


def test_takeover_banner_names_place_level_and_time(city: City) -> None:
    snapshot = make_snapshot(
        stations={"wl-tam-ky": StationState("wl-tam-ky", 2.86, 3, NOW)}, critical_alerts=[critical()]
    )
    shown = " ".join(texts(takeover_banner(snapshot, city, "vi")))
    assert "Báo động III tại Trạm Tam Kỳ: mực nước 2,86 m lúc 14:59" in shown
    assert "Alarm III at Trạm Tam Kỳ" in " ".join(texts(takeover_banner(snapshot, city, "en")))
    assert takeover_banner(make_snapshot(), city, "vi") is None


def test_speed_figure_uses_plain_lists(city: City) -> None:
    minutes = [int(NOW // 60) - 2, int(NOW // 60) - 1]
    series = SpeedSeries(minutes, [30.5, None], {"seg-pct-01": [20.0, 21.0], "seg-hv-01": [None, 9.5]})
    figure = speed_figure(series, city, "vi")
    assert [trace["name"] for trace in figure["data"]] == ["Trung bình TP", "Phan Châu Trinh (1)", "Hùng Vương (1)"]
    for trace in figure["data"]:
        assert type(trace["x"]) is list and type(trace["y"]) is list
    # x is the city's wall clock in ms (plotly shows epoch ms as UTC): 14:58 and 14:59 on 5 January 2026
    assert figure["data"][0]["x"] == [
        int(datetime(2026, 1, 5, hour, minute, tzinfo=UTC).timestamp() * 1000) for hour, minute in ((14, 58), (14, 59))
    ]
    assert figure["layout"]["xaxis"]["type"] == "date"
    json.dumps(figure)  # nothing but JSON types, so the browser can append to it
    extend = speed_extension(series, ["seg-pct-01", "seg-hv-01"], city)
    assert extend is not None
    assert extend[1:] == [[0, 1, 2], CHART_WINDOW_MINUTES]
    assert extend[0]["y"] == [[30.5, None], [20.0, 21.0], [None, 9.5]]


# ---------------------------------------------------------------- the tick


def unchanged(value: Any) -> bool:
    """Whether a tick output sends nothing: no_update, or a wildcard list of no_update."""
    return value is no_update or (isinstance(value, list) and bool(value) and all(v is no_update for v in value))


def test_tick_sends_only_what_changed(city: City) -> None:
    snapshot = make_snapshot()
    series = SpeedSeries([int(NOW // 60) - 1], [40.0], {"seg-pct-01": [30.0]})
    first = build_tick(snapshot, series, chart_query(ClientState({}), NOW), city, "vi", ClientState({}), NOW)
    assert first.kpi_values[0] == "68" and first.chart_figure is not no_update
    assert sent(first.viewport)["transition"] == "fitBounds"  # a fresh page fits the city once its size is final
    store = ClientState.from_store(json.loads(json.dumps(first.client)))
    query = chart_query(store, NOW + 2)
    assert query == ChartQuery(rebuild=False, since_minute=int(NOW // 60) - 1, segment_ids=("seg-pct-01",))
    empty = SpeedSeries([], [], {"seg-pct-01": []})
    second = build_tick(snapshot, empty, query, city, "vi", store, NOW + 2)
    assert [name for name, value in second.outputs().items() if not unchanged(value)] == ["heartbeat"]
    busier = replace(snapshot, kpis=replace(snapshot.kpis, congested_segments=4))
    third = build_tick(busier, empty, query, city, "vi", store, NOW + 4)
    assert third.kpi_values[2] == "4" and unchanged(third.clock) and unchanged(third.kpi_classes)


def test_new_critical_alert_takes_over_once_and_leaves_with_it(city: City) -> None:
    stations = {"wl-tam-ky": StationState("wl-tam-ky", 2.86, 3, NOW)}
    alarm = make_snapshot(stations=stations, critical_alerts=[critical()])
    query = ChartQuery(rebuild=False, since_minute=None, segment_ids=())
    first = build_tick(alarm, None, query, city, "en", ClientState({}), NOW)
    assert first.viewport == {"center": [15.55633, 108.49], "zoom": FOCUS_ZOOM, "transition": "flyTo"}
    assert sent(first.alarm)["id"] == critical().id
    assert first.takeover is not None and first.takeover is not no_update
    assert json.loads(sent(first.map_delta))["focus"] == "wl-tam-ky"
    store = ClientState.from_store(first.client)
    again = build_tick(alarm, None, query, city, "en", store, NOW + 2)
    assert again.viewport is no_update and again.alarm is no_update and again.takeover is no_update
    calm = make_snapshot(stations={"wl-tam-ky": StationState("wl-tam-ky", 2.5, 2, NOW)})
    assert again.client is no_update  # nothing new for this browser to remember
    after = build_tick(calm, None, query, city, "en", store, NOW + 4)
    assert after.takeover is None
    assert sent(after.viewport)["transition"] == "flyToBounds"
    assert json.loads(sent(after.map_delta))["focus"] is None


def test_lost_redis_keeps_the_last_figures_under_the_banner(city: City) -> None:
    snapshot = make_snapshot(stale=True, stale_reason="redis", last_event_age_s=None)
    query = ChartQuery(rebuild=True, since_minute=None, segment_ids=None)
    update = build_tick(snapshot, None, query, city, "vi", ClientState({}), NOW)
    assert texts(update.stale) == ["Mất kết nối Redis: số liệu trên màn hình có thể đã cũ"]
    assert unchanged(update.kpi_values) and update.map_delta is no_update
    assert update.chart_figure is no_update and update.alarm is no_update


def test_chart_segments_are_chosen_again_after_ten_minutes() -> None:
    state = ClientState({}, chart_minute=100, chart_segments=("a",), chart_chosen_at=NOW)
    assert not chart_query(state, NOW + CHART_RECHOOSE_S - 1).rebuild
    assert chart_query(state, NOW + CHART_RECHOOSE_S).rebuild


def test_client_store_survives_garbage() -> None:
    assert ClientState.from_store("nonsense") == ClientState({})
    full = ClientState(
        {"clock": "abc"}, chart_minute=5, chart_segments=("seg-a",), chart_chosen_at=1.5, seen=("x",), focus="wl-tam-ky"
    )
    assert StoredClient.model_validate(full.to_store()).model_dump(mode="json") == full.to_store()
    assert ClientState.from_store(json.loads(json.dumps(full.to_store()))) == full
    assert ClientState.from_store({"v": 3, "chart": [], "seen": [1, "x"]}).seen == ("x",)


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize("lang", LANGS)
def test_page_renders_in_both_languages_without_missing_texts(city: City, lang: str) -> None:
    page = layout(city, lang=lang, refresh_ms=2000)
    shown = texts(page)
    assert not [s for s in shown if re.fullmatch(r"\[[a-z_.]+\]", s)]  # a missing key shows as [key]
    title = "Trung tâm Điều hành Đô thị thông minh Tam Kỳ" if lang == "vi" else "Tam Ky Intelligent Operations Centre"
    assert title in shown
    assert by_id(page, ids.INTERVAL).interval == 2000
    assert by_id(page, ids.LANG).data == lang
    found = [c.id for c in walk(page) if getattr(c, "id", None) is not None]
    plain = [i for i in found if isinstance(i, str)]
    assert len(plain) == len(set(plain)) and all(i.startswith("wall-") for i in plain)
    assert all(i["type"].startswith("wall-") for i in found if isinstance(i, dict))
    json.dumps(page, cls=PlotlyJSONEncoder)  # serialisable as sent


def test_the_clock_says_when_the_city_runs_on_simulated_time(city: City) -> None:
    real = clock_children(make_snapshot(), city, "vi")
    assert real == ["14:59:55"]  # NOW less 5 s, in Tam Kỳ
    demo = clock_children(make_snapshot(simulated_speed=60.0), city, "en")
    assert demo[0] == "14:59:55" and texts(demo[1]) == ["SIMULATED ×60"]
    assert texts(clock_children(make_snapshot(simulated_speed=60.0), city, "vi")[1]) == ["MÔ PHỎNG ×60"]
