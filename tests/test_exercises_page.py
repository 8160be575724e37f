"""The trainer's page without a browser: every one of its callbacks carries the guard of RUN_EXERCISES and refuses
every other role and a request without a session (403/401, no data); what a browser posts goes through the core's
forms (the input boundary) and a refused value is said in the page's language; a trainer creates and starts an
exercise through the callbacks, audited as that trainer; the page and its texts in both languages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from dash import Dash

from benchmarks.browser import UPDATE_PATH, AppHttp, BrowserPage, Http, HttpReply, sign_in, sign_in_with_token
from callbacks.exercises import actions
from ioc import audit
from ioc.city import load_city
from ioc.db import Database
from ioc.errors import InvalidInput
from ioc.exercises import trainer
from ioc.exercises.injects import sent_injects
from ioc.exercises.map_injects import map_events
from ioc.exercises.records import (
    check_spec,
    create_exercise,
    get_exercise,
    list_exercises,
    save_position,
    start_exercise,
)
from ioc.identity.roles import Permission, Role
from ioc.keys import Keys
from ioc.settings import Settings
from ioc.store import connect_url
from layouts.exercises import ids
from layouts.exercises.page import PATH, layout
from tests.conftest import wipe_namespace
from tests.sessions import PASSWORD, new_account, new_display_token
from tests.test_auth import REFUSALS, guard_of


@pytest.fixture
def app(db: Database, db_settings: Settings, redis_url: str, namespace: str, make_app: Any) -> Iterator[Dash]:
    """An app from the factory on the database and Redis under test."""
    built = make_app(database_url=db_settings.database_url, redis_url=redis_url, namespace=namespace)
    yield built
    client = connect_url(redis_url)
    wipe_namespace(client, Keys(namespace))
    client.close()


def browser(app: Dash, role: Role | None, db: Database) -> AppHttp:
    """HTTP to the app: without a session, a wall screen's token, or a new account of that role."""
    http = AppHttp(app)
    if role is Role.DISPLAY:
        sign_in_with_token(http, new_display_token(db)[1])
    elif role is not None:
        sign_in(http, new_account(db, role).username, PASSWORD)
    return http


def page_callbacks(page: BrowserPage) -> list[dict[str, Any]]:
    """The server callbacks writing the trainer's page's components."""
    return [
        d
        for d in page.dependencies
        if d.get("clientside_function") is None
        and ids.PREFIX in d["output"]
        and ids.REPORT_PREFIX not in d["output"]  # the report page's (tests/test_aar.py)
        and "_pages" not in d["output"]
    ]


def post(page: BrowserPage, http: Http, dependency: dict[str, Any]) -> HttpReply:
    """Post a callback as a click on its first input would, with the values the trainer's page shows."""
    body = page.body(dependency, BrowserPage.inputs_of(dependency)[:1])
    for item in body["inputs"]:
        if isinstance(item, dict) and item["property"] in ("n_clicks", "n_intervals"):
            item["value"] = 1
    return http.request("POST", UPDATE_PATH, json_body=body)


def test_every_callback_of_the_page_is_the_trainers_only(app: Dash, db: Database) -> None:
    trainer_account = new_account(db, Role.TRAINER)
    page = BrowserPage(app, PATH, "?lang=en", user=(trainer_account.username, PASSWORD))
    assert page.knows(ids.CREATE) and page.knows(ids.RESPONSES)
    found = page_callbacks(page)
    assert len(found) >= 6  # refresh, create, control, inject, mark the map's point, inject on the map
    for dependency in found:
        callback = app.callback_map[dependency["output"]]["callback"]
        assert guard_of(callback) == Permission.RUN_EXERCISES, dependency["output"]
    for role in (None, Role.OPERATOR, Role.MANAGER, Role.ADMIN, Role.DISPLAY):
        http = browser(app, role, db)
        for dependency in found:
            reply = post(page, http, dependency)
            assert reply.status == (401 if role is None else 403), (role, dependency["output"], reply.status)
            assert reply.json() in REFUSALS  # nothing but the refusal
    assert list_exercises(db) == []  # nobody else made anything
    trainer_http = page.http
    refresh = next(d for d in found if f"{ids.LIST}.children" in d["output"])
    assert post(page, trainer_http, refresh).status == 200  # ... and the trainer may


def test_a_trainer_creates_and_starts_an_exercise_and_a_bad_value_is_refused(app: Dash, db: Database) -> None:
    trainee = new_account(db, Role.OPERATOR)
    someone = new_account(db, Role.MANAGER)
    trainer_account = new_account(db, Role.TRAINER)
    page = BrowserPage(app, PATH, "?lang=en", user=(trainer_account.username, PASSWORD))
    options = page.props[(ids.TRAINEES, "options")]
    assert [o["value"] for o in options] == [trainee.id]  # only operators train
    found = page_callbacks(page)
    create = next(d for d in found if f"{ids.CREATE}" in json.dumps(d["inputs"]))

    def create_with(**values: Any) -> dict[str, Any]:
        for key, value in values.items():
            page.props[(key, "value")] = value
        reply = post(page, page.http, create)
        assert reply.status == 200, reply.body[:300]
        return dict(reply.json()["response"])

    refused = create_with(**{ids.NAME: "drill", ids.SCENARIO: "normal-day", ids.SPEED: 61, ids.TRAINEES: []})
    assert "Not valid" in json.dumps(refused) and "speed" in json.dumps(refused)  # x60 at most on the page
    refused = create_with(**{ids.SPEED: 30, ids.TRAINEES: [someone.id]})  # a manager is no trainee
    assert "Not valid" in json.dumps(refused)
    refused = create_with(**{ids.TRAINEES: [trainee.id], ids.NAME: "bad \u202e name"})
    assert "Not valid" in json.dumps(refused)
    assert list_exercises(db) == []
    made = create_with(**{ids.NAME: "Morning drill"})
    [exercise] = list_exercises(db)
    assert made[ids.SELECTED]["value"] == exercise.id and exercise.status == "created"
    assert (exercise.speed, exercise.trainees, exercise.created_by) == (30.0, (trainee.id,), trainer_account.username)

    page.props[(ids.SELECTED, "value")] = exercise.id
    control = next(d for d in found if ids.START in json.dumps(d["inputs"]))
    body = page.body(control, [(ids.START, "n_clicks")])
    for item in body["inputs"]:
        if item["id"] == ids.START:
            item["value"] = 1
    reply = page.http.request("POST", UPDATE_PATH, json_body=body)
    assert reply.status == 200 and "Running" in reply.body.decode()
    assert get_exercise(db, exercise.id).status == "running"
    (entry,) = audit.entries(db, limit=1, action="exercise.start")
    assert entry.actor == trainer_account.username


def test_the_forms_refuse_what_breaks_the_input_rule() -> None:
    with pytest.raises(InvalidInput, match="speed"):
        trainer.parse(trainer.CreateForm, name="d", scenario="normal-day", speed=0, trainees=[])
    with pytest.raises(InvalidInput, match="trainee"):
        trainer.parse(trainer.CreateForm, name="d", scenario="normal-day", speed=5, trainees=["x"])
    with pytest.raises(InvalidInput, match="scenario"):
        trainer.parse(trainer.CreateForm, name="d", scenario="../etc", speed=5, trainees=[])
    with pytest.raises(InvalidInput, match="command"):
        trainer.parse(trainer.ControlForm, exercise=1, command="delete")
    with pytest.raises(InvalidInput, match="exercise"):
        trainer.parse(trainer.ControlForm, exercise="1", command="pause")
    with pytest.raises(InvalidInput, match="minutes"):
        trainer.parse(trainer.JumpForm, exercise=1, minutes=trainer.PAGE_MAX_JUMP_MIN + 1)
    with pytest.raises(InvalidInput, match="text"):
        trainer.parse(trainer.InjectForm, exercise=1, message={"sender": "a", "recipient": "b", "text": "x\x00"})
    form = trainer.parse(
        trainer.InjectForm, exercise=3, message={"sender": " Ban Chỉ huy ", "recipient": "IOC", "text": "Mưa lớn"}
    )
    assert form.message.sender == "Ban Chỉ huy" and form.exercise == 3
    assert actions.PERMISSION is Permission.RUN_EXERCISES


@pytest.mark.parametrize(("lang", "title"), [("vi", "Điều hành diễn tập"), ("en", "Running exercises")])
def test_the_page_speaks_each_language(lang: str, title: str) -> None:
    page = layout(trainer.Board(), scenarios=[], trainees=[], lang=lang, tz="Asia/Ho_Chi_Minh")
    text = repr(page)
    assert title in text and ("Chưa có bài diễn tập nào." if lang == "vi" else "No exercises yet.") in text


def test_a_trainer_injects_on_the_map_and_what_is_wrong_is_refused_in_words(
    app: Dash, db: Database, redis_url: str, namespace: str
) -> None:
    trainer_account = new_account(db, Role.TRAINER)
    page = BrowserPage(app, PATH, "?lang=en", user=(trainer_account.username, PASSWORD))
    assert page.knows(ids.MAP) and page.knows(ids.MAP_INJECT) and page.props[(ids.REPORT_LINK, "hidden")]
    inject = next(d for d in page_callbacks(page) if ids.MAP_INJECT in json.dumps(d["inputs"]))
    city = load_city()
    camera = city.sensors_of("traffic_camera")[0]

    def inject_at(click: Any, selected: int | None, kind: str = "device_fault") -> str:
        page.props[(ids.MAP, "clickData")] = click
        page.props[(ids.SELECTED, "value")] = selected
        page.props[(ids.MAP_KIND, "value")] = kind
        body = page.body(inject, [(ids.MAP_INJECT, "n_clicks")])
        for item in body["inputs"]:
            if item["id"] == ids.MAP_INJECT:
                item["value"] = 1
        reply = page.http.request("POST", UPDATE_PATH, json_body=body)
        assert reply.status == 200, reply.body[:300]
        return json.dumps(reply.json()["response"], ensure_ascii=False)

    at_camera = {"latlng": {"lat": camera.lat, "lng": camera.lon}}
    client = connect_url(redis_url)
    try:
        spec = check_spec(name="map drill", scenario="normal-day", seed=5, speed=60.0)
        waiting = create_exercise(db, spec, actor="trainer")
        assert "Select an exercise first" in inject_at(at_camera, None)
        assert "Click a point on the map first" in inject_at(None, waiting.id)
        assert "outside the city" in inject_at({"latlng": {"lat": 21.03, "lng": 105.85}}, waiting.id)
        assert "Not valid" in inject_at({"latlng": {"lat": "15.5", "lng": 108.5}}, waiting.id)
        assert "Not valid" in inject_at(at_camera, waiting.id, kind="meteor")
        assert "Not allowed now" in inject_at(at_camera, waiting.id)  # never played: no exercise running
        running = start_exercise(db, client, spec, actor="trainer", base=namespace)
        save_position(db, running.id, sim_start=1_780_000_000.0, position=1_780_000_600.0)  # as the runner would
        done = inject_at(at_camera, running.id)
        assert "Injected" in done and camera.name in done
    finally:
        client.close()
    [sent] = sent_injects(db, running.id)
    assert sent.on_map and sent.sender == trainer_account.username and sent.sent_at.timestamp() == 1_780_000_600.0
    assert [e.device for e in map_events(db, running.id)] == [camera.id] and sent_injects(db, waiting.id) == []
    (entry,) = audit.entries(db, limit=1, action="exercise.inject")
    assert entry.actor == trainer_account.username
    # the refreshed page links the selected exercise's report
    refresh = next(d for d in page_callbacks(page) if f"{ids.LIST}.children" in d["output"])
    page.props[(ids.SELECTED, "value")] = running.id
    reply = post(page, page.http, refresh)
    link = reply.json()["response"][ids.REPORT_LINK]
    assert link == {"href": f"/exercises/report?id={running.id}&lang=en", "hidden": False}
