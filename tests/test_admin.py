"""The admin page: its layout builders as pure functions of hand-made accounts, display tokens and audit entries (in
Vietnamese and English), and its callbacks over HTTP through an app from the factory, signed in through the login
form as an admin (an operator is refused), on SQLite and PostgreSQL: what each action changes in the database and
the audit log, and what the page says when an action is refused."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from dash import Dash
from dash.development.base_component import Component
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from benchmarks.browser import id_key
from callbacks.auth import GUARD_ATTRIBUTE
from ioc import audit
from ioc.audit import AuditEntry
from ioc.db import Database
from ioc.errors import AlreadyExists, DatabaseError, InvalidInput, LastAdmin, NotFound, StaleVersion
from ioc.i18n import t
from ioc.identity.accounts import Account, Role, create_account, find_account, list_accounts, set_role
from ioc.identity.roles import Permission
from ioc.identity.tokens import DisplayToken, create_display_token, list_display_tokens, revoke_display_token
from ioc.identity.tokens import verify_display_token as verify_token
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from layouts.admin import ids
from layouts.admin.accounts import GENERATE, accounts_table
from layouts.admin.audit import audit_table, describe
from layouts.admin.feedback import password_secret, refused_text, token_secret
from layouts.admin.page import PATH, AdminData, layout
from layouts.admin.tokens import tokens_table
from layouts.common import local_datetime
from tests.conftest import wipe_namespace

TZ = "Asia/Ho_Chi_Minh"
PASSWORD = "correct horse battery"
ADMIN = "boss"
PUBLIC_URL = "https://ioc.tamky.example"
AT = datetime(2026, 1, 5, 1, 30, tzinfo=UTC)  # 08:30 in Tam Kỳ


# ---------------------------------------------------------------- pure layout builders


def walk(node: object) -> Iterator[Any]:
    """Every component of a tree."""
    if isinstance(node, list | tuple):
        for item in node:
            yield from walk(item)
    elif isinstance(node, Component):
        yield node
        yield from walk(getattr(node, "children", None))


def text(node: object) -> str:
    """Every text shown in a tree, joined by spaces."""
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list | tuple):
        return " ".join(text(item) for item in node)
    if isinstance(node, Component):
        return text(getattr(node, "children", None))
    return ""


def with_id(node: object, wanted: Mapping[str, Any]) -> list[Any]:
    """The components whose (dict) id holds every key and value of `wanted`."""
    return [
        c
        for c in walk(node)
        if isinstance(getattr(c, "id", None), dict) and all(c.id.get(k) == v for k, v in wanted.items())
    ]


def account(id_: int, name: str, role: Role, *, disabled: bool = False, version: int = 1) -> Account:
    return Account(id_, name, role, disabled, AT, AT, version)


ACCOUNTS = [
    account(1, ADMIN, Role.ADMIN, version=4),
    account(2, "ana", Role.OPERATOR, disabled=True, version=2),
    account(3, "minh", Role.MANAGER),
]
TOKENS = [
    DisplayToken(7, "lobby", AT, ADMIN, AT),
    DisplayToken(9, "lobby", AT, ADMIN, None),
    DisplayToken(8, "ops-room", AT, "cli:root", None),
]


def test_dates_are_city_time_in_each_language() -> None:
    assert local_datetime(AT, TZ, "vi") == "05/01/2026 08:30"
    assert local_datetime(AT, TZ, "en") == "2026-01-05 08:30"
    assert local_datetime(AT.replace(tzinfo=None), TZ, "en", seconds=True) == "2026-01-05 08:30:00"  # naive: UTC
    assert local_datetime(None, TZ, "vi") == "—"


@pytest.mark.parametrize(
    ("lang", "enabled", "disabled", "heading", "you"),
    [("vi", "Đang hoạt động", "Đã khóa", "Tên đăng nhập", "bạn"), ("en", "Enabled", "Disabled", "User name", "you")],
)
def test_accounts_table_has_a_row_per_account(lang: str, enabled: str, disabled: str, heading: str, you: str) -> None:
    table = accounts_table(ACCOUNTS, me=ADMIN, lang=lang, tz=TZ)
    assert heading in text(table.children[0])
    rows = table.children[1].children
    assert [text(row.children[0]) for row in rows] == [f"{ADMIN} {you}", "ana", "minh"]
    assert [text(row.children[2]) for row in rows] == [enabled, disabled, enabled]
    assert {text(row.children[3]) for row in rows} == {local_datetime(AT, TZ, lang)}
    roles = [c for c in walk(table) if isinstance(getattr(c, "id", None), dict) and c.id["type"] == ids.ACCOUNT_ROLE]
    assert [(c.id["account"], c.value) for c in roles] == [(1, "admin"), (2, "operator"), (3, "manager")]
    assert {o["label"] for o in roles[0].options} == {t(f"role.{r.value}", lang) for r in Role}
    # Each action carries the version shown; a disabled account offers "enable" instead of "disable".
    actions = {(c.id["account"], c.id["action"]): c for c in with_id(table, {"type": ids.ACCOUNT_ACTION})}
    assert set(actions) == {
        (1, "disable"),
        (1, "set_role"),
        (1, "reset_password"),
        (2, "enable"),
        (2, "set_role"),
        (2, "reset_password"),
        (3, "disable"),
        (3, "set_role"),
        (3, "reset_password"),
    }
    assert {a.id["version"] for key, a in actions.items() if key[0] == 1} == {4}
    assert text(actions[(2, "enable")].children) == t("admin.do.enable", lang)
    assert "ana" in actions[(2, "enable")].message  # the confirmation names the account


def test_nobody_is_marked_as_you_without_a_name_and_an_empty_list_says_so() -> None:
    assert "you" not in text(accounts_table(ACCOUNTS, me=None, lang="en", tz=TZ))
    assert text(accounts_table([], me=ADMIN, lang="vi", tz=TZ)) == "Chưa có tài khoản nào."
    assert text(tokens_table([], lang="en", tz=TZ)) == "No wall screen tokens yet."
    assert text(audit_table([], lang="en", tz=TZ)) == "The audit log is empty."


@pytest.mark.parametrize(
    ("lang", "active", "revoked"), [("vi", "Còn hiệu lực", "Đã thu hồi"), ("en", "Active", "Revoked")]
)
def test_tokens_table_shows_active_ones_first_with_a_revoke_button(lang: str, active: str, revoked: str) -> None:
    table = tokens_table(TOKENS, lang=lang, tz=TZ)
    rows = table.children[1].children
    assert [text(row.children[0]) for row in rows] == ["lobby", "ops-room", "lobby"]
    assert [text(row.children[2]) for row in rows] == [ADMIN, "cli:root", ADMIN]
    assert [text(row.children[3]) for row in rows] == [active, active, f"{revoked} {local_datetime(AT, TZ, lang)}"]
    buttons = with_id(table, {"type": ids.TOKEN_REVOKE})
    assert [b.id["token"] for b in buttons] == [9, 8]  # the revoked one has none
    assert "lobby" in buttons[0].message


def entry(action: str, *, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditEntry:
    return AuditEntry(1, AT, ADMIN, action, "account", "2", before, after, "192.0.2.1")


def test_audit_entries_say_what_happened_in_each_language() -> None:
    created = entry("account.create", after={"username": "ana", "role": "operator"})
    assert describe(created, "en") == "created account ana (operator)"
    assert describe(created, "vi") == "tạo tài khoản ana (điều hành viên)"
    role = entry(
        "account.set_role", before={"username": "ana", "role": "operator"}, after={"username": "ana", "role": "manager"}
    )
    assert describe(role, "en") == "changed the role of ana: operator → manager"
    failed = entry("login.failure", after={"reason": "wrong_password"})
    assert describe(failed, "vi") == "đăng nhập không thành công: sai mật khẩu"
    token = AuditEntry(
        2, AT, ADMIN, "display_token.revoke", "display_token", "9", {"name": "lobby"}, {"name": "lobby"}, None
    )
    assert describe(token, "en") == "revoked screen token lobby"
    assert describe(entry("incident.close"), "en") == "incident.close account 2"  # an action this page does not know
    table = audit_table([created, token], lang="en", tz=TZ)
    rows = table.children[1].children
    assert [text(c) for c in rows[0].children] == [
        "2026-01-05 08:30:00",
        ADMIN,
        "created account ana (operator)",
        "192.0.2.1",
    ]
    assert text(rows[1].children[3]) == "—"  # no address (e.g. the CLI)


@pytest.mark.parametrize(
    ("error", "subject", "vi", "en"),
    [
        (StaleVersion("x"), "account", "ana vừa được người khác thay đổi", "ana changed meanwhile. Reload"),
        (NotFound("x"), "token", "ana không còn nữa", "ana no longer exists"),
        (AlreadyExists("x"), "account", "Đã có tài khoản tên ana", "An account named ana exists already"),
        (AlreadyExists("x"), "token", "Đã có mã còn hiệu lực cho màn hình ana", "The screen ana has an active token"),
        (LastAdmin("x"), "account", "ana là quản trị viên cuối cùng", "ana is the last enabled admin"),
        (
            InvalidInput("the password must have at least 10 characters"),
            "account",
            "Không hợp lệ: the password must have at least 10 characters",
            "Not accepted: the password must have",
        ),
        (
            DatabaseError("database error on postgresql://db.example/ioc"),
            "token",
            "Cơ sở dữ liệu không trả lời",
            "The database does not answer",
        ),
    ],
)
def test_every_refusal_is_told_in_the_page_language(error: Exception, subject: Any, vi: str, en: str) -> None:
    assert isinstance(error, InvalidInput | AlreadyExists | NotFound | StaleVersion | DatabaseError)
    assert vi in refused_text(error, "vi", name="ana", subject=subject)
    assert en in refused_text(error, "en", name="ana", subject=subject)
    assert "postgresql" not in refused_text(error, "en", name="ana", subject=subject)


def test_secrets_are_shown_with_what_to_do_with_them() -> None:
    password = password_secret("ana", "s3cret-s3cret", "vi")
    assert "Mật khẩu của ana" in text(password) and "s3cret-s3cret" in text(password)
    url = token_secret("lobby", f"{PUBLIC_URL}/display?token=abc", "en")
    assert f"{PUBLIC_URL}/display?token=abc" in text(url) and "wall screen's browser" in text(url)
    assert [c.id for c in walk(url) if isinstance(getattr(c, "id", None), str)] == [ids.SECRET_VALUE]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_page_holds_every_panel_in_one_language(lang: str) -> None:
    page: Any = layout(AdminData(ACCOUNTS, TOKENS, [entry("logout")]), me=ADMIN, lang=lang, tz=TZ)
    found = {c.id: c for c in walk(page) if isinstance(getattr(c, "id", None), str)}
    assert page.id == ids.ROOT and page.lang == lang and found[ids.LANG].data == lang
    for panel in (
        ids.ACCOUNTS,
        ids.TOKENS,
        ids.AUDIT,
        ids.MESSAGE,
        ids.SECRET,
        ids.NEW_USERNAME,
        ids.NEW_PASSWORD,
        ids.NEW_PASSWORD_AGAIN,
        ids.NEW_ROLE,
        ids.NEW_GENERATE,
        ids.CREATE_ACCOUNT,
        ids.TOKEN_NAME,
        ids.CREATE_TOKEN,
    ):
        assert panel in found
    assert found[ids.NEW_PASSWORD].type == "password" and found[ids.NEW_PASSWORD_AGAIN].type == "password"
    shown = text(page)
    assert t("admin.title", lang) in shown and t("admin.audit", lang) in shown and t("admin.tokens", lang) in shown
    other = "en" if lang == "vi" else "vi"
    assert t("admin.title", other) not in shown
    links = [c.href for c in walk(page) if getattr(c, "href", None)]
    assert f"{PATH}?lang=vi" in links and f"{PATH}?lang=en" in links
    assert not found[ids.MESSAGE].children  # nothing to say before an action


# ---------------------------------------------------------------- callbacks over HTTP


def sign_in(client: FlaskClient, username: str, password: str) -> None:
    """Sign in through the login form, as a browser does (the CSRF token comes from the form)."""
    form = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', form)
    assert match, form
    response = client.post(
        "/login", data={"csrf": match.group(1), "username": username, "password": password, "next": PATH}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def components(node: Any) -> Iterator[dict[str, Any]]:
    """Every component of a layout as JSON (as Dash sends it)."""
    if isinstance(node, list):
        for item in node:
            yield from components(item)
    elif isinstance(node, dict):
        if "namespace" in node and isinstance(node.get("props"), dict):
            yield node
            for value in node["props"].values():
                yield from components(value)
        else:
            for value in node.values():
                yield from components(value)


def json_text(node: Any) -> str:
    """Every text shown in a JSON layout."""
    if isinstance(node, str | int | float) and not isinstance(node, bool):
        return str(node)
    if isinstance(node, list):
        return " ".join(json_text(item) for item in node)
    if isinstance(node, dict) and isinstance(node.get("props"), dict):
        return json_text(node["props"].get("children"))
    return ""


def matches(pattern: str, component_id: Any) -> bool:
    """Whether a component id is one a dependency's id stands for (itself, or an ALL wildcard pattern)."""
    if not pattern.startswith("{"):
        return bool(component_id == pattern)
    wanted = json.loads(pattern)
    return (
        isinstance(component_id, dict)
        and set(component_id) == set(wanted)
        and all(v == ["ALL"] or component_id[k] == v for k, v in wanted.items())
    )


CLICK = object()  # AdminPage.request: a click, the count raised by one


class AdminPage:
    """The admin page in one signed-in browser tab: the page's layout as the pages router sends it, kept up to date
    with every callback response, and callbacks posted with the body Dash's renderer sends."""

    def __init__(self, client: FlaskClient, search: str = "?lang=en") -> None:
        self.http = client
        self.dependencies: list[dict[str, Any]] = client.get("/_dash-dependencies").get_json()
        router = next(d for d in self.dependencies if "_pages_content.children" in d["output"])
        body = {
            "output": router["output"],
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": PATH},
                {"id": "_pages_location", "property": "search", "value": search},
            ],
            "state": [],
            "changedPropIds": ["_pages_location.pathname"],
        }
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 200, response.status_code
        self.tree: Any = response.get_json()["response"]["_pages_content"]["children"]

    def find(self, component_id: Any) -> dict[str, Any]:
        """The component with this id (as JSON)."""
        found = [c for c in components(self.tree) if c["props"].get("id") == component_id]
        assert len(found) == 1, (component_id, len(found))
        return found[0]

    def text(self, component_id: str) -> str:
        """What a component shows."""
        return json_text(self.find(component_id)["props"].get("children"))

    def set(self, component_id: Any, prop: str, value: Any) -> None:
        """Type into a field or choose an option."""
        self.find(component_id)["props"][prop] = value

    def row(self, kind: str, **keys: Any) -> dict[str, Any]:
        """The id of the one row component of this type whose id holds these keys and values."""
        found = [
            c["props"]["id"]
            for c in components(self.tree)
            if isinstance(c["props"].get("id"), dict)
            and c["props"]["id"]["type"] == kind
            and all(c["props"]["id"].get(k) == v for k, v in keys.items())
        ]
        assert len(found) == 1, (kind, keys, found)
        return dict(found[0])

    def _items(self, pattern: str, prop: str) -> Any:
        items = [
            {"id": c["props"]["id"], "property": prop, "value": c["props"].get(prop)}
            for c in components(self.tree)
            if matches(pattern, c["props"].get("id"))
        ]
        return items if pattern.startswith("{") else items[0]

    def request(self, component_id: Any, prop: str, clicks: object = CLICK) -> dict[str, Any]:
        """The body of the callback a click on this component posts (its click count raised by one), or of the call
        Dash makes with the count `clicks` (e.g. 0 or None for a button just drawn)."""
        component = self.find(component_id)
        component["props"][prop] = (component["props"].get(prop) or 0) + 1 if clicks is CLICK else clicks
        dependency = next(
            d
            for d in self.dependencies
            if any(i["property"] == prop and matches(i["id"], component_id) for i in d["inputs"])
        )
        outputs = [part.rpartition(".") for part in dependency["output"][2:-2].split("...")]
        return {
            "output": dependency["output"],
            "outputs": [{"id": spec_id, "property": spec_prop} for spec_id, _, spec_prop in outputs],
            "inputs": [self._items(i["id"], i["property"]) for i in dependency["inputs"]],
            "state": [self._items(s["id"], s["property"]) for s in dependency["state"]],
            "changedPropIds": [f"{id_key(component_id)}.{prop}"],
        }

    def click(self, component_id: Any, prop: str = "n_clicks") -> TestResponse:
        """Click a button (a row's confirmed action: prop "submit_n_clicks") and apply what the callback answers."""
        response = self.http.post("/_dash-update-component", json=self.request(component_id, prop))
        if response.status_code == 200:
            for target, props in response.get_json()["response"].items():
                self.find(target)["props"].update(props)
        return response


@pytest.fixture
def login_redis(request: pytest.FixtureRequest) -> str:
    """The Redis the logins are rate-limited in: the server at IOC_TEST_REDIS_URL, else the embedded one."""
    return os.environ.get("IOC_TEST_REDIS_URL") or request.getfixturevalue("embedded_redis").url


@pytest.fixture
def app(db: Database, db_settings: Settings, login_redis: str, namespace: str, make_app: Any) -> Iterator[Dash]:
    """An app from the factory on the database under test, with one admin account to sign in with."""
    create_account(db, ADMIN, Role.ADMIN, PASSWORD, actor="cli:root")
    built = make_app(
        database_url=db_settings.database_url, redis_url=login_redis, namespace=namespace, public_url=PUBLIC_URL
    )
    yield built
    client = connect_url(login_redis)
    wipe_namespace(client, Keys(namespace))
    client.close()


def signed_in(app: Dash, username: str = ADMIN, password: str = PASSWORD, search: str = "?lang=en") -> AdminPage:
    client = app.server.test_client()
    sign_in(client, username, password)
    return AdminPage(client, search)


def can_sign_in(app: Dash, username: str, password: str) -> bool:
    client = app.server.test_client()
    form = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf
    response = client.post("/login", data={"csrf": csrf.group(1), "username": username, "password": password})
    return bool(response.status_code == 302)


def latest(db: Database, action: str) -> AuditEntry:
    (found,) = audit.entries(db, limit=1, action=action)
    return found


def test_page_shows_the_records_in_the_default_language(app: Dash, db: Database) -> None:
    create_display_token(db, "lobby", actor=ADMIN)
    page = signed_in(app, search="")  # no ?lang: the default language (vi)
    assert page.find(ids.LANG)["props"]["data"] == "vi"
    assert ADMIN in page.text(ids.ACCOUNTS) and "Đang hoạt động" in page.text(ids.ACCOUNTS)
    assert "lobby" in page.text(ids.TOKENS) and "Còn hiệu lực" in page.text(ids.TOKENS)
    assert "đăng nhập" in page.text(ids.AUDIT)  # this very sign-in, audited
    assert signed_in(app, search="?lang=en").find(ids.LANG)["props"]["data"] == "en"


def test_admin_creates_an_account_with_a_typed_password(app: Dash, db: Database) -> None:
    page = signed_in(app)
    page.set(ids.NEW_USERNAME, "value", "ana")
    page.set(ids.NEW_ROLE, "value", "manager")
    page.set(ids.NEW_PASSWORD, "value", "ana's long secret")
    page.set(ids.NEW_PASSWORD_AGAIN, "value", "ana's long secrex")
    assert page.click(ids.CREATE_ACCOUNT).status_code == 200
    assert page.text(ids.MESSAGE) == "The two passwords differ." and find_account(db, "ana") is None
    assert page.find(ids.NEW_PASSWORD)["props"]["value"] == ""  # typed passwords never stay in the form

    page.set(ids.NEW_PASSWORD, "value", "ana's long secret")
    page.set(ids.NEW_PASSWORD_AGAIN, "value", "ana's long secret")
    page.click(ids.CREATE_ACCOUNT)
    assert page.text(ids.MESSAGE) == "Account ana created (manager)."
    assert not page.find(ids.SECRET)["props"].get("children")  # a typed password is not shown back
    made = find_account(db, "ana")
    assert made is not None and made.role is Role.MANAGER and not made.disabled
    created = latest(db, "account.create")
    assert (created.actor, created.address, created.object_id) == (ADMIN, "127.0.0.1", str(made.id))
    assert "ana" in page.text(ids.ACCOUNTS) and "created account ana (manager)" in page.text(ids.AUDIT)
    assert page.find(ids.NEW_USERNAME)["props"]["value"] == ""
    assert can_sign_in(app, "ana", "ana's long secret")


def test_generated_password_is_shown_once_and_never_logged(
    app: Dash, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    page = signed_in(app, search="?lang=vi")
    page.set(ids.NEW_USERNAME, "value", "lan")
    page.set(ids.NEW_GENERATE, "value", [GENERATE])
    with caplog.at_level(logging.DEBUG):
        page.click(ids.CREATE_ACCOUNT)
    password = page.text(ids.SECRET_VALUE)
    assert len(password) >= 16 and page.text(ids.MESSAGE) == "Đã tạo tài khoản lan (điều hành viên)."
    assert "chỉ hiện một lần" in page.text(ids.SECRET)
    assert can_sign_in(app, "lan", password)
    assert password not in caplog.text and "lan" in caplog.text  # the action is logged, the secret is not
    rows = audit.entries(db, limit=100)
    assert not any(password in json.dumps([e.before, e.after]) for e in rows)
    page.click(ids.CREATE_TOKEN)  # the next action (here a refused one) clears the secret
    assert not page.find(ids.SECRET)["props"].get("children")


@pytest.mark.parametrize(
    ("username", "password", "shown"),
    [
        (ADMIN.upper(), PASSWORD, "Đã có tài khoản tên BOSS."),
        ("ana", "short", "Không hợp lệ: the password must have at least 10 characters"),
        ("not a name", PASSWORD, "Không hợp lệ: invalid user name 'not a name'"),
        ("", PASSWORD, "Không hợp lệ: invalid user name ''"),
    ],
)
def test_refused_account_says_why_in_the_page(
    app: Dash, db: Database, username: str, password: str, shown: str
) -> None:
    page = signed_in(app, search="?lang=vi")
    page.set(ids.NEW_USERNAME, "value", username)
    page.set(ids.NEW_PASSWORD, "value", password)
    page.set(ids.NEW_PASSWORD_AGAIN, "value", password)
    before = len(audit.entries(db))
    assert page.click(ids.CREATE_ACCOUNT).status_code == 200
    assert page.text(ids.MESSAGE).startswith(shown)
    assert page.find(ids.MESSAGE)["props"]["children"]["props"]["className"] == "admin-message is-error"
    assert len(audit.entries(db)) == before and [a.username for a in list_accounts(db)] == [ADMIN]
    assert page.find(ids.NEW_USERNAME)["props"]["value"] == username  # kept to correct it


def test_a_refused_name_is_not_logged(app: Dash, caplog: pytest.LogCaptureFixture) -> None:
    """Whatever was typed in the name field (a password, by mistake) stays out of the log when it is refused."""
    page = signed_in(app)
    page.set(ids.NEW_USERNAME, "value", "typed my pass phrase here")
    page.set(ids.TOKEN_NAME, "value", "another pass phrase here")
    with caplog.at_level(logging.DEBUG):
        page.click(ids.CREATE_ACCOUNT)
        page.click(ids.CREATE_TOKEN)
    assert "InvalidInput" in caplog.text and "pass phrase" not in caplog.text
    assert page.text(ids.MESSAGE).startswith("Not accepted: invalid display token name")  # the page says why


def test_disable_and_enable_from_the_rows(app: Dash, db: Database) -> None:
    ana = create_account(db, "ana", Role.OPERATOR, "ana's long secret", actor=ADMIN)
    page = signed_in(app)
    page.click(page.row(ids.ACCOUNT_ACTION, account=ana.id, action="disable"), "submit_n_clicks")
    assert page.text(ids.MESSAGE) == "Account ana disabled."
    after = find_account(db, "ana")
    assert after is not None and after.disabled and after.version == ana.version + 1
    entry = latest(db, "account.disable")
    assert (entry.actor, entry.address, entry.object_id) == (ADMIN, "127.0.0.1", str(ana.id))
    assert (entry.before or {})["disabled"] is False and (entry.after or {})["disabled"] is True
    assert not can_sign_in(app, "ana", "ana's long secret")
    # The refreshed row offers "enable", carrying the new version.
    enable_id = page.row(ids.ACCOUNT_ACTION, account=ana.id, action="enable")
    assert enable_id["version"] == after.version and "Disabled" in page.text(ids.ACCOUNTS)
    page.click(enable_id, "submit_n_clicks")
    assert page.text(ids.MESSAGE) == "Account ana enabled."
    assert not find_account(db, "ana").disabled  # type: ignore[union-attr]
    assert "enabled account ana" in page.text(ids.AUDIT)


def test_rows_drawn_anew_change_nothing(app: Dash, db: Database) -> None:
    """Dash calls a row callback when its table is drawn again, with no click: nothing happens then."""
    ana = create_account(db, "ana", Role.OPERATOR, "ana's long secret", actor=ADMIN)
    token, _ = create_display_token(db, "lobby", actor=ADMIN)
    page = signed_in(app)
    before = audit.entries(db, limit=1000)
    for row in (page.row(ids.ACCOUNT_ACTION, account=ana.id, action="disable"), page.row(ids.TOKEN_REVOKE)):
        for clicks in (0, None):
            body = page.request(row, "submit_n_clicks", clicks=clicks)
            assert page.http.post("/_dash-update-component", json=body).status_code == 204
    assert audit.entries(db, limit=1000) == before
    assert not find_account(db, "ana").disabled  # type: ignore[union-attr]
    assert [tk.id for tk in list_display_tokens(db, include_revoked=False)] == [token.id]


def test_role_change_and_password_reset_from_the_rows(app: Dash, db: Database) -> None:
    ana = create_account(db, "ana", Role.OPERATOR, "ana's long secret", actor=ADMIN)
    page = signed_in(app)
    page.set({"type": ids.ACCOUNT_ROLE, "account": ana.id}, "value", "trainer")
    page.click(page.row(ids.ACCOUNT_ACTION, account=ana.id, action="set_role"), "submit_n_clicks")
    assert page.text(ids.MESSAGE) == "Account ana is now trainer."
    assert find_account(db, "ana").role is Role.TRAINER  # type: ignore[union-attr]
    changed = latest(db, "account.set_role")
    assert (changed.before or {})["role"] == "operator" and (changed.after or {})["role"] == "trainer"

    page.click(page.row(ids.ACCOUNT_ACTION, account=ana.id, action="set_role"), "submit_n_clicks")  # the same role
    assert page.text(ids.MESSAGE).startswith("Nothing to change")

    page.click(page.row(ids.ACCOUNT_ACTION, account=ana.id, action="reset_password"), "submit_n_clicks")
    password = page.text(ids.SECRET_VALUE)
    assert page.text(ids.MESSAGE) == "Password of ana reset."
    assert can_sign_in(app, "ana", password) and not can_sign_in(app, "ana", "ana's long secret")
    assert (latest(db, "account.reset_password").after or {})["password_changed"] is True


def test_own_password_reset_keeps_this_session(app: Dash, db: Database) -> None:
    page = signed_in(app)
    me = find_account(db, ADMIN)
    assert me is not None
    page.click(page.row(ids.ACCOUNT_ACTION, account=me.id, action="reset_password"), "submit_n_clicks")
    password = page.text(ids.SECRET_VALUE)
    assert can_sign_in(app, ADMIN, password) and not can_sign_in(app, ADMIN, PASSWORD)
    # This session goes on with the new version (any other session of the account ends).
    assert page.click(ids.CREATE_TOKEN).status_code == 200
    assert page.http.get(PATH).status_code == 200


def test_a_row_changed_meanwhile_is_refused_not_overwritten(app: Dash, db: Database) -> None:
    ana = create_account(db, "ana", Role.OPERATOR, "ana's long secret", actor=ADMIN)
    page = signed_in(app, search="?lang=vi")
    shown = page.row(ids.ACCOUNT_ACTION, account=ana.id, action="disable")
    set_role(db, "ana", Role.MANAGER, actor="other-admin")  # another admin, meanwhile
    page.click(shown, "submit_n_clicks")
    assert page.text(ids.MESSAGE) == "ana vừa được người khác thay đổi. Hãy tải lại trang rồi thử lại."
    now = find_account(db, "ana")
    assert now is not None and not now.disabled and now.role is Role.MANAGER
    assert latest(db, "account.set_role").actor == "other-admin" and not audit.entries(db, action="account.disable")
    # The table now shows the account as it is, so the next click applies to what the admin sees.
    assert page.row(ids.ACCOUNT_ACTION, account=ana.id, action="disable")["version"] == now.version


def test_the_last_admin_stays(app: Dash, db: Database) -> None:
    page = signed_in(app)
    me = find_account(db, ADMIN)
    assert me is not None
    page.click(page.row(ids.ACCOUNT_ACTION, account=me.id, action="disable"), "submit_n_clicks")
    assert page.text(ids.MESSAGE) == "boss is the last enabled admin: it cannot be disabled or given another role."
    page.set({"type": ids.ACCOUNT_ROLE, "account": me.id}, "value", "operator")
    page.click(page.row(ids.ACCOUNT_ACTION, account=me.id, action="set_role"), "submit_n_clicks")
    assert "last enabled admin" in page.text(ids.MESSAGE)
    still = find_account(db, ADMIN)
    assert still == me


def test_display_token_created_shown_once_and_revoked(
    app: Dash, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    page = signed_in(app)
    page.set(ids.TOKEN_NAME, "value", "lobby")
    with caplog.at_level(logging.DEBUG):
        page.click(ids.CREATE_TOKEN)
    assert page.text(ids.MESSAGE) == "Token for the screen lobby created."
    url = page.text(ids.SECRET_VALUE)
    assert url.startswith(f"{PUBLIC_URL}/display?token=") and "open this address once" in page.text(ids.SECRET).lower()
    secret = parse_qs(urlsplit(url).query)["token"][0]
    token = verify_token(db, secret)
    assert token is not None and token.name == "lobby" and token.created_by == ADMIN
    assert secret not in caplog.text and not any(secret in json.dumps(e.after) for e in audit.entries(db))
    assert latest(db, "display_token.create").address == "127.0.0.1"
    assert page.find(ids.TOKEN_NAME)["props"]["value"] == ""

    page.set(ids.TOKEN_NAME, "value", "lobby")  # the same name again: refused while the first is active
    page.click(ids.CREATE_TOKEN)
    assert page.text(ids.MESSAGE) == "The screen lobby has an active token already; revoke it first."

    page.click(page.row(ids.TOKEN_REVOKE, token=token.id), "submit_n_clicks")
    assert page.text(ids.MESSAGE).startswith("Token of the screen lobby revoked")
    assert verify_token(db, secret) is None
    revoked = latest(db, "display_token.revoke")
    assert (revoked.actor, revoked.object_id) == (ADMIN, str(token.id))
    assert "Revoked" in page.text(ids.TOKENS) and "revoked screen token lobby" in page.text(ids.AUDIT)


def test_a_token_revoked_and_made_again_meanwhile_is_not_revoked_by_the_old_row(app: Dash, db: Database) -> None:
    first, _ = create_display_token(db, "lobby", actor=ADMIN)
    page = signed_in(app)
    shown = page.row(ids.TOKEN_REVOKE, token=first.id)
    revoke_display_token(db, "lobby", actor="other-admin")
    second, secret = create_display_token(db, "lobby", actor="other-admin")
    page.click(shown, "submit_n_clicks")
    assert page.text(ids.MESSAGE) == "lobby changed meanwhile. Reload the page and try again."
    assert verify_token(db, secret) == second  # the new one still lets its wall in
    assert [tk.id for tk in list_display_tokens(db, include_revoked=False)] == [second.id]


def test_every_admin_callback_needs_manage_accounts(app: Dash) -> None:
    admin_callbacks = [spec for key, spec in app.callback_map.items() if f"{ids.MESSAGE}.children" in key]
    assert len(admin_callbacks) == 4
    assert all(getattr(spec["callback"], GUARD_ATTRIBUTE) is Permission.MANAGE_ACCOUNTS for spec in admin_callbacks)


def test_an_operator_is_refused_the_page_and_every_admin_callback(app: Dash, db: Database) -> None:
    ana = create_account(db, "ana", Role.OPERATOR, "ana's long secret", actor=ADMIN)
    token, _ = create_display_token(db, "lobby", actor=ADMIN)
    page = signed_in(app)  # an admin's page, to build the bodies a browser would post
    page.set(ids.NEW_USERNAME, "value", "mallory")
    page.set(ids.NEW_PASSWORD, "value", "mallory's long secret")
    page.set(ids.NEW_PASSWORD_AGAIN, "value", "mallory's long secret")
    page.set(ids.TOKEN_NAME, "value", "rogue")
    bodies = [
        page.request(ids.CREATE_ACCOUNT, "n_clicks"),
        page.request(page.row(ids.ACCOUNT_ACTION, account=ana.id, action="disable"), "submit_n_clicks"),
        page.request(page.row(ids.ACCOUNT_ACTION, account=ana.id, action="reset_password"), "submit_n_clicks"),
        page.request(ids.CREATE_TOKEN, "n_clicks"),
        page.request(page.row(ids.TOKEN_REVOKE, token=token.id), "submit_n_clicks"),
    ]
    assert {body["output"] for body in bodies} == {
        key for key in app.callback_map if f"{ids.MESSAGE}.children" in key
    }  # every admin callback
    before = audit.entries(db, limit=1000)
    operator = app.server.test_client()
    sign_in(operator, "ana", "ana's long secret")
    nobody = app.server.test_client()
    for body in bodies:
        refused = operator.post("/_dash-update-component", json=body)
        assert refused.status_code == 403, body["output"][:60]
        assert b"boss" not in refused.get_data() and b"lobby" not in refused.get_data()
        assert nobody.post("/_dash-update-component", json=body).status_code == 401
    assert operator.get(PATH).status_code == 403 and operator.get(f"{PATH}?lang=en").status_code == 403
    assert nobody.get(PATH).status_code == 302  # to the login
    # Nothing changed: no account made, none disabled, no token made or revoked (only the operator's own sign-in).
    assert [e.action for e in audit.entries(db, limit=1000)[: -len(before)]] == ["login.success"]
    assert find_account(db, "mallory") is None and not find_account(db, "ana").disabled  # type: ignore[union-attr]
    assert [tk.name for tk in list_display_tokens(db, include_revoked=False)] == ["lobby"]
    # The pages router gives the operator the refusal, with no other account and no token in it.
    forbidden = AdminPage(operator, "?lang=en")
    assert ADMIN not in json.dumps(forbidden.tree) and "lobby" not in json.dumps(forbidden.tree)
    assert forbidden.tree["props"]["id"] == "auth-forbidden" and ids.ROOT not in json.dumps(forbidden.tree)
