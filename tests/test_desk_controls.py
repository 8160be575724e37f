"""The desk pages (incidents, managers, admin) speak one language down to the texts Dash's own controls draw: every
dropdown carries its labels (search, select all, ...), every date picker its placeholders, the grid its overlay,
and every page root the `desk` class that gives those controls the dark palette (assets/shell.css)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from dash import dcc

from ioc.city import City
from ioc.i18n import TEXTS
from layouts.admin.page import AdminData
from layouts.admin.page import layout as admin_layout
from layouts.common import DROPDOWN_LABELS, dropdown_labels
from layouts.incidents.page import layout as incidents_layout
from layouts.managers.page import layout as managers_layout
from tests.test_layouts_wall import walk


def pages(city: City, lang: str) -> dict[str, Any]:
    """Each desk page's layout, empty of data, in `lang`."""
    return {
        "incidents": incidents_layout(
            city, rows=[], marker="", limit=500, units=("police-113",), lang=lang, tile_url=""
        ),
        "managers": managers_layout(
            lang=lang, types=("flood",), wards={"tam-ky": "Tam Kỳ"}, severities=("critical",), today=date(2026, 12, 1)
        ),
        "admin": admin_layout(AdminData(), me=None, lang=lang, tz=city.timezone),
    }


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_dash_controls_speak_the_page_language(city: City, lang: str) -> None:
    for name, page in pages(city, lang).items():
        assert "desk" in page.className.split(), name
        dropdowns: list[Any] = [c for c in walk(page) if isinstance(c, dcc.Dropdown)]
        assert dropdowns, name
        for dropdown in dropdowns:
            assert dropdown.labels == dropdown_labels(lang), (name, dropdown.id)
            assert dropdown.labels["search"] == TEXTS["common.dropdown.search"]["vi" if lang == "vi" else "en"]
        pickers: list[Any] = [c for c in walk(page) if isinstance(c, dcc.DatePickerRange)]
        for picker in pickers:
            assert picker.start_date_placeholder_text and picker.end_date_placeholder_text, (name, picker.id)
    if lang == "vi":
        assert dropdown_labels("vi")["select_all"] == "Chọn tất cả"


def test_every_dropdown_label_has_both_languages() -> None:
    for name in DROPDOWN_LABELS:
        assert set(TEXTS[f"common.dropdown.{name}"]) == {"vi", "en"}
    assert "{num_selected}" in TEXTS["common.dropdown.selected_count"]["vi"]
