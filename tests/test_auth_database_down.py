"""The database stops answering while walls and people are signed in: a wall keeps showing the city (its sessions are
known from their signed cookies, read-only), everything else is refused until the database answers again, and a
browser that never signed in gets nothing. A real PostgreSQL behind a TCP relay we take down (no mocks)."""

from __future__ import annotations

from benchmarks.browser import AppHttp, BrowserPage
from ioc.city import City
from layouts.wall import ids
from layouts.wall.page import PATH
from tests.sessions import app_database, new_display_token, operator_http
from tests.test_wall_incidents import by_hand, relayed_postgres  # noqa: F401 (the fixture)


def test_a_wall_keeps_ticking_while_the_database_is_down_and_nothing_else_is_allowed(
    make_app,
    relayed_postgres,  # noqa: F811
    city: City,
) -> None:
    relay, url = relayed_postgres
    app = make_app(database_url=url)
    by_hand(app_database(app), city, "fire", "critical")
    wall = BrowserPage(app, PATH, "?lang=en", token=new_display_token(app_database(app))[1])
    operator = operator_http(app)
    assert operator.request("GET", "/incidents").status == 200
    (before,) = wall.set(ids.INTERVAL, "n_intervals", 1)
    assert before.status == 200

    relay.stop()
    try:
        for step in range(2, 5):
            (reply,) = wall.set(ids.INTERVAL, "n_intervals", step)
            assert reply.status == 200, reply.body[:300]  # the city from Redis, as before
        assert wall.http.request("GET", "/").status == 200
        (panel,) = wall.set(ids.INCIDENTS_INTERVAL, "n_intervals", 1)
        assert panel.status == 200 and b"is-unavailable" in panel.body  # says so, quietly
        assert operator.request("GET", "/").status == 200  # a person still sees the wall
        unavailable = operator.request("GET", "/incidents?lang=en")  # what needs the database's word waits for it
        assert unavailable.status == 503 and b"The database does not answer" in unavailable.body
        assert operator.request("GET", "/admin").status == 403  # never this role's, database or not
        stranger = AppHttp(app)
        assert stranger.request("GET", "/").status == 302  # no session: the login, no data
        assert stranger.request("GET", "/_dash-layout").status == 401
    finally:
        relay.start()

    assert operator.request("GET", "/incidents").status == 200  # back to its full role by itself
    (after,) = wall.set(ids.INCIDENTS_INTERVAL, "n_intervals", 2)
    assert after.status == 200 and b"is-unavailable" not in after.body
