"""The master scenario events list (MSEL, as in HSEEP): what a training exercise sends its trainees, when, what it
expects them to do and which objective each response tests. Pure pydantic shapes, read from a scenario's `msel:`
section (simulators/scenario.py checks the file with them, so a mistake is refused with its file and line).

```yaml
msel:
  objectives:                   # listed once, named in both languages
    - {id: warn, name: {vi: "Tiếp nhận cảnh báo lũ", en: "Receive the flood warning"}}
  injects:                      # minutes from the scenario's start (the exercise's clock)
    - id: storm                 # unique among injects and contingencies
      at_min: 60
      objective: warn
      from: "Ban Chỉ huy PCTT tỉnh"     # a message to the trainees: from, to, text in both languages
      to: "Trung tâm IOC Tam Kỳ"
      text: {vi: "...", en: "..."}
      expected:                 # responses, each within its minutes of the inject (or of the incident's opening)
        - {action: acknowledge, incident_type: flood, place: wl-tam-ky, within_min: 5}
        - {action: dispatch, incident_type: flood, unit: flood-response, within_min: 10}
      contingency:              # sent when one of the responses is late, only then
        {id: storm-reminder, from: "...", to: "...", text: {vi: "...", en: "..."}}
    - {id: crash, at_min: 70, episode: crash-pct}   # an event: an episode of the scenario by id, or one inline
```

An inject is a message (`text`, with `from` and `to`) or an event (`episode`: the id of one of the scenario's
episodes, or an episode given inline, which begins at the inject's `at_min`). The episode's type is the
scenario's business: here it is any shape `E` (the simulators give their episode union).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any, Final, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ioc.city import City
from ioc.incidents.model import INCIDENT_TYPES
from ioc.inputs import text_type

E = TypeVar("E")
Id = Annotated[StrictStr, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ExpectedAction = Literal["acknowledge", "dispatch", "resolve", "close", "comment", "open_by_hand"]
EXPECTED_ACTIONS: Final = ("acknowledge", "dispatch", "resolve", "close", "comment", "open_by_hand")
IncidentType = Literal[
    "flood",
    "heavy_rain",
    "congestion",
    "device_offline",
    "speed_violations",
    "traffic_accident",
    "fire",
    "fallen_tree",
    "power_outage",
    "other",
]
assert set(IncidentType.__args__) == set(INCIDENT_TYPES)  # type: ignore[attr-defined]

if TYPE_CHECKING:
    Words = str
    Party = str
else:  # texts by the input rule (ioc/inputs.py)
    Words = text_type(1000, multiline=True)
    Party = text_type(200)


def problem(kind: str, message: str) -> PydanticCustomError:
    """A problem in the MSEL's own words (shown as `file:line: field: message` by the scenario loader)."""
    return PydanticCustomError(f"scenario_msel_{kind}", message)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Bilingual(_Strict):
    """A text in Vietnamese and English."""

    vi: Words = Field(min_length=1)
    en: Words = Field(min_length=1)


class Objective(_Strict):
    """What the exercise tests, rated once it ends (HSEEP's four ratings)."""

    id: Id
    name: Bilingual


class Expected(_Strict):
    """A response the trainees should make: an action on an incident of a type (at a place, to a unit), or opening
    one by hand, within `within_min` minutes of its inject (or of the incident's opening, if that came later)."""

    action: ExpectedAction
    incident_type: IncidentType
    place: Id | None = None  # the incident's place (sensor or segment id); None: any
    unit: Id | None = None  # dispatch: to this unit; None: any
    within_min: float = Field(gt=0, le=7 * 24 * 60, allow_inf_nan=False, strict=True)

    @field_validator("place")
    @classmethod
    def _known_place(cls, place: str | None, info: ValidationInfo) -> str | None:
        city = info.context.get("city") if isinstance(info.context, dict) else None
        if place is not None and isinstance(city, City) and place not in city.sensors and place not in city.segments:
            raise problem("place", f"unknown place {place!r}: a sensor or road segment id of the city")
        return place

    @model_validator(mode="after")
    def _unit_with_dispatch(self) -> Self:
        if self.unit is not None and self.action != "dispatch":
            raise problem("unit", f"`unit` goes with a dispatch, not with {self.action}")
        return self

    def describe(self) -> str:
        """One line for reports: `dispatch flood at wl-tam-ky to flood-response within 10 min`."""
        where = f" at {self.place}" if self.place else ""
        to = f" to {self.unit}" if self.unit else ""
        return f"{self.action} {self.incident_type}{where}{to} within {self.within_min:g} min"


class Message(_Strict):
    """A message to the trainees: who sends it, to whom, what it says in both languages."""

    sender: Party = Field(alias="from", min_length=1)
    to: Party = Field(min_length=1)
    text: Bilingual


class Contingency(Message):
    """A message sent when one of its inject's expected responses is late (past its `within_min`, not done)."""

    id: Id


class Inject(_Strict, Generic[E]):
    """One line of the MSEL: a message or an event at a scenario time, what it expects and what it tests."""

    id: Id
    at_min: float = Field(ge=0, allow_inf_nan=False, strict=True)
    objective: Id | None = None
    sender: Party | None = Field(None, alias="from", min_length=1)
    to: Party | None = Field(None, min_length=1)
    text: Bilingual | None = None
    episode: Id | E | None = None
    expected: list[Expected] = []
    contingency: Contingency | None = None

    @model_validator(mode="before")
    @classmethod
    def _inline_episode_begins_with_its_inject(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("episode"), dict) and "at_min" not in data["episode"]:
            return {**data, "episode": {**data["episode"], "at_min": data.get("at_min")}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        is_message = self.text is not None
        if is_message == (self.episode is not None):
            raise problem("kind", "an inject is a message (`text`, `from`, `to`) or an event (`episode`): one of them")
        if is_message and (self.sender is None or self.to is None):
            raise problem("message", "a message needs `from` and `to`")
        if not is_message and (self.sender is not None or self.to is not None):
            raise problem("message", "`from` and `to` go with a message's `text`")
        inline_at = getattr(self.episode, "at_min", None)
        if inline_at is not None and inline_at != self.at_min:
            raise problem(
                "episode", f"an inline episode begins at its inject's at_min ({self.at_min:g}), not {inline_at:g}"
            )
        if self.expected and self.objective is None:
            raise problem("objective", "an inject with expected responses names the `objective` they test")
        if self.contingency is not None and not self.expected:
            raise problem("contingency", "a contingency is sent when an expected response is late: give `expected`")
        return self

    @property
    def at_s(self) -> float:
        """Seconds from the scenario's start."""
        return self.at_min * 60.0

    @property
    def kind(self) -> Literal["message", "episode"]:
        """A message to the trainees or an event in the simulation."""
        return "message" if self.text is not None else "episode"

    def episode_ref(self) -> str:
        """The episode an event inject plays: its id, or `kind` of an inline one without an id."""
        if isinstance(self.episode, str):
            return self.episode
        return str(getattr(self.episode, "id", None) or getattr(self.episode, "kind", "episode"))


class Msel(_Strict, Generic[E]):
    """The `msel:` section: the objectives and the injects (`reference_problems`: ids unique, every objective and
    episode named exists)."""

    objectives: list[Objective] = Field(min_length=1)
    injects: list[Inject[E]] = Field(min_length=1)

    def reference_problems(self, episodes: Iterable[str]) -> list[tuple[tuple[str | int, ...], str]]:
        """What the MSEL names that does not exist or is named twice: (where in the section, what is wrong), where
        `episodes` are the ids of the scenario's episodes. Checked by the scenario's loader, which knows the lines."""
        problems: list[tuple[tuple[str | int, ...], str]] = []
        objectives: set[str] = set()
        for index, objective in enumerate(self.objectives):
            if objective.id in objectives:
                problems.append((("objectives", index, "id"), f"objective id {objective.id!r} is used twice"))
            objectives.add(objective.id)
        named = set(episodes)
        seen: set[str] = set()
        for index, inject in enumerate(self.injects):
            ids: list[tuple[tuple[str | int, ...], str]] = [(("injects", index, "id"), inject.id)]
            if inject.contingency is not None:
                ids.append((("injects", index, "contingency", "id"), inject.contingency.id))
            for loc, inject_id in ids:
                if inject_id in seen:
                    problems.append((loc, f"inject id {inject_id!r} is used twice"))
                seen.add(inject_id)
            if inject.objective is not None and inject.objective not in objectives:
                known = ", ".join(sorted(objectives))
                problems.append(
                    (("injects", index, "objective"), f"unknown objective {inject.objective!r} (known: {known})")
                )
            if isinstance(inject.episode, str) and inject.episode not in named:
                known = ", ".join(sorted(named)) or "none"
                problems.append((("injects", index, "episode"), f"unknown episode {inject.episode!r} (known: {known})"))
            inline_id = None if isinstance(inject.episode, str) else getattr(inject.episode, "id", None)
            if isinstance(inline_id, str):
                if inline_id in named:
                    problems.append((("injects", index, "episode", "id"), f"episode id {inline_id!r} is used twice"))
                named.add(inline_id)
        return problems

    def objective(self, objective_id: str) -> Objective:
        """An objective by id (KeyError if none)."""
        for objective in self.objectives:
            if objective.id == objective_id:
                return objective
        raise KeyError(objective_id)
