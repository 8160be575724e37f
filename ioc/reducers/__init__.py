"""The domain reducers, registered in one place: a new domain is a module here and a line below."""

from __future__ import annotations

from typing import Final

from ioc.keys import Domain
from ioc.reducers.base import Batch, Checked, Reducer
from ioc.reducers.device import DeviceReducer
from ioc.reducers.flood import FloodReducer
from ioc.reducers.traffic import TrafficReducer
from ioc.reducers.wifi import WifiReducer

REDUCERS: Final[dict[Domain, type[Reducer]]] = {
    "traffic": TrafficReducer,
    "flood": FloodReducer,
    "wifi": WifiReducer,
    "device": DeviceReducer,
}

__all__ = ["REDUCERS", "Batch", "Checked", "Reducer"]
