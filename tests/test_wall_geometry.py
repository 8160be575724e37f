"""The map's geometry files (/city/geometry/<layer>.json): guarded like the wall, every feature of the layer once,
gzipped for a browser that accepts it, tagged and versioned by content so a browser keeps them; the wall page itself
carries only their addresses. Run on a generated city of 1,000 sensors."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from dash import Dash

from benchmarks.browser import BrowserPage
from callbacks.auth.gate import GEOMETRY_PREFIX
from callbacks.wall.geometry import KEEP_FOR
from ioc.city import City, load_city
from layouts.wall import ids
from layouts.wall.city_map import MAP_LAYERS, POINT_LAYERS, big_city
from layouts.wall.page import PATH
from simulators.citygen import write_city
from tests.sessions import display_http


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated city of 1,000 sensors and 400 segments."""
    folder = tmp_path_factory.mktemp("bigcity") / "city"
    write_city(folder, 1000, 400, seed=3)
    return folder


def geometry_path(app: Dash, layer: str) -> str:
    """The versioned address of a layer's file, as the wall page names it."""
    http = display_http(app)
    page = BrowserPage(http, PATH)
    found = json.dumps(page.page)
    start = found.index(f"{GEOMETRY_PREFIX}{layer}.json?v=")
    return found[start : found.index('"', start)]


def test_a_layer_file_is_guarded_gzipped_tagged_and_kept(make_app: Callable[..., Dash], big_folder: Path) -> None:
    app = make_app(city_dir=big_folder)
    city = load_city(big_folder)
    assert big_city(city)
    client = app.server.test_client()
    refused = client.get(f"{GEOMETRY_PREFIX}{ids.SEGMENTS}.json")
    assert refused.status_code == 401 and b"coordinates" not in refused.get_data()

    screen = display_http(app).client
    plain = screen.get(f"{GEOMETRY_PREFIX}{ids.SEGMENTS}.json")
    assert plain.status_code == 200 and plain.headers.get("Content-Encoding") is None
    features = json.loads(plain.get_data())["features"]
    assert sorted(f["properties"]["id"] for f in features) == sorted(city.segments)
    assert plain.headers["Cache-Control"] == KEEP_FOR and plain.headers["ETag"]

    zipped = screen.get(f"{GEOMETRY_PREFIX}{ids.SEGMENTS}.json", headers={"Accept-Encoding": "gzip, br"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    body = zipped.get_data()
    assert json.loads(gzip.decompress(body)) == json.loads(plain.get_data())
    assert len(body) * 3 < len(plain.get_data())  # a fraction of the plain file

    again = screen.get(f"{GEOMETRY_PREFIX}{ids.SEGMENTS}.json", headers={"If-None-Match": plain.headers["ETag"]})
    assert again.status_code == 304 and not again.get_data()
    assert screen.get(f"{GEOMETRY_PREFIX}no-such-layer.json").status_code == 404

    for layer_id, kind, _, _ in POINT_LAYERS:
        points = json.loads(screen.get(f"{GEOMETRY_PREFIX}{layer_id}.json").get_data())["features"]
        assert sorted(p["properties"]["id"] for p in points) == sorted(s.id for s in city.sensors_of(kind))


def test_the_wall_page_names_the_files_and_carries_no_features(make_app: Callable[..., Dash], big_folder: Path) -> None:
    app = make_app(city_dir=big_folder)
    page = BrowserPage(display_http(app), PATH)
    text = json.dumps(page.page)
    city = load_city(big_folder)
    assert not [s for s in city.segments if f'"{s}"' in text]  # the features come by URL, not inside the page
    assert not [s.id for s in city.sensors_of("traffic_camera") if f'"{s.id}"' in text]
    paths = {layer: geometry_path(app, layer) for layer in MAP_LAYERS}
    screen = display_http(app).client
    for layer, path in paths.items():
        reply = screen.get(path)
        assert reply.status_code == 200, layer
        assert path.endswith(f"?v={reply.headers['ETag'].strip(chr(34))}")  # the address changes with the content


def test_tam_ky_is_not_drawn_as_a_big_city(city: City) -> None:
    assert not big_city(city)
