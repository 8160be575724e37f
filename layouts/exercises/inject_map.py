"""The trainer's map of the city to inject an event on: the offline basemap and the road segments, a click choosing
the point (a marker shows it), the kind of event (a flood point, a crash, a device gone dark) and the button that
injects it into the exercise selected. Pure."""

from __future__ import annotations

from typing import Any, Final

import dash_leaflet as dl
from dash import dcc, html
from dash.development.base_component import Component

from ioc.city import City
from ioc.exercises.map_injects import MAP_INJECT_KINDS
from ioc.i18n import t
from layouts.common import content_bounds, segments_geojson
from layouts.exercises import ids
from layouts.wall.city_map import js

MAP_HEIGHT_PX: Final = 380
POINT_DIGITS: Final = 5  # about a metre


def clicked_point(click: Any) -> tuple[Any, Any] | None:
    """The (lat, lon) of dash-leaflet's clickData as the browser sent it (unchecked: the core's form checks it), or
    None when there is none."""
    if not isinstance(click, dict) or not isinstance(click.get("latlng"), dict):
        return None
    return click["latlng"].get("lat"), click["latlng"].get("lng")


def point_marker(lat: float, lon: float) -> dl.CircleMarker:
    """The marker of the point chosen."""
    return dl.CircleMarker(center=[lat, lon], radius=9, color="#d7263d", fillOpacity=0.6, interactive=False)


def point_text(lat: float, lon: float, lang: str) -> str:
    """The point chosen, in words."""
    return t("exercises.map.point", lang, lat=f"{lat:.{POINT_DIGITS}f}", lon=f"{lon:.{POINT_DIGITS}f}")


def inject_map(city: City, lang: str) -> Component:
    """The map, the kind of event and the button."""
    (south, west), (north, east) = city.bbox
    return html.Div(
        className="exercises-map-panel",
        children=[
            dl.Map(
                id=ids.MAP,
                center=list(city.center),
                zoom=city.zoom,
                bounds=content_bounds(city),
                zoomSnap=0.25,
                minZoom=11,
                maxBounds=[[south - 0.05, west - 0.05], [north + 0.05, east + 0.05]],
                attributionControl=False,
                className="exercises-map",
                style={"height": f"{MAP_HEIGHT_PX}px"},
                children=[
                    dl.GeoJSON(
                        data=city.basemap, style=js("basemapStyle"), pointToLayer=js("basemapPoint"), interactive=False
                    ),
                    dl.GeoJSON(
                        data=segments_geojson(city), style=js("segmentStyle"), hideout={"state": {}}, interactive=False
                    ),
                    dl.LayerGroup(id=ids.MAP_POINT),
                ],
            ),
            html.P(t("exercises.map.hint", lang), id=ids.MAP_PLACE, className="exercises-map-place"),
            dcc.RadioItems(
                id=ids.MAP_KIND,
                options=[{"label": t(f"exercises.map.kind.{kind}", lang), "value": kind} for kind in MAP_INJECT_KINDS],
                value="crash",
                className="exercises-choices",
            ),
            html.Button(t("exercises.do.map_inject", lang), id=ids.MAP_INJECT, className="exercises-button"),
        ],
    )
