"""Sign-in and roles, checked on the server: every callback goes through the guard (a walk of app.callback_map);
the role matrix over HTTP against `ioc web` (gunicorn) on a real Redis and both databases, its expectations derived
from ioc.identity.roles.ROLE_PERMISSIONS and each page's and callback's permission; login rate limits, idle sessions, a
disabled account or a changed role ending an open session, sign-out by POST with the CSRF token only, and a `next`
that cannot leave the site."""

from __future__ import annotations

import ast
import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import dash
import pytest
from flask import Response

import app_factory
from benchmarks.browser import (
    ROUTER_CONTENT,
    UPDATE_PATH,
    BrowserPage,
    HttpReply,
    UrlHttp,
    components,
    login_form,
    post_login,
    prop_ids,
    sign_in,
    sign_in_with_token,
)
from callbacks.auth import GUARD_ATTRIBUTE, SIGNED_IN, Principal, guarded, start_session, unguarded_pages
from ioc.audit import entries
from ioc.db import Database, open_database
from ioc.embedded import EmbeddedRedis
from ioc.identity.accounts import disable, set_role
from ioc.identity.ratelimit import LoginLimiter
from ioc.identity.roles import ROLE_PERMISSIONS, Permission, Role
from ioc.identity.tokens import revoke_display_token
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from layouts import shell
from tests.conftest import DATABASES, database_env, wipe_namespace
from tests.sessions import PASSWORD, app_database, new_account, new_display_token
from tests.webserver import WebServer, server_env

ROUTER_OUTPUT = f"..{ROUTER_CONTENT}.children..._pages_store.data.."  # Dash Pages' own router: renders page layouts
MAX_FAILURES = 3
ADDRESS_MAX_FAILURES = 6  # per client address: higher than per name
WINDOW_S = 8.0  # long enough for the attempts below (argon2, audit rows) on a busy machine, tests side by side
IDLE_MINUTES = 0.05  # 3 s
ADDRESS = "127.0.0.1"
REFUSALS = ({"error": "login required"}, {"error": "not allowed for this role"})
ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.2) -> None:
    """Poll until the condition holds, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


# ---------------------------------------------------------------- the guard on every callback and page


def guard_of(function: Any) -> Any:
    """The permission `guarded` marked on a callback function (or on a function it wraps), else None."""
    while function is not None:
        if GUARD_ATTRIBUTE in getattr(function, "__dict__", {}):
            return vars(function)[GUARD_ATTRIBUTE]
        function = getattr(function, "__wrapped__", None)
    return None


def unguarded_callbacks(callback_map: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The outputs of an app's server callbacks (its callback_map) that skip the guard. Clientside callbacks have no
    server function; the pages router only renders page layouts, which are guarded themselves (see the page test)."""
    return [
        output
        for output, spec in callback_map.items()
        if spec.get("callback") is not None and output != ROUTER_OUTPUT and guard_of(spec["callback"]) is None
    ]


def test_every_server_callback_goes_through_the_guard(make_app) -> None:
    app = make_app()
    assert app.server.test_client().get("/login").status_code == 200  # Dash adds the pages router at this request
    server_side = [output for output, spec in app.callback_map.items() if spec.get("callback") is not None]
    assert ROUTER_OUTPUT in server_side and len(server_side) >= 3, server_side
    assert unguarded_callbacks(app.callback_map) == []


def test_the_walk_finds_a_callback_without_the_guard() -> None:
    def echo(value: object) -> object:
        return value

    # Entries as Dash keeps them in app.callback_map (built by hand: a process has one app, the factory's); a
    # clientside callback has no server function.
    callback_map: dict[str, dict[str, Any]] = {
        "forgot.children": {"inputs": [{"id": "source", "property": "value"}], "callback": echo},
        "kept.children": {"inputs": [{"id": "source", "property": "value"}], "callback": guarded(SIGNED_IN)(echo)},
        "client.children": {"inputs": [{"id": "source", "property": "value"}], "clientside_function": None},
        ROUTER_OUTPUT: {"inputs": [], "callback": echo},  # the pages router: it renders the pages' guarded layouts
    }
    assert unguarded_callbacks(callback_map) == ["forgot.children"]


def test_every_page_layout_is_guarded_with_the_page_permission(make_app) -> None:
    make_app()
    pages = list(dash.page_registry.values())
    assert set(app_factory.PAGES) <= {page["module"] for page in pages}
    for page in pages:
        assert isinstance(page.get("permission"), Permission), page["module"]
        assert guard_of(page["layout"]) == page["permission"], page["module"]
    assert guard_of(lambda: None) is None


def dash_register_page_calls(path: Path) -> list[int]:
    """The lines of a source file that call Dash's own register_page (`dash.register_page(...)`, or the name imported
    from dash)."""
    tree = ast.parse(path.read_text())
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "dash"
        for alias in node.names
        if alias.name == "register_page"
    }
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "register_page" and _is_dash(node.func.value))
            or (isinstance(node.func, ast.Name) and node.func.id in imported)
        )
    ]


def _is_dash(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "dash"


def test_pages_are_registered_only_through_the_guarded_helper(make_app) -> None:
    """callbacks.auth.register_page is the one caller of Dash's register_page, and every registered page's own layout
    function carries the guard's mark of the page's permission (what register_page gives it); the factory refuses to
    start with a page that lacks it."""
    make_app()
    helper = ROOT / "callbacks" / "auth" / "guards.py"
    sources = [p for part in ("callbacks", "layouts", "ioc", "cli", "benchmarks") for p in (ROOT / part).rglob("*.py")]
    sources += [ROOT / "app_factory.py", ROOT / "webapp.py"]
    callers = {str(p.relative_to(ROOT)): lines for p in sources if (lines := dash_register_page_calls(p))}
    assert list(callers) == [str(helper.relative_to(ROOT))], callers
    pages = list(dash.page_registry.values())
    assert {page["module"] for page in pages} >= set(app_factory.PAGES)
    for page in pages:
        assert getattr(page["layout"], GUARD_ATTRIBUTE) == page["permission"], page["module"]
    assert unguarded_pages() == []


@pytest.mark.parametrize(
    "layout",
    [lambda: "the wall", guarded(Permission.MANAGE_ACCOUNTS)(lambda: "the wall")],
    ids=["no guard", "another permission's guard"],
)
def test_the_factory_check_finds_a_page_registered_without_its_guard(layout: Any) -> None:
    page = {"module": "tests.unguarded", "path": "/unguarded", "layout": layout, "permission": Permission.VIEW_WALL}
    dash.page_registry["tests.unguarded"] = page
    try:
        assert unguarded_pages() == ["tests.unguarded"]
    finally:
        del dash.page_registry["tests.unguarded"]
    assert "tests.unguarded" not in unguarded_pages()


def test_the_guard_answers_401_or_403_with_no_data(make_app) -> None:
    from werkzeug.exceptions import HTTPException

    app = make_app()
    database = app_database(app)
    accounts_only = guarded(Permission.MANAGE_ACCOUNTS)(lambda: "the accounts")
    with app.server.test_request_context(UPDATE_PATH, method="POST"):
        with pytest.raises(HTTPException) as nobody:
            accounts_only()
        start_session(Principal.of_token(new_display_token(database)[0]))
        with pytest.raises(HTTPException) as wall:
            accounts_only()
        start_session(Principal.of_account(new_account(database, Role.ADMIN)))
        assert accounts_only() == "the accounts"
    for refused, status in ((nobody.value, 401), (wall.value, 403)):
        assert isinstance(refused.response, Response) and refused.response.status_code == status
        assert refused.response.get_json() in REFUSALS


# ---------------------------------------------------------------- the running app: `ioc web` on both databases


@dataclass
class Served:
    """`ioc web` with its settings, and the same database and Redis namespace opened by the test."""

    server: WebServer
    env: dict[str, str]
    database: Database
    limiter: LoginLimiter

    @property
    def url(self) -> str:
        """Base URL of the app."""
        return self.server.url


@pytest.fixture(scope="module", params=DATABASES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, embedded_redis: EmbeddedRedis
) -> Iterator[Served]:
    """The app under `ioc web` (2 workers) on each database, on the machine's Redis 7 when IOC_TEST_REDIS_URL is
    set (else the embedded one), in a namespace of its own; small login limits."""
    root = tmp_path_factory.mktemp("auth-web")
    with database_env(request.param, root / "data") as database_vars:
        redis_url = os.environ.get("IOC_TEST_REDIS_URL") or embedded_redis.url
        keys = Keys(f"a{uuid.uuid4().hex[:10]}")
        env = server_env(
            root / "data",
            **database_vars,
            IOC_REDIS_URL=redis_url,
            IOC_NAMESPACE=keys.namespace,
            IOC_WEB_WORKERS="2",
            IOC_LOGIN_MAX_FAILURES=str(MAX_FAILURES),
            IOC_LOGIN_WINDOW_S=str(WINDOW_S),
            IOC_LOGIN_MAX_FAILURES_PER_ADDRESS=str(ADDRESS_MAX_FAILURES),
            IOC_TRUSTED_PROXIES="127.0.0.1",
        )
        server = WebServer(env, root / "web.log")
        client = connect_url(redis_url)
        # The web's own settings (its Redis and namespace too): the test's changes are announced where the web
        # looks (ioc.identity.changes), as an admin's `ioc users ...` with the site's environment does.
        settings = Settings(
            data_dir=root / "data",
            database_url=database_vars.get("IOC_DATABASE_URL"),
            redis_url=redis_url,
            namespace=keys.namespace,
        )
        try:
            server.start()  # migrates the database
            database = open_database(settings)
            try:
                limiter = LoginLimiter(
                    client,
                    keys,
                    max_failures=MAX_FAILURES,
                    window_s=WINDOW_S,
                    address_max_failures=ADDRESS_MAX_FAILURES,
                )
                yield Served(server, env, database, limiter)
            finally:
                database.close()
        finally:
            server.stop()
            wipe_namespace(client, keys)
            client.close()


Who = Role | None  # None: no session


def signed_in(served: Served, who: Who) -> UrlHttp:
    """A browser of the served app: without a session, a wall screen with a new display token, or a new account of
    that role signed in through the login form."""
    http = UrlHttp(served.url)
    if who is Role.DISPLAY:
        sign_in_with_token(http, new_display_token(served.database)[1])
    elif who is not None:
        sign_in(http, new_account(served.database, who).username, PASSWORD)
    return http


def may(who: Who, permission: Any) -> bool:
    """Whether `who` holds a permission (SIGNED_IN: any session), straight from ROLE_PERMISSIONS."""
    return who is not None and (permission == SIGNED_IN or permission in ROLE_PERMISSIONS[who])


def expected(who: Who, kind: str, permission: Any) -> str:
    """THE TABLE: what a page, the pages router showing a page, or a callback answers `who`.

    page:     no session -> redirect to the login; the role may -> 200; else 403 (no page).
    route:    no session -> 401; the role may -> the page; else the refusal in place of the page.
    callback: no session -> 401; the role may -> 200 or 204 (nothing to update); else 403."""
    if who is None:
        return {"page": "302 login", "route": "401", "callback": "401"}[kind]
    if may(who, permission):
        return {"page": "200", "route": "the page", "callback": "200/204"}[kind]
    return {"page": "403", "route": "refused", "callback": "403"}[kind]


def outcome(kind: str, reply: HttpReply) -> str:
    """What a reply amounts to, in the table's words; refusals must carry nothing but the refusal."""
    if reply.status in (401, 403) and kind != "page":
        assert reply.json() in REFUSALS, reply.body[:300]  # no city data, no page
        return str(reply.status)
    if kind == "page":
        if reply.status == 302:
            return "302 login" if (reply.location or "").startswith("/login?next=") else f"302 {reply.location}"
        return str(reply.status)
    if kind == "route" and reply.status == 200:
        content = reply.json()["response"][ROUTER_CONTENT]["children"]
        return "refused" if content["props"].get("id") == "auth-forbidden" else "the page"
    return "200/204" if reply.status in (200, 204) else str(reply.status)


PRINCIPALS: tuple[Who, ...] = (None, Role.OPERATOR, Role.MANAGER, Role.TRAINER, Role.ADMIN, Role.DISPLAY)


def test_role_matrix_over_http(served: Served, make_app) -> None:
    # What the code declares: each page's permission, each server callback's (the same code the server runs).
    local = make_app()
    local.server.test_client().get("/login")
    pages = {
        page["path"]: page["permission"]
        for page in dash.page_registry.values()
        if not page["module"].endswith("not_found_404")  # shown for unknown addresses; its own answers 404
    }
    permissions = {o: guard_of(s["callback"]) for o, s in local.callback_map.items() if s.get("callback") is not None}
    assert "/" in pages and pages["/"] is Permission.VIEW_WALL

    browsers = {who: signed_in(served, who) for who in PRINCIPALS}
    # Each page as someone who may open it shows: the values its callbacks are posted with.
    shown = {
        path: BrowserPage(browsers[next(w for w in PRINCIPALS if may(w, permission))], path)
        for path, permission in pages.items()
    }
    dependencies = shown["/"].dependencies
    server_side = [d for d in dependencies if d.get("clientside_function") is None]
    assert {d["output"] for d in server_side} == set(permissions)  # the server runs what the code declares

    def where(dependency: dict[str, Any]) -> BrowserPage:
        """The page showing every component a callback names (the shell's are on every page)."""
        named = [i for i, _ in prop_ids(dependency["output"])] + [d["id"] for d in dependency["inputs"]]
        named += [d["id"] for d in dependency["state"]]
        wanted = [i if isinstance(i, str) else json.dumps(i) for i in named]
        return next(page for page in shown.values() if all(page.knows(i) for i in wanted))

    seen: dict[tuple[str, str], str] = {}
    table: dict[tuple[str, str], str] = {}
    for who in PRINCIPALS:
        name = who.value if who is not None else "no session"
        http = browsers[who]
        for path, permission in pages.items():
            table[(name, f"GET {path}")] = expected(who, "page", permission)
            seen[(name, f"GET {path}")] = outcome("page", http.request("GET", path))
            router = next(d for d in server_side if d["output"] == ROUTER_OUTPUT)
            reply = http.request("POST", UPDATE_PATH, json_body=shown[path].body(router, BrowserPage.inputs_of(router)))
            table[(name, f"route {path}")] = expected(who, "route", permission)
            seen[(name, f"route {path}")] = outcome("route", reply)
        for dependency in server_side:
            if dependency["output"] == ROUTER_OUTPUT:
                continue
            body = where(dependency).body(dependency, BrowserPage.inputs_of(dependency))
            reply = http.request("POST", UPDATE_PATH, json_body=body)
            target = f"callback {dependency['output'][:60]}"
            table[(name, target)] = expected(who, "callback", permissions[dependency["output"]])
            seen[(name, target)] = outcome("callback", reply)
            if dependency["output"] == f"..{shell.NAV}.children...{shell.NAV}.hidden.." and reply.status == 200:
                nav = reply.json()["response"][shell.NAV]
                assert nav["hidden"] is (who is Role.DISPLAY), who  # the kiosk wall has no navigation
        for endpoint in ("/_dash-layout", "/_dash-dependencies"):
            status = http.request("GET", endpoint).status
            assert status == (401 if who is None else 200), (who, endpoint, status)
    assert {key: value for key, value in seen.items() if table[key] != value} == {}, "expected: see the table"
    assert len(table) >= len(PRINCIPALS) * (2 * len(pages) + 2)
    assert {"403", "refused"} & set(table.values()) or len(pages) == 1  # some role is refused something


# ---------------------------------------------------------------- login and sessions


def still_signed_in(http: UrlHttp) -> bool:
    """Whether the server still knows this browser's session."""
    return http.request("GET", "/auth/status").status == 200


def test_login_is_rate_limited_per_account_and_address(served: Served) -> None:
    manager = new_account(served.database, Role.MANAGER)
    # The window is seconds long; on a busy machine (tests side by side) a round of logins may outlast it, and then
    # its refusals prove nothing: such a round is tried again with a new account, up to three times.
    for _ in range(3):
        operator = new_account(served.database, Role.OPERATOR)
        wait_for(lambda: served.limiter.failures("-", ADDRESS)[1] == 0, WINDOW_S + 5, "earlier failures to expire")
        http = UrlHttp(served.url)
        csrf = login_form(http)
        started = time.monotonic()
        wrong = [post_login(http, operator.username, "not the password", csrf=csrf) for _ in range(MAX_FAILURES)]
        refused = post_login(http, operator.username, "not the password", csrf=csrf)
        right = post_login(http, operator.username, PASSWORD, csrf=csrf, lang="en")  # even the right password waits
        took = f"{time.monotonic() - started:.2f} s after the first attempt"
        assert all(w.status == 401 and "Sai tên đăng nhập hoặc mật khẩu." in w.text for w in wrong), took
        if time.monotonic() - started < WINDOW_S - 0.5:
            break
    else:
        pytest.fail(f"three rounds of {MAX_FAILURES + 2} logins each outlasted the {WINDOW_S} s window")
    assert refused.status == 429, (refused.status, took)
    assert "Quá nhiều lần thử. Vui lòng thử lại sau" in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_S
    assert right.status == 429 and "Too many attempts. Try again in" in right.text, (right.status, took)
    other = UrlHttp(served.url)  # another person at the same address is not locked out by these failures
    assert post_login(other, manager.username, PASSWORD, csrf=login_form(other)).status == 302, took
    assert not still_signed_in(http) and still_signed_in(other)

    def signs_in() -> bool:
        return post_login(http, operator.username, PASSWORD, csrf=login_form(http)).status == 302

    wait_for(signs_in, WINDOW_S + 10, "the window to pass", every=0.25)
    assert time.monotonic() - started >= WINDOW_S - 0.5
    assert still_signed_in(http)
    assert served.limiter.failures(operator.username, ADDRESS) == (0, 0)  # a success forgives


def test_disabled_account_changed_role_and_revoked_token_end_open_sessions(served: Served) -> None:
    operator, manager = new_account(served.database, Role.OPERATOR), new_account(served.database, Role.MANAGER)
    people = {operator.username: UrlHttp(served.url), manager.username: UrlHttp(served.url)}
    for username, http in people.items():
        sign_in(http, username, PASSWORD)
        assert http.request("GET", "/").status == 200
    token, secret = new_display_token(served.database)
    wall = UrlHttp(served.url)
    sign_in_with_token(wall, secret)
    assert wall.request("GET", "/").status == 200

    disable(served.database, operator.username, actor="test")
    set_role(served.database, manager.username, Role.TRAINER, actor="test")
    revoke_display_token(served.database, token.name, actor="test")
    for http in people.values():
        page = http.request("GET", "/?lang=en")
        assert page.status == 302 and page.location == "/login?next=%2F%3Flang%3Den&lang=en"
        assert http.request("POST", UPDATE_PATH, json_body={}).status == 401
        assert http.request("GET", "/auth/status").json() == {"error": "login required"}
    assert wall.request("GET", "/auth/status").json() == {"error": "access revoked", "kind": "display"}
    revoked = wall.request("GET", "/")
    assert revoked.status == 401 and "Quyền truy cập đã bị thu hồi" in revoked.text  # not a login form
    assert wall.request("POST", UPDATE_PATH, json_body={}).status == 401

    again = UrlHttp(served.url)
    refused = post_login(again, operator.username, PASSWORD, csrf=login_form(again))
    assert refused.status == 401 and "Tài khoản này đã bị khóa." in refused.text
    sign_in(again, manager.username, PASSWORD)  # the trainer signs in anew
    assert again.request("GET", "/auth/status").json()["role"] == "trainer"


def session_value(http: UrlHttp) -> str:
    """The session cookie's value in a browser's jar."""
    return next(cookie.value for cookie in http.cookies if cookie.name == "ioc_session" and cookie.value)


def status_with_cookie(url: str, value: str) -> int:
    """GET with exactly this session cookie, as a browser that kept it beyond its expiry would send it."""
    request = urllib.request.Request(url, headers={"Cookie": f"ioc_session={value}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.slow
def test_idle_session_ends_and_a_used_one_stays(served: Served, tmp_path: Path) -> None:
    server = WebServer({**served.env, "IOC_SESSION_IDLE_MINUTES": str(IDLE_MINUTES)}, tmp_path / "web.log")
    server.start()
    try:
        idle, busy = UrlHttp(server.url), UrlHttp(server.url)
        sign_in(idle, new_account(served.database, Role.OPERATOR).username, PASSWORD)
        last_used = time.monotonic()
        kept = session_value(idle)  # the browser forgets it at its expiry; the server must refuse it by itself
        sign_in(busy, new_account(served.database, Role.OPERATOR).username, PASSWORD)
        limit = IDLE_MINUTES * 60
        ended_after: float | None = None
        while ended_after is None or time.monotonic() - last_used < 2 * limit:
            assert busy.request("GET", "/").status == 200  # used every second: stays
            if ended_after is None and status_with_cookie(f"{server.url}/auth/status", kept) == 401:
                ended_after = time.monotonic() - last_used
            assert time.monotonic() - last_used < 4 * limit, "the idle session did not end"
            time.sleep(1)
        assert ended_after is not None and ended_after > limit - 0.1, ended_after
        assert not still_signed_in(idle) and still_signed_in(busy)
        page = idle.request("GET", "/")
        assert page.status == 302 and (page.location or "").startswith("/login")
    finally:
        server.stop()


def sign_out_form(page: BrowserPage) -> dict[str, str]:
    """The hidden fields of the navigation's sign-out form, as the browser would submit them."""
    nav = page.props[(shell.NAV, "children")]
    return {c["props"]["name"]: c["props"]["value"] for c in components(nav) if c["props"].get("type") == "hidden"}


def test_sign_out_is_a_post_with_the_csrf_token(served: Served) -> None:
    operator = new_account(served.database, Role.OPERATOR)
    http = UrlHttp(served.url)
    page = BrowserPage(http, "/", "?lang=en", user=(operator.username, PASSWORD))
    form = sign_out_form(page)
    assert set(form) == {"csrf", "lang"} and form["lang"] == "en" and len(form["csrf"]) >= 20

    assert http.request("GET", "/logout").status == 405
    assert http.request("POST", "/logout", form={"lang": "en"}).location == "/"  # no token: nothing happens
    assert http.request("POST", "/logout", form={**form, "csrf": "x" * len(form["csrf"])}).location == "/"
    assert still_signed_in(http)
    assert entries(served.database, action="logout", object_id=operator.id) == []

    kept = session_value(http)  # a wall tick still in flight at sign-out answers later and re-sets this cookie
    assert status_with_cookie(f"{served.url}/auth/status", kept) == 200
    out = http.request("POST", "/logout", form=form)
    assert out.status == 302 and out.location == "/login?lang=en"
    assert not still_signed_in(http)
    assert http.request("GET", "/").status == 302
    assert status_with_cookie(f"{served.url}/auth/status", kept) == 401  # signed out means signed out
    (logged,) = entries(served.database, action="logout", object_id=operator.id)
    assert logged.actor == operator.username and logged.address == ADDRESS


def test_signing_in_over_a_session_ends_it(served: Served) -> None:
    first = new_account(served.database, Role.MANAGER)
    second = new_account(served.database, Role.OPERATOR)
    http = signed_in_as(served, first.username)
    kept = session_value(http)  # what a tick of the first person's page, still in flight, would set again
    assert status_with_cookie(f"{served.url}/auth/status", kept) == 200
    assert post_login(http, second.username, PASSWORD, csrf=login_form(http)).status == 302
    assert http.request("GET", "/auth/status").json()["name"] == second.username
    assert status_with_cookie(f"{served.url}/auth/status", kept) == 401  # never the first person again


ELSEWHERE = (
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example",
    "/\t/evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
    " //evil.example",
    "/%0a/evil.example".replace("%0a", "\n"),
)


def test_next_cannot_lead_to_another_site(served: Served) -> None:
    operator = new_account(served.database, Role.OPERATOR)
    for target in ELSEWHERE:
        http = UrlHttp(served.url)
        csrf = login_form(http)
        reply = post_login(http, operator.username, PASSWORD, csrf=csrf, next_path=target)
        assert (reply.status, reply.location) == (302, "/"), target
    for target in ("/?lang=en", "/admin", "/?lang=en&watchdog_ms=2000"):
        http = UrlHttp(served.url)
        reply = post_login(http, operator.username, PASSWORD, csrf=login_form(http), next_path=target)
        assert (reply.status, reply.location) == (302, target)
    # The gate sends the whole address there, encoded, and the page's language along.
    anonymous = UrlHttp(served.url)
    gate = anonymous.request("GET", "/?lang=en&watchdog_ms=2000")
    assert gate.status == 302 and (gate.location or "").startswith("/login?")
    query = parse_qs(urlsplit(gate.location or "").query)
    assert query == {"next": ["/?lang=en&watchdog_ms=2000"], "lang": ["en"]}
    form = anonymous.request("GET", gate.location or "")
    assert 'name="next" value="/?lang=en&amp;watchdog_ms=2000"' in form.text and "Sign in" in form.text
    evil = anonymous.request("GET", "/login?next=%2F%5Cevil.example")
    assert 'name="next" value="/"' in evil.text
    # A dot segment before a double slash: the browser would resolve "/.//evil.example" to "//evil.example".
    for target in ("/.//evil.example", "/%2e//evil.example/x"):
        http = UrlHttp(served.url)
        reply = post_login(http, operator.username, PASSWORD, csrf=login_form(http), next_path=target)
        assert reply.status == 302 and (reply.location or "").startswith("/evil.example"), (target, reply.location)


def test_a_display_link_asks_before_replacing_a_signed_in_session(served: Served) -> None:
    operator = new_account(served.database, Role.OPERATOR)
    token, secret = new_display_token(served.database)
    http = signed_in_as(served, operator.username)
    link = f"/display?{urlencode({'token': secret, 'lang': 'en'})}"
    asked = http.request("GET", link)
    assert asked.status == 200 and "Turn this browser into a wall screen?" in asked.text and token.name in asked.text
    assert http.request("GET", "/auth/status").json()["name"] == operator.username  # nothing replaced yet
    form = dict(re.findall(r'name="(csrf|token|lang)" value="([^"]*)"', asked.text))
    assert form["token"] == secret
    forged = http.request("POST", "/display", form={**form, "csrf": "not the session's"})
    assert forged.status == 400 and http.request("GET", "/auth/status").json()["name"] == operator.username
    confirmed = http.request("POST", "/display", form=form)
    assert (confirmed.status, confirmed.location) == (302, "/?lang=en")
    assert http.request("GET", "/auth/status").json() == {"name": token.name, "role": "display", "kind": "display"}
    (logged,) = entries(served.database, action="logout", object_id=operator.id)
    assert logged.actor == operator.username
    # Without a person's session the link signs the screen in at once, as before; a bad token is refused.
    screen = UrlHttp(served.url)
    assert screen.request("GET", link).status == 302
    assert http.request("POST", "/display", form={**form, "token": "nope"}).status == 401


def signed_in_as(served: Served, username: str) -> UrlHttp:
    """A browser of the served app signed in through the login form."""
    http = UrlHttp(served.url)
    reply = post_login(http, username, PASSWORD, csrf=login_form(http))
    assert reply.status == 302
    return http


def test_a_shared_address_cannot_lock_out_a_person_who_knows_the_password(served: Served) -> None:
    # Behind the trusted proxy (127.0.0.1 here) every client has its own forwarded address; this one is shared (an
    # office behind one NAT). Someone there fails on purpose with the operator's name, then with many names.
    shared = {"X-Forwarded-For": "198.51.100.7"}
    operator, manager = new_account(served.database, Role.OPERATOR), new_account(served.database, Role.MANAGER)
    desk = UrlHttp(served.url, headers=shared)  # the operator's own browser, signed in there before
    assert post_login(desk, operator.username, PASSWORD, csrf=login_form(desk)).status == 302
    assert "ioc_device" in {cookie.name for cookie in desk.cookies}
    attacker = UrlHttp(served.url, headers=shared)
    csrf = login_form(attacker)
    assert name_locked(served, operator.username, shared)  # for every browser it never signed in from
    colleague = UrlHttp(served.url, headers=shared)
    assert post_login(colleague, manager.username, PASSWORD, csrf=login_form(colleague)).status == 302
    assert address_locked(served, attacker, csrf, manager.username, shared)  # many names: the address's own limit
    # The operator's browser still signs in with the right password, and its own failures count on their own.
    again = post_login(desk, operator.username, PASSWORD, csrf=login_form(desk))
    assert again.status == 302 and still_signed_in(desk)
    failures = [e for e in entries(served.database, action="login.failure", limit=500) if e.actor == operator.username]
    assert failures and {e.address for e in failures} == {"198.51.100.7"}  # the client, not the proxy


def unique_name() -> str:
    """A user name nobody has."""
    return f"nobody-{uuid.uuid4().hex[:8]}"


def address_locked(served: Served, attacker: UrlHttp, csrf: str, username: str, headers: dict[str, str]) -> bool:
    """Fail with new names until the address is refused, then see a browser new to `username` refused there too
    (retried a few rounds: the test's window is seconds long and may end between the two on a busy machine)."""
    for _ in range(5):
        for _ in range(ADDRESS_MAX_FAILURES + 1):
            if post_login(attacker, unique_name(), "a guess", csrf=csrf).status == 429:
                break
        newcomer = UrlHttp(served.url, headers=headers)
        if post_login(newcomer, username, PASSWORD, csrf=login_form(newcomer)).status == 429:
            return True
    return False


def name_locked(served: Served, username: str, headers: dict[str, str]) -> bool:
    """Fail with `username` until it is refused even with the right password from a browser new to it (retried a
    few rounds: the test's window is seconds long and may end meanwhile on a busy machine)."""
    for _ in range(5):
        stranger = UrlHttp(served.url, headers=headers)
        csrf = login_form(stranger)
        for _ in range(MAX_FAILURES):
            if post_login(stranger, username, "a guess", csrf=csrf).status == 429:
                break
        if post_login(stranger, username, PASSWORD, csrf=csrf).status == 429:
            return True
    return False
