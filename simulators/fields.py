"""Field types and problem wording shared by the scenario sections and the episodes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, Strict, ValidationInfo
from pydantic_core import PydanticCustomError

from ioc.city import City

Num = Annotated[float, Strict(), Field(allow_inf_nan=False)]  # a finite number: not a bool, not a string


def custom(kind: str, message: str) -> PydanticCustomError:
    """A problem said in our words (the value is in the message when it helps)."""
    return PydanticCustomError(f"scenario_{kind}", message)


def city_of(info: ValidationInfo) -> City | None:
    """The city a scenario is checked against, when the caller gave one (`context={"city": city}`)."""
    context = info.context
    if isinstance(context, dict):
        city = context.get("city")
        if isinstance(city, City):
            return city
    return None


def pair(value: object) -> object:
    """A [low, high] list, checked for its length before its numbers."""
    if not isinstance(value, list) or len(value) != 2:
        raise custom("range", f"expected [low, high], got {value!r}")
    return value


Pair = Annotated[tuple[Num, Num], BeforeValidator(pair)]  # [low, high]
