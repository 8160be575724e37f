"""The one rule for texts and record ids (ioc/inputs.py): what it refuses and why, what it stores, and how a text
stored before it is shown."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from ioc.errors import InvalidInput
from ioc.inputs import (
    LATITUDE,
    LONGITUDE,
    MAX_ID,
    MAX_NESTING,
    check_storable,
    clean_coordinate,
    clean_id,
    clean_text,
    displayable,
    displayable_json,
    id_in_query,
    text_type,
    valid_id,
)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (["a", "list"], "must be a text, not list"),
        ({"an": "object"}, "must be a text, not dict"),
        (7, "must be a text, not int"),
        (None, "must be a text, not NoneType"),
        ("lone \ud800", r"a lone surrogate \(U\+D800\) at position 6"),
        ("nul\x00", r"a NUL character \(U\+0000\) at position 4"),
        ("bell\x07", r"a control character \(U\+0007\)"),
        ("c1\x85", r"a control character \(U\+0085\)"),
        ("tab\tin one line", r"a control character \(U\+0009\)"),
        ("two\nlines", r"a control character \(U\+000A\)"),
        ("\u202eexe.txt", r"a bidirectional control character \(U\+202E\)"),
        ("iso\u2066late", r"a bidirectional control character \(U\+2066\)"),
        ("non\ufdd0", r"a noncharacter \(U\+FDD0\)"),
        ("non\U0010ffff", r"a noncharacter \(U\+10FFFF\)"),
        ("x" * 65, "is longer than 64 characters"),
    ],
)
def test_a_text_that_breaks_the_rule_is_refused_naming_the_field(value: Any, why: str) -> None:
    with pytest.raises(InvalidInput, match=f"^the name: .*{why}"):
        clean_text(value, field="the name", max_length=64)


def test_a_text_is_stored_normalised_and_stripped() -> None:
    assert clean_text("  Nu\u031bo\u031b\u0301c  ", field="f", max_length=4) == "Nước"  # 8 characters, 4 once NFC
    assert clean_text("a\r\nb\rc\n\td ", field="f", max_length=None, multiline=True) == "a\nb\nc\n\td"
    assert clean_text(None, field="f", max_length=5, allow_none=True) == ""
    assert clean_text("left\u200fmark \u200d", field="f", max_length=20) == "left\u200fmark \u200d"  # marks stay
    with pytest.raises(InvalidInput, match="NUL"):
        clean_text("a\x00", field="f", max_length=None, multiline=True)


def test_the_pydantic_type_follows_the_same_rule() -> None:
    class Shape(BaseModel):
        note: text_type(10, multiline=True)  # type: ignore[valid-type]

    assert Shape(note=" Nu\u031bo\u031b\u0301c\r\n ").note == "Nước"
    for bad in ("\ud800", ["x"], "y" * 11, "\u202e"):
        with pytest.raises(ValidationError):
            Shape(note=bad)


@given(st.text())
def test_what_the_rule_accepts_can_always_be_encoded_and_is_kept_as_is_the_second_time(value: str) -> None:
    try:
        text = clean_text(value, field="f", max_length=None, multiline=True)
    except InvalidInput:
        return
    orjson.dumps(text)
    text.encode("utf-8")
    assert clean_text(text, field="f", max_length=None, multiline=True) == text


@pytest.mark.parametrize("value", [0, -1, MAX_ID + 1, 2**63, 2**70, True, 1.0, "7", None, [1]])
def test_an_id_beyond_the_database_integers_or_not_a_number_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInput, match=r"^incident id: must be"):
        clean_id(value, field="incident id")
    assert valid_id(value) is None


def test_an_id_in_range_is_kept() -> None:
    assert clean_id(1, field="x") == 1 and valid_id(MAX_ID) == MAX_ID


def test_an_id_in_a_query_is_digits_only_and_in_range() -> None:
    assert id_in_query("12") == 12 and id_in_query(str(MAX_ID)) == MAX_ID
    for bad in ("", "0", "-1", "+1", " 1", "1.0", "1e3", "١٢", str(MAX_ID + 1), "9" * 11, None, 12, ["1"]):
        assert id_in_query(bad) is None, bad


@pytest.mark.parametrize(
    ("value", "why"),
    [("15.5", "must be a number, not str"), (True, "not bool"), (float("nan"), "from -90"), (90.5, "from -90")],
)
def test_a_coordinate_is_a_finite_number_in_its_range(value: Any, why: str) -> None:
    with pytest.raises(InvalidInput, match=f"^lat: .*{why}"):
        clean_coordinate(value, field="lat", bounds=LATITUDE)
    assert clean_coordinate(15, field="lat", bounds=LATITUDE) == 15.0
    assert clean_coordinate(-180, field="lon", bounds=LONGITUDE) == -180.0


def test_the_database_check_finds_a_bad_text_anywhere_in_a_value() -> None:
    check_storable({"ok": ["fine", 1, None, {"Nước": "dâng"}]}, where="x")
    for bad in ("\ud800", {"a": "\x00"}, ["x", ["y", "\udfff"]], {"\ud800": 1}):
        with pytest.raises(InvalidInput, match="not stored"):
            check_storable(bad, where="x")
    deep: Any = "x"
    for _ in range(MAX_NESTING + 1):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested deeper"):
        check_storable(deep, where="x")


def test_a_stored_text_that_cannot_be_encoded_is_shown_escaped() -> None:
    assert displayable("bad \ud800 and \x00 here") == "bad \\ud800 and \\x00 here"
    assert displayable("Nước dâng") == "Nước dâng"
    shown = displayable_json({"text": ["\udfff"], "\ud800": {"n": 1}})
    assert shown == {"text": ["\\udfff"], "\\ud800": {"n": 1}}
    orjson.dumps(shown)
