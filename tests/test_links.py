"""Links and redirects built from a request stay on this site (ioc.links): the helper, and the navigation that
builds its language link from the browser's path."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from ioc.links import lang_link, site_path, with_query
from layouts import shell

SITE = "https://ioc.example/incidents/"
# Characters that make paths look like other sites to browsers, mixed with ordinary ones.
ODD = ("/", "//", ".", "..", "%2e", "%2E", "\\", "\t", "\n", " ", ":", "@", "?", "#", "%2f", "%5c", "\x00", "\u3000")
PIECES = st.sampled_from((*ODD, "\u2028", "a", "evil.example", "http:", "javascript:"))
TARGETS = st.lists(PIECES, max_size=12).map("".join) | st.text(max_size=40)


def lands_on_site(link: str) -> bool:
    """Whether a browser on SITE following `link` stays on SITE's host."""
    return urlsplit(urljoin(SITE, link)).netloc == "ioc.example" and link.startswith("/") and not link.startswith("//")


@settings(max_examples=1500, deadline=None)
@given(TARGETS)
def test_every_target_stays_on_the_site(target: str) -> None:
    assert lands_on_site(site_path(target))
    assert lands_on_site(lang_link(target, "en"))
    assert lands_on_site(with_query(target, lang="vi", next=target))


def test_dot_segments_and_repeated_slashes_cannot_make_a_host() -> None:
    # The review's finding: "/.//evil.example" was kept, and the browser read it as "//evil.example".
    assert site_path("/.//evil.example") == "/evil.example"
    assert site_path("/%2e//evil.example") == "/evil.example"
    assert site_path("/a/..//evil.example") == "/evil.example"
    assert lang_link("//evil.example", "en") == "/?lang=en"
    assert site_path("/incidents?lang=en&x=1#top") == "/incidents?lang=en&x=1"
    assert site_path("/login", refuse=("/login",)) == "/"
    assert site_path("https://evil.example/") == "/"


def test_navigation_language_link_stays_on_the_site() -> None:
    # dcc.Location's pathname is what the browser shows: after "/.//evil.example" it was "//evil.example".
    pages = [shell.NavPage("/", "nav.wall")]
    links = shell.nav(pages, "//evil.example", "ana", "operator", "token", "vi")
    switch = next(link for link in links if getattr(link, "id", None) == f"{shell.NAV}-lang")
    assert getattr(switch, "href", None) == "/?lang=en"
