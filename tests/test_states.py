"""State names cross from Python to the map's JavaScript and the CSS: declared once in layouts/states.py, and the
stylesheet and script must agree with that declaration (a state the server sends must have its colour)."""

from __future__ import annotations

import re
from pathlib import Path

from layouts.states import BAND_STATES, HEALTH_STATES, MARKER_RANKS, MARKER_STATES, SEGMENT_WEIGHTS, alarm_state
from tests.sessions import display_http

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _css_names(prefix: str) -> set[str]:
    css = (ASSETS / "wall.css").read_text()
    return set(re.findall(rf"\.{re.escape(prefix)}([a-z0-9_-]+)", css))


def test_every_marker_state_has_its_colour_and_the_stylesheet_knows_no_other() -> None:
    assert _css_names("wall-state--") == set(MARKER_STATES)


def test_every_band_has_its_segment_style_and_width() -> None:
    assert _css_names("wall-seg--") == set(BAND_STATES) == set(SEGMENT_WEIGHTS)


def test_health_and_alarm_states_are_marker_states() -> None:
    assert {"online", "offline", "fault", "unknown"} == set(HEALTH_STATES) <= set(MARKER_STATES)
    assert {alarm_state(level) for level in range(4)} <= set(MARKER_RANKS)
    assert MARKER_RANKS[alarm_state(3)] == max(MARKER_RANKS.values())  # BĐ III is the worst state on the map


def test_the_map_script_takes_its_tables_from_the_page_not_its_own_copy() -> None:
    script = (ASSETS / "wall_map.js").read_text()
    assert "window.iocStates" in script
    for name in MARKER_STATES:
        assert not re.search(rf'["\s{{,]{re.escape(name)}"?\s*:\s*\d', script), f"{name} ranked in the script"


def test_the_page_hands_the_tables_to_the_script(make_app) -> None:
    html = display_http(make_app()).request("GET", "/").text  # as a wall screen signed in with its display token
    assert 'window.iocStates = {"ranks":{"unknown":0,' in html
    assert html.index('id="ioc-states"') < html.index("wall_map.js")
