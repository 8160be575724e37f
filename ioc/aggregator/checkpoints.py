"""Checkpoints of a namespace's derived state, the starting points of a replay (ioc/replay/): every few minutes the
aggregator copies each domain's derived state, as committed, into the domain's checkpoints stream, with the first raw
entry that state does not hold yet. A replay of a moment restores the newest checkpoint at or before it and feeds the
raw entries after it through the same engine and reducers, so it never re-reads a whole day, and state older than
the retained raw history (a station's alarm since yesterday, the dead-letter count) comes back as it was.

The copy is read in one script, atomically with the consumer group's position: between two commit scripts the state
holds exactly the entries the group acknowledged. Entries read ahead and not yet committed (pending) are the newest
delivered ones; the checkpoint then starts at the oldest of them, and is skipped if any acknowledged entry follows it
(a claim out of order). An entry's id is that starting position, so ids grow with the history and the newest
checkpoint at or before a moment is one XREVRANGE; a checkpoint is written only when the position moved.
"""

from __future__ import annotations

import base64
import logging
import zlib
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis

from ioc.clock import Timebase, decode_timebase
from ioc.cluster import Client
from ioc.keys import AGGREGATOR_GROUP, Domain, Keys, StateHash
from ioc.streams.retention import EntryId, entry_pair

log = logging.getLogger(__name__)

ROLLUP_MINUTES_KEPT: Final = 66  # the chart's hour of per-minute speeds before the clock, and a few more
MAX_PENDING: Final = 20_000  # a backlog larger than this in flight: no checkpoint now (the next pass tries again)
EXTRA_HASHES: Final = ("stats", "latest", "active")  # besides the reducer's state hashes; traffic adds violations

# KEYS[1] the raw stream, KEYS[2..] the hashes to copy (one slot). ARGV[1] the group, ARGV[2] the most entries that
# may be pending. Returns {start, {flat hash per key}}, or {false, why} when no consistent checkpoint can be read now.
READ_LUA: Final = """
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return {false, 'no stream'} end
local delivered, pending = nil, 0
for _, group in ipairs(groups) do
  local fields = {}
  for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
  if fields['name'] == ARGV[1] then
    delivered, pending = fields['last-delivered-id'], tonumber(fields['pending'])
  end
end
if delivered == nil then return {false, 'no group'} end
if delivered == '0-0' then return {false, 'nothing processed'} end
local start
if pending > 0 then
  if pending > tonumber(ARGV[2]) then return {false, 'busy'} end
  local oldest = redis.call('XPENDING', KEYS[1], ARGV[1])[2]
  local between = redis.call('XRANGE', KEYS[1], oldest, delivered, 'COUNT', pending + 1)
  if #between ~= pending then return {false, 'acknowledged out of order'} end
  start = oldest
else
  local dash = string.find(delivered, '-', 1, true)
  start = string.sub(delivered, 1, dash - 1) .. '-' .. tostring(tonumber(string.sub(delivered, dash + 1)) + 1)
end
local hashes = {}
for i = 2, #KEYS do hashes[i - 1] = redis.call('HGETALL', KEYS[i]) end
return {start, hashes}
"""


@dataclass(frozen=True)
class Checkpoint:
    """One domain's derived state at a position of its raw stream: it holds every entry before `start` and none
    from it on; with the namespace's clock as the aggregator judged event times by then."""

    domain: Domain
    start: str  # the first raw entry id the state does not hold
    hashes: dict[str, dict[str, str]]  # "stats", "latest", "active", "violations" or a state hash -> its fields
    minutes: dict[int, dict[str, str]]  # the speed roll-ups of the last minutes before the domain clock
    timebase: Timebase

    @property
    def position(self) -> EntryId:
        """The start as a comparable pair."""
        return entry_pair(self.start)

    def encode(self) -> dict[str, str]:
        """The stream entry's fields: the state compressed (a day of checkpoints stays small), and the clock."""
        body = orjson.dumps({"h": self.hashes, "m": {str(m): v for m, v in self.minutes.items()}})
        return {
            "state": base64.b64encode(zlib.compress(body, 6)).decode("ascii"),
            "timebase": orjson.dumps(self.timebase.encode()).decode(),
        }

    @classmethod
    def decode(cls, domain: Domain, entry_id: str, fields: dict[str, str]) -> Checkpoint:
        """A checkpoint from its stream entry (ValueError when damaged)."""
        try:
            body = orjson.loads(zlib.decompress(base64.b64decode(fields["state"])))
            timebase = decode_timebase(orjson.loads(fields.get("timebase") or "{}"))
            hashes = {str(name): {str(k): str(v) for k, v in items.items()} for name, items in body["h"].items()}
            minutes = {int(m): {str(k): str(v) for k, v in items.items()} for m, items in body["m"].items()}
        except (KeyError, TypeError, AttributeError, zlib.error, orjson.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"damaged checkpoint {entry_id} of {domain}: {exc}") from exc
        return cls(domain, entry_id, hashes, minutes, timebase)


def hash_key(keys: Keys, domain: Domain, name: str) -> str:
    """The key of a hash a checkpoint holds, by its name in the checkpoint."""
    if name == "stats":
        return keys.stats(domain)
    if name == "latest":
        return keys.latest(domain)
    if name == "active":
        return keys.active(domain)
    if name == "violations":
        return keys.violations()
    state_name: StateHash = name  # type: ignore[assignment]  # the reducer's state hashes
    return keys.state(domain, state_name)


def hash_names(domain: Domain, state: tuple[StateHash, ...]) -> list[str]:
    """The hashes a domain's checkpoint holds: its reducer's state and the stats, latest readings, active alerts
    (and the speed-violation counters of traffic)."""
    names = [*EXTRA_HASHES, *state]
    if domain == "traffic":
        names.append("violations")
    return names


def read_checkpoint(
    client: Client,
    keys: Keys,
    domain: Domain,
    state: tuple[StateHash, ...],
    timebase: Timebase,
    rollup_key: Any = None,
) -> Checkpoint | str:
    """The domain's state now with its position (one script, atomic), or why none can be read now."""
    names = hash_names(domain, state)
    minutes: list[int] = []
    if rollup_key is not None:
        clock = client.hget(keys.stats(domain), "clock")
        if clock is not None:
            current = int(float(str(clock))) // 60
            minutes = list(range(current - ROLLUP_MINUTES_KEPT, current + 2))
    hash_keys = [hash_key(keys, domain, name) for name in names] + [rollup_key(m) for m in minutes]
    reply = client.eval(READ_LUA, 1 + len(hash_keys), keys.events(domain), *hash_keys, AGGREGATOR_GROUP, MAX_PENDING)
    start, flats = reply[0], reply[1]
    if not start:
        return str(flats)
    copied = [dict(zip(flat[::2], flat[1::2], strict=True)) for flat in flats]
    hashes = {name: copied[index] for index, name in enumerate(names) if copied[index]}
    held = {minute: copied[len(names) + index] for index, minute in enumerate(minutes) if copied[len(names) + index]}
    return Checkpoint(domain, str(start), hashes, held, timebase)


def write_checkpoint(client: Client, keys: Keys, checkpoint: Checkpoint) -> bool:
    """Append a checkpoint under its position; False when the newest one already is at that position (nothing new
    was processed since: that one still holds)."""
    try:
        client.xadd(keys.checkpoints(checkpoint.domain), checkpoint.encode(), id=checkpoint.start)
    except redis.ResponseError as exc:
        if "equal or smaller" in str(exc):
            return False
        raise
    return True


def trim_checkpoints(client: Client, keys: Keys, domain: Domain, cutoff_ms: int) -> int:
    """Drop the checkpoints older than the raw history kept (`cutoff_ms`), always keeping the newest one: a domain
    with no event since still starts from it. Returns how many went."""
    newest = client.xrevrange(keys.checkpoints(domain), count=1)
    if not newest:
        return 0
    keep = min((cutoff_ms, 0), entry_pair(str(newest[0][0])))
    return int(client.xtrim(keys.checkpoints(domain), minid=f"{keep[0]}-{keep[1]}"))


def checkpoint_at_or_before(client: Client, keys: Keys, domain: Domain, at_ms: int) -> Checkpoint | None:
    """The newest checkpoint of a domain whose position is at or before `at_ms` (epoch ms), None if there is none."""
    found = client.xrevrange(keys.checkpoints(domain), max=f"{at_ms}-18446744073709551615", count=1)
    if not found:
        return None
    entry_id, fields = found[0]
    return Checkpoint.decode(domain, str(entry_id), dict(fields))


def oldest_checkpoint(client: Client, keys: Keys, domain: Domain) -> str | None:
    """The position of a domain's oldest checkpoint, None if it has none (ids only: the state is not read)."""
    found = client.xrange(keys.checkpoints(domain), count=1)
    return str(found[0][0]) if found else None
