"""Interface texts: every key in both languages, placeholders consistent, clear fallbacks."""

from __future__ import annotations

import logging
import string

import pytest

from ioc.i18n import LANGS, TEXTS, fmt_number, normalize_lang, t


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_key_has_both_languages_with_the_same_placeholders(key: str) -> None:
    entry = TEXTS[key]
    assert set(entry) == set(LANGS)
    assert all(entry[lang].strip() for lang in LANGS)
    assert _fields(entry["vi"]) == _fields(entry["en"])


def test_lookup_and_placeholders() -> None:
    assert t("kpi.congested", "vi") == "Đoạn đường ùn tắc"
    assert t("kpi.congested", "en") == "Congested segments"
    assert t("stale.no_data", "en", seconds=45) == "No new data for 45 seconds"
    assert t("stale.no_data", "vi", seconds=45) == "Không có dữ liệu mới trong 45 giây"


def test_missing_key_shows_the_key_in_brackets(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ioc.i18n"):
        assert t("no.such.key", "vi") == "[no.such.key]"
    assert "no.such.key" in caplog.text


def test_unknown_language_falls_back_to_the_default() -> None:
    assert t("kpi.alerts", "fr") == TEXTS["kpi.alerts"]["vi"]
    assert normalize_lang("EN") == "en"
    assert normalize_lang("en-GB") == "en"
    assert normalize_lang(None, "en") == "en"
    assert normalize_lang("xx", "en") == "en"


def test_missing_placeholder_value_returns_the_unfilled_text() -> None:
    assert t("stale.no_data", "en") == "No new data for {seconds} seconds"
    assert t("stale.no_data", "en", other=1) == "No new data for {seconds} seconds"


def test_numbers_follow_the_language() -> None:
    assert fmt_number(2.5, "vi", 2) == "2,50"
    assert fmt_number(1234.5, "vi") == "1.234,5"
    assert fmt_number(1234.5, "en") == "1,234.5"
    assert fmt_number(None, "en") == "—"
