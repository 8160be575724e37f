"""Bytes a browser receives per wall tick, measured through the real Dash app with Flask's test client.

Used by `ioc bench`. The wall tick is posted exactly as the browser posts it; the response's per-browser store
is fed back into the next request, as the browser does, while simulated events flow between ticks.
"""

from __future__ import annotations

import gzip
import json
import os
import statistics
import uuid
from collections.abc import Iterator
from typing import Any

import redis

from ioc.aggregator import Aggregator
from ioc.city import City
from ioc.keys import Keys
from simulators.engine import SimEvent

SECONDS_PER_TICK = 120.0  # `ioc run` plays the day at 60x and the wall refreshes every 2 s


def _tick_callback(app: Any, output_id: str) -> tuple[str, dict[str, Any]]:
    """The registered callback whose outputs include `output_id` (the wall's tick)."""
    for key, spec in app.callback_map.items():
        if f"..{output_id}." in key or key.startswith(f"{output_id}."):
            return key, spec
    raise LookupError(f"no callback outputs {output_id}")


def _split(prop_id: str) -> dict[str, str]:
    component, _, prop = prop_id.rpartition(".")
    return {"id": component, "property": prop}


def _layout_ids(component: Any) -> Iterator[Any]:
    """Every component id in a layout tree."""
    if isinstance(component, list | tuple):
        for child in component:
            yield from _layout_ids(child)
        return
    component_id = getattr(component, "id", None)
    if component_id is not None:
        yield component_id
    for name in ("children", *getattr(component, "_children_props", ())):
        child = getattr(component, name, None)
        if child is not None and not isinstance(child, str | int | float):
            yield from _layout_ids(child)


def _expand_output(prop_id: str, ids: list[Any]) -> Any:
    """An output as the browser sends it: a pattern (ALL) becomes the list of the matching components."""
    component, _, prop = prop_id.rpartition(".")
    if not component.startswith("{"):
        return {"id": component, "property": prop}
    pattern = json.loads(component)
    matches = [
        i for i in ids
        if isinstance(i, dict) and set(i) == set(pattern) and all(pattern[k] in (i[k], ["ALL"]) for k in pattern)
    ]  # fmt: skip
    return [{"id": m, "property": prop} for m in matches]


def measure_tick_bytes(
    client: redis.Redis, redis_url: str, city: City, events: Iterator[SimEvent], *, ticks: int = 20
) -> dict[str, Any]:
    """Post `ticks` wall ticks with events arriving between them; return first and steady response sizes."""
    from simulators.runner import write_events

    keys = Keys(f"bench-tick-{uuid.uuid4().hex[:8]}")
    os.environ["IOC_REDIS_URL"] = redis_url
    os.environ["IOC_NAMESPACE"] = keys.namespace
    import callbacks
    from layouts import wall as ui

    callbacks.reset_resources()
    import webapp

    aggregator = Aggregator(client, keys, city, consumer="bench-tick")
    aggregator.setup()
    pending = next(events)

    def feed(seconds: float) -> None:
        nonlocal pending
        batch: list[SimEvent] = []
        until = pending.at + seconds
        while pending.at < until:
            batch.append(pending)
            pending = next(events)
        write_events(client, keys, batch, maxlen=1_000_000)
        aggregator.heartbeat(aggregator.drain())

    feed(2 * 3600)  # two hours of history, so the chart has a full window
    http = webapp.server.test_client()
    http.get("/_dash-dependencies")  # Dash merges callbacks registered with dash.callback on the first request
    output_key, spec = _tick_callback(webapp.app, ui.ID_CLIENT)
    ids = list(_layout_ids(webapp.wall_page(lang="vi")))
    outputs = [_expand_output(o, ids) for o in output_key[2:-2].split("...")]
    values: dict[tuple[str, str], Any] = {(ui.ID_LANG, "data"): "vi", (ui.ID_CLIENT, "data"): None}
    sizes: list[int] = []
    gzipped: list[int] = []
    try:
        for n in range(ticks):
            body = {
                "output": output_key,
                "outputs": outputs,
                "inputs": [{**_split(i["id"] + "." + i["property"]), "value": n + 1} for i in spec["inputs"]],
                "state": [
                    {"id": s["id"], "property": s["property"], "value": values.get((s["id"], s["property"]))}
                    for s in spec["state"]
                ],
                "changedPropIds": [f"{spec['inputs'][0]['id']}.{spec['inputs'][0]['property']}"],
            }
            response = http.post("/_dash-update-component", json=body)
            if response.status_code not in (200, 204):
                raise RuntimeError(f"tick {n} answered {response.status_code}: {response.data[:300]!r}")
            payload = response.data
            sizes.append(len(payload))
            gzipped.append(len(gzip.compress(payload)))
            if response.status_code == 200:
                for component, props in json.loads(payload).get("response", {}).items():
                    for prop, value in props.items():
                        values[(component, prop)] = value
            feed(SECONDS_PER_TICK)
    finally:
        aggregator.close()
        batch = list(client.scan_iter(match=keys.all_keys_pattern(), count=1000))
        if batch:
            client.delete(*batch)
    steady = sizes[1:]
    return {
        "tick_first_bytes": sizes[0],
        "tick_steady_bytes": round(statistics.median(steady)),
        "tick_steady_max_bytes": max(steady),
        "tick_steady_gzip_bytes": round(statistics.median(gzipped[1:])),
        "tick_count": len(steady),
        "tick_simulated_s": SECONDS_PER_TICK,
    }
