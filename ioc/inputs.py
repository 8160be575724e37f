"""The one rule for every text and record id that comes from a browser, the CLI or a stream, checked before it is
stored; and how a text stored before the rule is shown.

A text (`clean_text`, or the pydantic types made by `text_type`):
- must be a str: a list, an object, a number or (unless the caller allows it, as "") None is refused;
- is Unicode NFC-normalised: Vietnamese arrives both composed and decomposed, and is stored composed;
- holds no lone surrogate (JSON's "\\ud800" escape: no database and no JSON encoder can hold one), no NUL, no other
  C0 or C1 control character (in a multi-line text, newline and tab are kept; CRLF and CR become LF), no bidi
  embedding, override or isolate control (U+202A–U+202E, U+2066–U+2069: "Trojan Source" text that reads one way and
  says another; the marks U+200E, U+200F and U+061C stay allowed) and no noncharacter (U+FDD0–U+FDEF, U+xFFFE,
  U+xFFFF);
- has surrounding whitespace stripped, and then at most `max_length` characters.
A text that breaks the rule is refused (InvalidInput naming the field and why, never the text itself, which may be
a password), never silently mended.

A coordinate (`clean_coordinate`, or the pydantic type made by `coordinate_type`) is a finite number (an int or a
float; not a bool, not a text) within its range: a latitude from -90 to 90, a longitude from -180 to 180.

A record id (`clean_id`) is an int (not a bool, a float or a text) from 1 to 2**31 - 1: the range of the databases'
INTEGER keys (PostgreSQL's INTEGER is 32-bit), so an id beyond it is refused before it reaches SQL.

The database checks again whatever it is given, JSON included (`check_storable`, installed by ioc/db.py): no lone
surrogate, no NUL, on SQLite and PostgreSQL alike, whichever path wrote it. A text stored before this rule (an older
SQLite file) is shown escaped by `displayable` ("\\ud800", "\\x00"), never as an error.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Annotated, Any, Final

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from ioc.errors import InvalidInput

MAX_ID: Final = 2**31 - 1  # PostgreSQL INTEGER, the type of the incidents', accounts' and tokens' keys
MAX_NESTING: Final = 32  # JSON depth the database takes (an audit row's before and after are a few levels deep)

_NONCHARACTERS: Final = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_BIDI: Final = "\u202a-\u202e\u2066-\u2069"
_SURROGATES: Final = "\ud800-\udfff"
_SINGLE_LINE_BAD: Final = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}{_NONCHARACTERS}]")
_MULTI_LINE_BAD: Final = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}{_NONCHARACTERS}]")
_UNSTORABLE: Final = re.compile(f"[\x00{_SURROGATES}]")
_LINE_BREAKS: Final = re.compile("\r\n?")


def _what(char: str) -> str:
    """The kind of character the rule refuses, for the message."""
    code = ord(char)
    if code == 0:
        return "a NUL character"
    if 0xD800 <= code <= 0xDFFF:
        return "a lone surrogate"
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return "a control character"
    if 0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069:
        return "a bidirectional control character"
    return "a noncharacter"


def text_problem(value: str, *, multiline: bool) -> str:
    """Why a str breaks the rule's characters ("" if it does not): the kind, code point and position."""
    found = (_MULTI_LINE_BAD if multiline else _SINGLE_LINE_BAD).search(value)
    if found is None:
        return ""
    char = found.group()
    return f"holds {_what(char)} (U+{ord(char):04X}) at position {found.start() + 1}"


def _cleaned(value: object, *, max_length: int | None, multiline: bool) -> tuple[str, str]:
    """(the text as stored, "") or ("", why it is refused)."""
    if not isinstance(value, str):
        return "", f"must be a text, not {type(value).__name__}"
    if multiline:
        value = _LINE_BREAKS.sub("\n", value)
    problem = text_problem(value, multiline=multiline)  # before normalising: NFC would fail on a lone surrogate
    if problem:
        return "", problem
    text = unicodedata.normalize("NFC", value).strip()
    if max_length is not None and len(text) > max_length:
        return "", f"is longer than {max_length} characters ({len(text)})"
    return text, ""


def clean_text(
    value: object, *, field: str, max_length: int | None, multiline: bool = False, allow_none: bool = False
) -> str:
    """The text as stored (NFC, line breaks as LF, stripped), or InvalidInput naming `field` and why (see the module's
    rule). `allow_none`: None is taken as "" (an empty form field); `max_length` None: the caller checks it."""
    if value is None and allow_none:
        return ""
    text, problem = _cleaned(value, max_length=max_length, multiline=multiline)
    if problem:
        raise InvalidInput(f"{field}: {problem}")
    return text


def text_type(max_length: int | None, *, multiline: bool = False) -> Any:
    """A pydantic type of a text that follows the rule (cleaned as clean_text does), for validated shapes."""

    def validate(value: object) -> str:
        text, problem = _cleaned(value, max_length=max_length, multiline=multiline)
        if problem:
            raise PydanticCustomError("text_rule", "{problem}", {"problem": problem})
        return text

    return Annotated[str, BeforeValidator(validate)]


def text_rule(value: str) -> str:
    """A pydantic after-validator for a single-line text already known to be a str (a stream's free text): the
    rule's characters and NFC; the length is the field's own constraint."""
    problem = text_problem(value, multiline=False)
    if problem:
        raise PydanticCustomError("text_rule", "{problem}", {"problem": problem})
    return unicodedata.normalize("NFC", value)


def clean_id(value: object, *, field: str) -> int:
    """A record id as given (an int from 1 to MAX_ID), or InvalidInput naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field}: must be a whole number, not {type(value).__name__}")
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(f"{field}: must be from 1 to {MAX_ID}")
    return value


LATITUDE: Final = (-90.0, 90.0)
LONGITUDE: Final = (-180.0, 180.0)


def _coordinate_problem(value: object, low: float, high: float) -> str:
    """Why a value is no coordinate within [low, high] ("" if it is one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, not {type(value).__name__}"
    if not math.isfinite(value) or not low <= value <= high:
        return f"must be a number from {low:g} to {high:g}"
    return ""


def clean_coordinate(value: object, *, field: str, bounds: tuple[float, float]) -> float:
    """A coordinate as a float (see the module's rule), or InvalidInput naming `field`; `bounds` LATITUDE or
    LONGITUDE."""
    problem = _coordinate_problem(value, *bounds)
    if problem:
        raise InvalidInput(f"{field}: {problem}")
    return float(value)  # type: ignore[arg-type]


def coordinate_type(bounds: tuple[float, float]) -> Any:
    """A pydantic type of a coordinate that follows the rule (LATITUDE or LONGITUDE), as a float."""

    def validate(value: object) -> float:
        problem = _coordinate_problem(value, *bounds)
        if problem:
            raise PydanticCustomError("coordinate_rule", "{problem}", {"problem": problem})
        return float(value)  # type: ignore[arg-type]

    return Annotated[float, BeforeValidator(validate)]


def clean_moment(value: object, *, field: str, earliest: float, latest: float) -> int:
    """A moment a browser chose (epoch seconds, a number: never a bool or a text), within [earliest, latest]; as
    epoch milliseconds, or InvalidInput naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{field}: must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or not earliest <= value <= latest:
        raise InvalidInput(f"{field}: must be a moment from {earliest:.0f} to {latest:.0f}")
    return int(value * 1000)


def clean_choice(value: object, *, field: str, choices: tuple[int, ...]) -> int:
    """One of a few whole numbers offered (a speed), or InvalidInput naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        raise InvalidInput(f"{field}: must be one of {', '.join(map(str, choices))}")
    return value


def valid_id(value: object) -> int | None:
    """A record id if `value` is one (see clean_id), else None (for callers that treat it as "none chosen")."""
    try:
        return clean_id(value, field="id")
    except InvalidInput:
        return None


def id_in_query(value: object) -> int | None:
    """A record id written in a URL's query (`?id=12`: ASCII digits only, no sign, no space), or None when it is not
    one (see clean_id for the range)."""
    if not isinstance(value, str) or not 1 <= len(value) <= 10 or not value.isascii() or not value.isdigit():
        return None
    return valid_id(int(value))


# ---------------------------------------------------------------- the database's own check, and display


def check_storable(value: object, *, where: str, depth: int = 0) -> None:
    """InvalidInput if a value bound for the database holds a text no database should keep (a lone surrogate or a
    NUL), anywhere inside it (JSON keys and values too), or nests deeper than MAX_NESTING."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is not None:
            raise InvalidInput(f"{where}: holds {_what(found.group())} (U+{ord(found.group()):04X}); not stored")
    elif isinstance(value, dict | list | tuple):
        if depth >= MAX_NESTING:
            raise InvalidInput(f"{where}: nested deeper than {MAX_NESTING} levels; not stored")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            check_storable(key, where=where, depth=depth + 1)
            check_storable(item, where=where, depth=depth + 1)


def displayable(text: str) -> str:
    """A stored text as it can be shown and encoded: a lone surrogate as the visible text "\\udXXX", NUL as "\\x00"
    (texts stored before the rule); any other text unchanged."""
    if _UNSTORABLE.search(text) is None:
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def displayable_json(value: Any) -> Any:
    """A JSON value read from the database with every text in it (keys too) made displayable."""
    if isinstance(value, str):
        return displayable(value)
    if isinstance(value, list):
        return [displayable_json(item) for item in value]
    if isinstance(value, dict):
        return {displayable(str(k)): displayable_json(v) for k, v in value.items()}
    return value


def decode_stored(raw: bytes) -> str:
    """A text column's bytes as SQLite returns them: UTF-8, any byte that is not shown as "\\xNN" (an older file
    may hold the encoded form of a lone surrogate)."""
    return raw.decode("utf-8", "backslashreplace")
