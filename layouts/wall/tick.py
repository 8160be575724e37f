"""What one wall refresh sends to one browser: the per-browser state it keeps (ClientState), the chart question
for the speed reader, and the tick builder, a pure function from a snapshot to a TickUpdate whose fields are the
tick callback's outputs by name (`no_update` wherever this browser already shows the same thing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Annotated, Any, TypeVar, cast

from dash import NoUpdate, no_update
from dash.development.base_component import Component
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)

from ioc.city import City
from ioc.snapshot import SpeedSeries, WallSnapshot
from layouts.common import SectionDiff, Shared
from layouts.wall.alerts import MAX_ALERTS, active_alerts, alert_list
from layouts.wall.banners import stale_banner, stale_key, takeover_banner, takeover_key
from layouts.wall.chart import CHART_RECHOOSE_S, ChartQuery, speed_extension, speed_figure
from layouts.wall.city_map import MapMemory, MapSource, focus_viewport, map_states, overview_viewport
from layouts.wall.flood import gauge_class, gauge_views
from layouts.wall.header import clock_children
from layouts.wall.kpis import kpi_class, kpi_views

T = TypeVar("T")

# Sections still sent while Redis is unreachable: the banners saying so; the rest keeps the last known figures.
REDIS_DOWN_SECTIONS = ("stale", "takeover")


def _or_default(default: object) -> WrapValidator:
    """A value that is malformed reads as the default instead of spoiling the rest of the store."""

    def validate(value: object, handler: ValidatorFunctionWrapHandler) -> object:
        try:
            return handler(value)
        except ValidationError:
            return default

    return WrapValidator(validate)


def _texts_only(value: object) -> list[str]:
    """The texts of a list; anything else, or any other item, is left out."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list | tuple) else []


Texts = Annotated[tuple[str, ...], BeforeValidator(_texts_only)]


class StoredChart(BaseModel):
    """The chart part of the store: the last minute shown, its segments, when they were chosen."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    minute: Annotated[StrictInt | None, _or_default(None)] = None
    segments: Texts = ()
    chosen_at: Annotated[StrictFloat | None, _or_default(None)] = None


class StoredClient(BaseModel):
    """The JSON a wall browser keeps in its dcc.Store and sends back with every tick; each part that is malformed
    (the browser's to keep, so anything may come back) reads as its default."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Annotated[dict[str, str], _or_default({})] = {}
    chart: Annotated[StoredChart, _or_default(StoredChart())] = StoredChart()
    seen: Texts = ()
    focus: Annotated[StrictStr | None, _or_default(None)] = None
    ns: Annotated[StrictStr | None, _or_default(None)] = None
    m: Annotated[StrictStr | None, _or_default(None)] = None


@dataclass(frozen=True)
class ClientState:
    """What this browser already shows, kept in its dcc.Store: section hashes, chart position, alerts seen."""

    versions: dict[str, str]
    chart_minute: int | None = None
    chart_segments: tuple[str, ...] = ()
    chart_chosen_at: float | None = None
    seen: tuple[str, ...] = ()
    focus: str | None = None
    namespace: str | None = None  # the key namespace these were read from (live, or a trainee's exercise)
    map_version: str | None = None  # the version of the map's states last sent (MapStates.version)

    @classmethod
    def from_store(cls, data: object) -> ClientState:
        """Parse the store's JSON; anything malformed (or a fresh page) starts from nothing."""
        try:
            stored = StoredClient.model_validate(data)
        except ValidationError:
            return cls(versions={})
        return cls(
            versions=dict(stored.v),
            chart_minute=stored.chart.minute,
            chart_segments=stored.chart.segments,
            chart_chosen_at=stored.chart.chosen_at,
            seen=stored.seen,
            focus=stored.focus,
            namespace=stored.ns,
            map_version=stored.m,
        )

    def of_namespace(self, namespace: str) -> ClientState:
        """This state if it was read from `namespace`, else nothing shown yet (the wall switched namespace)."""
        return self if self.namespace == namespace else ClientState(versions={}, namespace=namespace)

    def to_store(self) -> dict[str, Any]:
        """The JSON kept in the browser, in StoredClient's shape (written by hand: a model instance and its dump cost
        fifty times as much, on every tick of every screen; tests/test_layouts_wall.py checks the round trip)."""
        return {
            "v": self.versions,
            "chart": {
                "minute": self.chart_minute,
                "segments": list(self.chart_segments),
                "chosen_at": self.chart_chosen_at,
            },
            "seen": list(self.seen),
            "focus": self.focus,
            "ns": self.namespace,
            "m": self.map_version,
        }


def chart_query(client: ClientState, now: float) -> ChartQuery:
    """Rebuild the chart (and choose the slowest segments again) at first, when empty, or every ten minutes."""
    stale_choice = client.chart_chosen_at is None or now - client.chart_chosen_at >= CHART_RECHOOSE_S
    if client.chart_minute is None or not client.chart_segments or stale_choice:
        return ChartQuery(rebuild=True, since_minute=None, segment_ids=None)
    return ChartQuery(rebuild=False, since_minute=client.chart_minute, segment_ids=client.chart_segments)


Items = list[T] | list[NoUpdate]  # a wildcard (ALL) output: one value per component, or no_update for each


@dataclass(frozen=True)
class TickUpdate:
    """The tick callback's outputs by name (callbacks/wall/tick.py maps each field to its component property);
    `no_update` wherever this browser already shows the same thing. List fields go to wildcard (ALL) outputs."""

    clock: list[Component | str] | NoUpdate
    kpi_values: Items[str]
    kpi_subs: Items[str]
    kpi_classes: Items[str]
    map_delta: str | NoUpdate  # the map's states changed since the browser's version (map_delta), as JSON
    chart_figure: dict[str, Any] | NoUpdate  # a whole Plotly figure
    chart_extend: list[Any] | NoUpdate | None  # extendData: the new points of each trace
    gauge_values: Items[str]
    gauge_fills: Items[dict[str, str]]
    gauge_badges: Items[str]
    gauge_classes: Items[str]
    gauge_orders: Items[dict[str, int]]
    alerts: list[Component] | NoUpdate
    stale: Component | NoUpdate | None
    takeover: Component | NoUpdate | None
    viewport: dict[str, Any] | NoUpdate
    alarm: dict[str, str | float] | NoUpdate
    client: dict[str, Any] | NoUpdate | None  # the store to keep (None only until build_tick sets it)
    heartbeat: float

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The output names, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def outputs(self) -> dict[str, Any]:
        """The values by output name, as a callback with dict-form outputs returns them."""
        return {name: getattr(self, name) for name in self.names()}


class WallPicture:
    """What one version of the city's data looks like in one language, worked out once and shared by every screen
    of the process that shows that version: the panels' views, each section's content hash and, once a screen
    needs them, its components (SectionDiff's `shared`). A screen then gets the change from the version it holds
    by comparing its hashes with these. Never holds what depends on the time or on one screen (the stale banner,
    the chart's series, which alerts a screen has seen)."""

    def __init__(self) -> None:
        self.sections: Shared = {}
        self._views: dict[object, Any] = {}

    def once(self, name: object, compute: Callable[[], T]) -> T:
        """The view of that name, computed at its first use."""
        try:
            return cast(T, self._views[name])
        except KeyError:
            return cast(T, self._views.setdefault(name, compute()))


def build_tick(
    snapshot: WallSnapshot,
    series: SpeedSeries | None,
    query: ChartQuery,
    city: City,
    lang: str,
    client: ClientState,
    now: float,
    picture: WallPicture | None = None,
    *,
    maps: MapSource | None = None,
) -> TickUpdate:
    """Everything one tick sends to a browser, given what it already shows; pure, so tests call it directly. With
    `picture`, the shared picture of the snapshot's data version in `lang` (callbacks/wall/tick.py keeps one per
    process): what does not depend on this browser is taken from there; without, it is worked out for this tick.
    The map is sent as the change from the version last sent to this browser, when `maps` still has that version;
    else whole."""
    picture = WallPicture() if picture is None else picture
    redis_down = snapshot.stale and snapshot.stale_reason == "redis"
    diff = SectionDiff(client.versions, salt=lang, hold=redis_down, unless=REDIS_DOWN_SECTIONS, shared=picture.sections)

    # Critical alerts: new ones (not seen by this browser) take over the map and sound the alarm.
    active_ids = [a.id for a in snapshot.critical_alerts]
    new_critical = [a for a in snapshot.critical_alerts if a.id not in client.seen]
    viewport: dict[str, Any] | NoUpdate = no_update
    alarm: dict[str, str | float] | NoUpdate = no_update
    focus = client.focus
    if new_critical and not redis_down:
        target = new_critical[0]
        focus = target.place
        viewport = focus_viewport(target.lat, target.lon)
        alarm = {"id": target.id, "at": now}
    elif not snapshot.critical_alerts and focus is not None and not redis_down:
        focus = None
        viewport = overview_viewport(city, "flyToBounds")
    elif not client.versions:
        # A fresh page: fit the city again now that the page has its final size (the map was sized before).
        viewport = overview_viewport(city, "fitBounds")
    # Only active ids need remembering: an alert that ends never comes back under the same id.
    seen = client.seen if redis_down else tuple(active_ids)

    states = picture.once(("map", focus), lambda: map_states(snapshot, city, focus))
    holds = client.map_version
    map_version = client.map_version if redis_down else states.version
    delta: str | NoUpdate = no_update
    if not redis_down and holds != states.version:
        delta = (maps if maps is not None else MapMemory(0)).delta(holds, states)

    # The chart: a full figure on rebuild, else only the new completed minutes.
    figure: dict[str, Any] | NoUpdate = no_update
    extend: list[Any] | NoUpdate | None = no_update
    chart_minute, chart_segments, chosen_at = client.chart_minute, client.chart_segments, client.chart_chosen_at
    if series is not None and not redis_down:
        if query.rebuild:
            content = [series.minutes, series.city_avg, series.segments]
            figure = diff.changed("chart", content, lambda: speed_figure(series, city, lang), share=False)
            chart_segments = tuple(series.segments)
            chart_minute = series.minutes[-1] if series.minutes else None
            chosen_at = now if series.minutes else None
        elif series.minutes:
            extend = speed_extension(series, chart_segments, city)
            chart_minute = series.minutes[-1]

    kpis = picture.once("kpis", lambda: kpi_views(snapshot.kpis, city, lang))
    gauges = picture.once("gauges", lambda: gauge_views(snapshot, city, lang))
    alerts = picture.once("alerts", lambda: active_alerts(snapshot))
    alerts_key = [[a.id, a.new, a.severity] for a in alerts[:MAX_ALERTS]] + [len(alerts)]

    update = TickUpdate(
        clock=diff.changed(
            "clock", [snapshot.clock, snapshot.simulated_speed], lambda: clock_children(snapshot, city, lang)
        ),
        kpi_values=diff.items("kpi-values", [k.value for k in kpis]),
        kpi_subs=diff.items("kpi-subs", [k.sub for k in kpis]),
        kpi_classes=diff.items("kpi-classes", [kpi_class(k) for k in kpis]),
        map_delta=delta,
        chart_figure=figure,
        chart_extend=extend,
        gauge_values=diff.items("gauge-values", [g.value for g in gauges]),
        gauge_fills=diff.items("gauge-fills", [{"width": f"{g.fill_pct}%"} for g in gauges]),
        gauge_badges=diff.items("gauge-badges", [g.badge for g in gauges]),
        gauge_classes=diff.items("gauge-classes", [gauge_class(g) for g in gauges]),
        gauge_orders=diff.items("gauge-orders", [{"order": g.order} for g in gauges]),
        alerts=diff.changed("alerts", alerts_key, lambda: alert_list(alerts, city, lang)),
        stale=diff.changed("stale", stale_key(snapshot), lambda: stale_banner(snapshot, lang), share=False),
        takeover=diff.changed("takeover", takeover_key(snapshot), lambda: takeover_banner(snapshot, city, lang)),
        viewport=viewport,
        alarm=alarm,
        client=None,
        heartbeat=round(now, 3),
    )
    new_client = ClientState(
        versions=diff.versions,
        chart_minute=chart_minute,
        chart_segments=chart_segments,
        chart_chosen_at=chosen_at,
        seen=seen,
        focus=focus,
        namespace=client.namespace,
        map_version=map_version,
    )
    client_out = new_client.to_store() if new_client != client else no_update
    return replace(update, client=client_out)
