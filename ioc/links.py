"""Links and redirects built from what a request says (its path, `next`, `lang`): every one goes through
`site_path`, so it names a path on this site and nothing else.

A browser reads many odd paths as another site: "//evil.example" (scheme-relative), "/\\evil.example" and
"/<tab>/evil.example" (backslashes and control characters are dropped or turned into slashes), and "/.//evil.example"
or "/%2e//evil.example" (the dot segment is removed, leaving "//evil.example"). `site_path` removes dot segments and
collapses repeated slashes, so what it returns always starts with exactly one slash, and refuses (gives the
fallback for) anything with a scheme, a host, a backslash, a space or a control character.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlencode, urlsplit

FRONT: Final = "/"
MAX_TARGET: Final = 2048  # longer is not a link a page of ours made
_DOT_SEGMENTS: Final = {".": ".", "%2e": ".", "..": "..", ".%2e": "..", "%2e.": "..", "%2e%2e": ".."}
_UNSAFE: Final = re.compile(r"[\\\s\x00-\x1f\x7f-\x9f]")


def _normalised_path(path: str) -> str:
    """A path with its dot segments resolved and its repeated slashes collapsed (RFC 3986, as browsers do, plus
    the collapse: an empty segment is what makes a path look like a host)."""
    kept: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        dots = _DOT_SEGMENTS.get(segment.lower())
        if dots == "..":
            if kept:
                kept.pop()
        elif dots is None and segment:
            kept.append(segment)
    ends_open = bool(segments) and (segments[-1] == "" or segments[-1].lower() in _DOT_SEGMENTS) and bool(kept)
    return FRONT + "/".join(kept) + ("/" if ends_open else "")


def site_path(target: object, fallback: str = FRONT, *, refuse: tuple[str, ...] = ()) -> str:
    """`target` as a path (and query) on this site, or `fallback` when it is not one (a scheme, a host, a
    backslash, whitespace or a control character, not starting with "/", too long, or one of the `refuse`d paths).
    The fragment is dropped; the query is kept as it was."""
    if not isinstance(target, str) or not target.startswith("/") or len(target) > MAX_TARGET:
        return fallback
    if _UNSAFE.search(target):
        return fallback
    try:
        parts = urlsplit(target)
    except ValueError:
        return fallback
    if parts.scheme or parts.netloc:
        return fallback
    path = _normalised_path(parts.path)
    if path in refuse:
        return fallback
    return f"{path}?{parts.query}" if parts.query else path


def with_query(path: object, **query: str) -> str:
    """A link to `path` on this site (normalised by `site_path`; its own query is replaced) with this query."""
    bare = site_path(path).partition("?")[0]
    return f"{bare}?{urlencode(query)}" if query else bare


def lang_link(path: object, lang: str, **keep: str) -> str:
    """The link to the same page in another language (with the query values in `keep`, e.g. the report's `id`)."""
    return with_query(path, lang=lang, **keep)
