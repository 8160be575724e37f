"""View helpers every page shares: place names, local time, map geometry, and the "changed since this browser saw
it" diff that keeps per-tick responses small. Pure functions of the city and plain data; nothing here reads Redis."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final, TypeVar, cast
from zoneinfo import ZoneInfo

from dash import NoUpdate, html, no_update

from ioc.city import City, Sensor
from ioc.i18n import LANGS, TEXTS, normalize_lang, t
from ioc.links import lang_link

T = TypeVar("T")

# ---------------------------------------------------------------- names and time


def local_time(ts: float | None, tz: str, fmt: str = "%H:%M") -> str:
    """Epoch seconds as wall-clock text in the city's time zone."""
    if ts is None:
        return "--:--"
    return datetime.fromtimestamp(ts, zone(tz)).strftime(fmt)


DATE_TIME_FORMATS: Final[dict[str, str]] = {"vi": "%d/%m/%Y %H:%M", "en": "%Y-%m-%d %H:%M"}


def local_datetime(moment: datetime | None, tz: str, lang: str, *, seconds: bool = False) -> str:
    """A stored time (UTC-aware; naive read as UTC) as the city's date and time, written as the language does:
    `05/01/2026 15:00` in Vietnamese, `2026-01-05 15:00` in English; `—` when unknown."""
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    fmt = DATE_TIME_FORMATS.get(lang, DATE_TIME_FORMATS["vi"]) + (":%S" if seconds else "")
    return aware.astimezone(zone(tz)).strftime(fmt)


@cache
def zone(tz: str) -> ZoneInfo:
    """The time zone of that name, built once per process."""
    return ZoneInfo(tz)


def segment_name(city: City, segment_id: str) -> str:
    """A short name for a road segment: its road and its place along the road, e.g. "Phan Châu Trinh (3)"."""
    segment = city.segments.get(segment_id)
    if segment is None:
        return segment_id
    same_road = [s.id for s in city.segments.values() if s.road == segment.road]
    return f"{segment.road} ({same_road.index(segment_id) + 1})" if len(same_road) > 1 else segment.road


def place_name(city: City, place: str) -> str:
    """A human name for a sensor or road segment id, with the ward for segments (the id if unknown)."""
    sensor = city.sensors.get(place)
    if sensor is not None:
        return sensor.name
    segment = city.segments.get(place)
    if segment is not None:
        ward = city.wards.get(segment.ward)
        return f"{segment_name(city, place)} · {ward.name}" if ward else segment_name(city, place)
    return place


def health_problem(health: Mapping[str, str], sensor_id: str) -> str | None:
    """A device health that overrides what a sensor measures on screen ("offline" or "fault"), else None."""
    status = health.get(sensor_id)
    return status if status in ("offline", "fault") else None


# ---------------------------------------------------------------- map geometry (static, sent once with a page)


def content_bounds(city: City) -> list[list[float]]:
    """The [[south, west], [north, east]] box around every segment and sensor: what a city map shows at rest."""
    points = [p for s in city.segments.values() for p in s.coords] + [(s.lat, s.lon) for s in city.sensors.values()]
    if not points:
        (south, west), (north, east) = city.bbox
        return [[south, west], [north, east]]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return [[min(lats), min(lons)], [max(lats), max(lons)]]


def segments_geojson(city: City) -> dict[str, Any]:
    """Road segments as GeoJSON lines carrying only their id and a tooltip; styles come from the hideout."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for y, x in s.coords]},
            "properties": {"id": s.id, "tooltip": place_name(city, s.id)},
        }
        for s in city.segments.values()
    ]
    return {"type": "FeatureCollection", "features": features}


def sensors_geojson(sensors: Iterable[Sensor]) -> dict[str, Any]:
    """Sensors as GeoJSON points with id, kind and name."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(s.lon, 6), round(s.lat, 6)]},
            "properties": {"id": s.id, "kind": s.kind, "name": s.name, "tooltip": s.name},
        }
        for s in sensors
    ]
    return {"type": "FeatureCollection", "features": features}


# ---------------------------------------------------------------- what changed since this browser saw it


def digest(value: object) -> str:
    """A short content hash that is the same in every worker process (unlike hash())."""
    data = json.dumps(value, sort_keys=True, default=repr, ensure_ascii=False).encode()
    return hashlib.blake2b(data, digest_size=6).hexdigest()


_UNBUILT: Final = object()  # a shared section whose components no screen has needed yet

Shared = dict[tuple[str, object], list[Any]]  # (section, variant) -> [its hash, its built value or _UNBUILT]


class SectionDiff:
    """Which sections of a page changed since this browser last saw them, by content hash.

    `seen` is the section -> hash map the browser sent back (kept in its dcc.Store); a section is built and sent
    only when the hash of its key differs, and `versions` is the map to store again. `salt` enters every hash
    (e.g. the language: the same figures in another language are a change). While `hold` is set, every section
    but those in `unless` keeps what the browser shows (e.g. the last known figures under a "Redis lost" banner).
    With `shared` (a picture of one data version, shared by every screen of the process), a section's hash and its
    built value are made once per (section, variant) and reused: the caller vouches that the key is then a function
    of that data version and the variant. Workers keep nothing else between requests.
    """

    def __init__(
        self,
        seen: Mapping[str, str],
        *,
        salt: object = None,
        hold: bool = False,
        unless: Collection[str] = (),
        shared: Shared | None = None,
    ) -> None:
        self.versions: dict[str, str] = dict(seen)
        self._salt = salt
        self._hold = hold
        self._unless = frozenset(unless)
        self._shared = shared

    def changed(
        self, section: str, key: object, build: Callable[[], T], *, share: bool = True, variant: object = None
    ) -> T | NoUpdate:
        """`build()` if the section's content (`key`) differs from what the browser shows, else no_update."""
        if self._hold and section not in self._unless:
            return no_update
        shared = self._shared if share else None
        slot = shared.get((section, variant)) if shared is not None else None
        if slot is None:
            slot = [digest([self._salt, key]), _UNBUILT]
            if shared is not None:
                slot = shared.setdefault((section, variant), slot)  # two threads at once: both use the one kept
        if self.versions.get(section) == slot[0]:
            return no_update
        self.versions[section] = slot[0]
        if slot[1] is _UNBUILT:
            slot[1] = build()
        return cast(T, slot[1])

    def value(self, section: str, value: T, *, share: bool = True, variant: object = None) -> T | NoUpdate:
        """A section sent as its own content (e.g. a small map state): `value` if it changed, else no_update."""
        return self.changed(section, value, lambda: value, share=share, variant=variant)

    def items(self, section: str, values: list[T]) -> list[T] | list[NoUpdate]:
        """A wildcard (ALL) output: the whole list when it changed, else no_update for each item."""
        result = self.value(section, values)
        return [no_update] * len(values) if isinstance(result, NoUpdate) else values


DROPDOWN_LABELS: Final = (
    "select_all",
    "deselect_all",
    "selected_count",
    "search",
    "clear_search",
    "clear_selection",
    "no_options_found",
)


def dropdown_labels(lang: str) -> Any:
    """The texts Dash's dropdown draws itself (search, select all, ...), in the page's language (a
    `dcc.Dropdown.Labels`; `{num_selected}` is filled in by the dropdown)."""
    return {name: TEXTS[f"common.dropdown.{name}"][normalize_lang(lang)] for name in DROPDOWN_LABELS}


def grid_locale(lang: str) -> dict[str, str]:
    """The texts AG Grid draws itself (no rows, loading), in the page's language."""
    return {"noRowsToShow": t("common.grid.no_rows", lang), "loadingOoo": t("common.grid.loading", lang)}


def language_switch(path: str, lang: str, prefix: str, **keep: str) -> html.Nav:
    """The VI/EN links of a desk page (`prefix`-lang, `prefix`-lang-link classes), the current one marked; `keep`:
    query values the other language's link keeps (e.g. the exercise a report shows)."""
    return html.Nav(
        className=f"{prefix}-lang",
        title=t("wall.language", lang),
        children=[
            html.A(
                code.upper(),
                href=lang_link(path, code, **keep),
                className=f"{prefix}-lang-link{' is-active' if code == lang else ''}",
            )
            for code in LANGS
        ],
    )
