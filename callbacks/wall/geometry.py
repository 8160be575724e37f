"""The map's geometry files, `/city/geometry/<layer>.json`: each map layer's features (road segments, or one kind of
sensor) as GeoJSON, built once per process from the city, sent gzipped to a browser that accepts it, with an ETag
and an address versioned by its content (`?v=<etag>`), so a screen fetches them once and keeps them (`private`: the
city's data, only for the signed-in browser). The page carries only these addresses; the states come with the tick.

Guarded like the wall: the gate answers 401 without a session; a principal that may not view the wall gets 403.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from flask import Blueprint, Response, request

from callbacks import resources
from callbacks.auth.gate import GEOMETRY_PREFIX
from callbacks.auth.guards import refusal
from callbacks.auth.principal import principal
from ioc.city import City
from ioc.identity.roles import Permission
from layouts.common import segments_geojson, sensors_geojson
from layouts.wall import ids
from layouts.wall.city_map import POINT_LAYERS

GEOMETRY_NOTE: Final = "ioc.wall.geometry"  # the resources' note holding this process's GeometryFiles
KEEP_FOR: Final = "private, max-age=31536000, immutable"  # the address changes with the content

geometry = Blueprint("geometry", __name__)


@dataclass(frozen=True)
class GeometryFile:
    """One layer's GeoJSON as sent: its bytes, gzipped once, and its content tag."""

    body: bytes
    gzipped: bytes
    etag: str


def layer_geojson(city: City, layer: str) -> dict[str, Any] | None:
    """A map layer's features, None for a name that is no layer."""
    if layer == ids.SEGMENTS:
        return segments_geojson(city)
    for layer_id, kind, _, _ in POINT_LAYERS:
        if layer == layer_id:
            return sensors_geojson(city.sensors_of(kind))
    return None


def geometry_file(city: City, layer: str) -> GeometryFile | None:
    """A layer's file, encoded compactly (no spaces) and gzipped; None for a name that is no layer."""
    features = layer_geojson(city, layer)
    if features is None:
        return None
    body = json.dumps(features, separators=(",", ":"), ensure_ascii=False).encode()
    etag = hashlib.blake2b(body, digest_size=10).hexdigest()
    return GeometryFile(body=body, gzipped=gzip.compress(body, compresslevel=6, mtime=0), etag=etag)


@dataclass(frozen=True)
class GeometryFiles:
    """Every layer's file of the attached resources' city, built at the first need."""

    files: Mapping[str, GeometryFile]


def geometry_files() -> GeometryFiles:
    """The layers' files kept with the resources attached (other resources, in tests and benchmarks, start afresh)."""
    res = resources()
    kept = res.notes.get(GEOMETRY_NOTE)
    if kept is None:
        layers = [ids.SEGMENTS, *(layer[0] for layer in POINT_LAYERS)]
        made = GeometryFiles({layer: file for layer in layers if (file := geometry_file(res.city, layer)) is not None})
        kept = res.notes.setdefault(GEOMETRY_NOTE, made)  # two threads at once: both use the one kept
    assert isinstance(kept, GeometryFiles)
    return kept


def geometry_urls() -> dict[str, str]:
    """Each map layer's file address, versioned by its content."""
    return {layer: f"{GEOMETRY_PREFIX}{layer}.json?v={file.etag}" for layer, file in geometry_files().files.items()}


@geometry.get(GEOMETRY_PREFIX + "<layer>.json")
def layer_geometry(layer: str) -> Response:
    """A layer's features for a screen that may view the wall: 304 when it holds them, gzipped when it accepts it."""
    who = principal(Permission.VIEW_WALL)
    if who is None:
        return refusal(401)
    if not who.may(Permission.VIEW_WALL):
        return refusal(403)
    file = geometry_files().files.get(layer)
    if file is None:
        return Response("no such layer\n", status=404, mimetype="text/plain")
    if file.etag in request.if_none_match:
        response = Response(status=304)
    elif request.accept_encodings["gzip"]:
        response = Response(file.gzipped, mimetype="application/json")
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(file.body, mimetype="application/json")
    response.set_etag(file.etag)
    response.headers["Cache-Control"] = KEEP_FOR
    response.headers["Vary"] = "Accept-Encoding, Cookie"
    return response
