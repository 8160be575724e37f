"""Requests that are not what they claim, answered at the web's one door (callbacks/bad_input.py; issue 12, finding
6), on SQLite and PostgreSQL: a callback request body that is not one (raw bytes, not UTF-8, not JSON, nested too
deep, the wrong shape) gets 400 with a short JSON reason, a path out of Dash's bundles gets 404, without a session
as with one; nothing is stored and no traceback is logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from dash import Dash

from benchmarks.browser import UPDATE_PATH, AppHttp
from ioc.db import Database
from ioc.identity.roles import Role
from ioc.settings import Settings
from tests.conftest import PROBE_REFUSES
from tests.sessions import operator_http
from tests.test_hostile_input import callbacks_of, no_traceback, request_body, stored


@pytest.fixture
def app(db: Database, db_settings: Settings, namespace: str, make_app: Any) -> Iterator[Dash]:
    """An app from the factory on the database under test (sessions in the test session's embedded Redis)."""
    yield make_app(database_url=db_settings.database_url, namespace=namespace)


@pytest.mark.parametrize(
    "body",
    [
        b"[1,2,3]",
        b"null",
        b"1",
        b'"x"',
        b"{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"output": [' * 5000,
        b"\xff\xfe not utf-8",
        b'{"output": "a\x00b"}',
        b'{"output": "x", "inputs": 5}',
        b"not json at all",
        b'{"output": "incidents-count.children", "outputs": {}, "inputs": [[[[[]]]]]}',
        b"",
    ],
)
def test_a_body_that_is_not_a_callback_request_gets_400(
    app: Dash, db: Database, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    http = operator_http(app, Role.MANAGER)
    before = stored(db)
    response = http.client.post(UPDATE_PATH, data=body, content_type="application/json")
    assert response.status_code == 400, (response.status_code, response.get_data()[:200])
    assert response.is_json and "error" in response.get_json()
    nobody = AppHttp(app).client.post(UPDATE_PATH, data=body, content_type="application/json")
    assert nobody.status_code == 401  # without a session, the gate answers first, whatever the body
    assert stored(db) == before
    no_traceback(caplog)


def test_a_path_out_of_the_bundles_gets_404(app: Dash, caplog: pytest.LogCaptureFixture) -> None:
    paths = (
        "/_dash-component-suites/../../webapp.py",
        "/_dash-component-suites/dash/../../../webapp.py",
        "/_dash-component-suites/nothing/here.js",
        "/_dash-component-suites/%2e%2e/webapp.py",
    )
    for client in (AppHttp(app).client, operator_http(app).client):
        for path in paths:
            response = client.get(path)
            assert response.status_code in (400, 404), (path, response.status_code)
            assert response.headers.get("Cache-Control") == "no-store"
    no_traceback(caplog)


SWEEP_VALUES = ("\ud800", "nul\x00", [["deep"]], {"id": 2**70}, 2**70, True)


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN, Role.TRAINER])
def test_every_input_of_every_callback_takes_each_hostile_value_alone(
    app: Dash, db: Database, caplog: pytest.LogCaptureFixture, role: Role
) -> None:
    """A sweep, not a sample: each input and state of each callback in turn gets each hostile value while the others
    are empty, as a manager, an admin and a trainer (between them every permission of a page); none may answer 500."""
    http = operator_http(app, role)
    before = stored(db)
    for key, spec in callbacks_of(app):
        dependencies = [*spec["inputs"], *spec["state"]]
        for index in range(len(dependencies)):
            for value in SWEEP_VALUES:
                body = request_body(key, spec, lambda _strategy: None)
                flat = [*body["inputs"], *body["state"]]
                target = flat[index][0] if isinstance(flat[index], list) else flat[index]
                target["value"] = value
                response = http.client.post(UPDATE_PATH, data=json.dumps(body), content_type="application/json")
                assert response.status_code in (200, 204, 400, 403), (key[:80], index, value, response.status_code)
    assert stored(db)["incidents"] == before["incidents"]
    no_traceback(caplog)


def test_a_value_refused_deep_in_a_callback_is_a_400_with_the_reason(
    app: Dash, caplog: pytest.LogCaptureFixture
) -> None:
    http = operator_http(app)
    with caplog.at_level(logging.INFO, logger="callbacks.bad_input"):
        response = http.client.get(PROBE_REFUSES)  # the tests' probe: clean_text refuses a list, deep inside
    assert response.status_code == 400
    assert response.get_json() == {"error": "the comment: must be a text, not list"}
    assert [r.levelname for r in caplog.records if r.name == "callbacks.bad_input"] == ["INFO"]
    no_traceback(caplog)
