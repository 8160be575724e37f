"""Open an incident by hand: type, severity, a description, and the place picked by clicking on a map (the
nearest road or sensor names it). Pure: the city and plain values in, components out."""

from __future__ import annotations

import math
from typing import Any, Final

import dash_leaflet as dl
from dash import dcc, html
from dash.development.base_component import Component

from ioc.city import City
from ioc.i18n import t
from ioc.incidents.model import ENGINE_TYPES, MANUAL_TYPES, SEVERITY_ORDER
from ioc.incidents.texts import label
from layouts.common import content_bounds, dropdown_labels
from layouts.incidents import ids
from layouts.incidents.detail import base_layers

DEFAULT_TYPE: Final = MANUAL_TYPES[0]
DEFAULT_SEVERITY: Final = "warning"


def clicked_point(click: Any) -> tuple[float, float] | None:
    """The (lat, lon) of a map click as dash-leaflet reports it ({"latlng": {"lat", "lng"}} or [lat, lon])."""
    if not isinstance(click, dict):
        return None
    where = click.get("latlng")
    try:
        if isinstance(where, dict):
            point = float(where["lat"]), float(where["lng"])
        elif isinstance(where, list | tuple) and len(where) == 2:
            point = float(where[0]), float(where[1])
        else:
            return None
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return point if all(math.isfinite(v) for v in point) else None


def pin(lat: float, lon: float) -> list[Component]:
    """The picked point on the map."""
    return [
        dl.CircleMarker(
            center=[lat, lon],
            radius=9,
            className="inc-map-pin",
            pathOptions={"color": "#ffb020", "weight": 3, "fillOpacity": 0.4},
        )
    ]


def picked_text(place_name: str, lat: float, lon: float, lang: str) -> str:
    """The place picked, as the form shows it."""
    return t("incidents.new.picked", lang, place=place_name, lat=f"{lat:.5f}", lon=f"{lon:.5f}")


def report_form(city: City, lang: str, tile_url: str) -> Component:
    """The form: type (the kinds people report first), severity, description, the map to pick the place on."""
    types = [{"label": label("type", k, lang), "value": k} for k in (*MANUAL_TYPES, *ENGINE_TYPES)]
    severities = [{"label": label("severity", s, lang), "value": s} for s in SEVERITY_ORDER]
    (south, west), (north, east) = city.bbox

    def field(name: str, control: Component, wide: bool = False) -> Component:
        return html.Label(
            [html.Span(t(f"incidents.new.{name}", lang), className="inc-field-label"), control],
            className=f"inc-field{' inc-field--wide' if wide else ''}",
        )

    return html.Div(
        className="inc-report",
        children=[
            html.Div(
                className="inc-report-fields",
                children=[
                    field(
                        "type",
                        dcc.Dropdown(
                            labels=dropdown_labels(lang),
                            id=ids.NEW_TYPE,
                            options=types,
                            value=DEFAULT_TYPE,
                            clearable=False,
                            className="inc-select",
                        ),
                    ),
                    field(
                        "severity",
                        dcc.RadioItems(
                            id=ids.NEW_SEVERITY,
                            options=severities,
                            value=DEFAULT_SEVERITY,
                            className="inc-radio",
                            inline=True,
                        ),
                    ),
                    field(
                        "description",
                        dcc.Textarea(
                            id=ids.NEW_DESCRIPTION, value="", maxLength=2000, rows=3, className="inc-input inc-textarea"
                        ),
                        wide=True,
                    ),
                    html.Div(t("incidents.new.pick", lang), id=ids.NEW_PLACE, className="inc-muted inc-picked"),
                    html.Button(
                        t("incidents.new.submit", lang),
                        id=ids.NEW_SUBMIT,
                        n_clicks=0,
                        className="inc-button is-primary",
                    ),
                ],
            ),
            dl.Map(
                id=ids.NEW_MAP,
                bounds=content_bounds(city),
                center=list(city.center),
                zoom=city.zoom,
                maxBounds=[[south - 0.05, west - 0.05], [north + 0.05, east + 0.05]],
                minZoom=11,
                attributionControl=bool(tile_url),
                className="inc-map inc-map--pick",
                children=[*base_layers(city, tile_url), dl.LayerGroup(id=ids.NEW_PIN, children=[])],
            ),
            dcc.Store(id=ids.NEW_POINT, data=None),
        ],
    )
