"""The aggregator's commit: a batch's derived writes, dead letters, alerts and XACK as one Lua script, applied
only if the domain's state version is the one the batch was computed on and its entries are still this consumer's;
the script that loads state for a batch; and the committer that pipelines commits on a connection of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import hiredis
import redis

from ioc.cluster import Client, node_client
from ioc.events import RawEntry
from ioc.keys import AGGREGATOR_GROUP, Domain
from ioc.streams.replies import drop

MAX_UNPACK: Final = 4000  # arguments per command in the commit script (Lua's unpack() stops near 8000)

# Returns {version, clock, {{hash, ttl in ms} or false per key}}: a hash is sent only when the caller's copy may
# be out of date, i.e. the caller does not hold it or the domain's version is not the one it last committed.
_WRONG_LUA: Final = """
local function wrong(key, want)
  local kind = redis.call('TYPE', key)['ok']
  return kind ~= 'none' and kind ~= want
end
"""

# A key someone broke (another type, a counter that is not a number) is named, {'damaged', key}, before anything
# is read, so the engine can move it aside instead of failing on it for ever.
LOAD_LUA: Final = (
    _WRONG_LUA
    + """
if wrong(KEYS[1], 'hash') then return {'damaged', KEYS[1]} end
local version = redis.call('HGET', KEYS[1], 'version') or ''
local clock = redis.call('HGET', KEYS[1], 'clock') or ''
if (version ~= '' and not string.match(version, '^%d+$')) or (clock ~= '' and not tonumber(clock)) then
  return {'damaged', KEYS[1]}
end
for i = 2, #KEYS do
  if wrong(KEYS[i], 'hash') then return {'damaged', KEYS[i]} end
end
local current = version == ARGV[1]
local hashes = {}
for i = 2, #KEYS do
  if current and ARGV[i] == '1' then
    hashes[i - 1] = false
  else
    hashes[i - 1] = {redis.call('HGETALL', KEYS[i]), redis.call('PTTL', KEYS[i])}
  end
end
return {version, clock, hashes}
"""
)

# KEYS[1] is the domain's stats hash, KEYS[2] its raw stream, KEYS[3..] every other key the batch writes (all in
# one hash slot). ARGV[1] is the state version the batch was computed on ('' for none), ARGV[2] the group,
# ARGV[3] the consumer, ARGV[4] the count n of entry ids that follow (ascending); then each command as its name,
# the index of its key in KEYS, the count of its other arguments, and those arguments.
# Runs every command and bumps the version, or nothing: {0, current} when the version moved, {-1, current} when
# one of the entries is no longer pending on this consumer (another took it over, and so its effect), {-2, key}
# when a key it would write was broken by someone (another type, a counter that is not an integer). Every key is
# checked before the first write: Redis keeps what a script wrote before an error, so failing halfway would apply
# half a batch.
COMMIT_LUA: Final = (
    _WRONG_LUA
    + """
if wrong(KEYS[1], 'hash') then return {-2, KEYS[1]} end
if wrong(KEYS[2], 'stream') then return {-2, KEYS[2]} end
local version = redis.call('HGET', KEYS[1], 'version') or ''
if version ~= '' and not string.match(version, '^%d+$') then return {-2, KEYS[1]} end
if version ~= ARGV[1] then return {0, version} end
local n = tonumber(ARGV[4])
if n > 0 then
  local mine = {}
  local pending = redis.call('XPENDING', KEYS[2], ARGV[2], ARGV[5], ARGV[4 + n], 2 * n + 64, ARGV[3])
  for _, entry in ipairs(pending) do mine[entry[1]] = true end
  for i = 5, 4 + n do
    if not mine[ARGV[i]] then return {-1, version} end
  end
end
local want = {HSET = 'hash', HINCRBY = 'hash', HDEL = 'hash', XADD = 'stream', XACK = 'stream'}
local checked = {}
local last = #ARGV
local i = 5 + n
while i <= last do
  local k = tonumber(ARGV[i + 1])
  local kind = want[ARGV[i]]
  if kind and not checked[k] then
    if wrong(KEYS[k], kind) then return {-2, KEYS[k]} end
    checked[k] = true
  end
  if ARGV[i] == 'HINCRBY' then
    local value = redis.call('HGET', KEYS[k], ARGV[i + 3])
    if value and not string.match(value, '^-?%d+$') then return {-2, KEYS[k]} end
  end
  i = i + 3 + tonumber(ARGV[i + 2])
end
i = 5 + n
while i <= last do
  local count = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + count))
  i = i + 3 + count
end
return {1, tostring(redis.call('HINCRBY', KEYS[1], 'version', 1))}
"""
)


class Commit:
    """One batch's writes and XACK as the commit script's keys and arguments, with the entries they settle."""

    def __init__(self, domain: Domain, entries: Sequence[RawEntry], stats_key: str, stream_key: str) -> None:
        self.domain = domain
        self.entries = entries
        self.keys: list[str] = [stats_key, stream_key]
        self._index: dict[str, int] = {stats_key: 1, stream_key: 2}
        self.args: list[str | int] = []
        # Entries that must still be pending on this consumer for the commit to apply: those read with their
        # fields (an entry deleted from the stream may have left the pending list already, in Redis 7).
        self.owned = [entry_id for entry_id, fields in entries if fields]

    def call(self, command: str, key: str, *args: str | int, unit: int = 0) -> None:
        """Add a command on one key. With `unit` (arguments that belong together, e.g. 2 for field-value pairs) a
        command with more arguments than one Lua call can pass is split into several; without, it is refused."""
        index = self._index.get(key)
        if index is None:
            self.keys.append(key)
            index = self._index[key] = len(self.keys)
        if len(args) <= MAX_UNPACK:
            self.args += (command, index, len(args), *args)
            return
        if not unit:
            raise ValueError(f"{command} with {len(args)} arguments cannot be split")
        step = MAX_UNPACK - MAX_UNPACK % unit
        for start in range(0, len(args), step):
            part = args[start : start + step]
            self.args += (command, index, len(part), *part)

    def hset(self, key: str, mapping: dict[str, str]) -> None:
        """HSET many fields of one hash."""
        self.call("HSET", key, *(item for pair in mapping.items() for item in pair), unit=2)

    def xadd(self, key: str, fields: dict[str, str], maxlen: int) -> None:
        """Append an entry to a bounded stream."""
        self.call("XADD", key, "MAXLEN", "~", maxlen, "*", *(item for pair in fields.items() for item in pair))


class Committer:
    """Sends commit scripts on connections of its own and reads their replies later, so Redis applies a round's
    batches while this process reads and checks the next round. Replies come back in the order sent.

    A commit goes to the node of its domain's slot (on a single server, the one server): one connection per node,
    from that node's pool, so on a cluster each node applies its domains' commits while the others apply theirs."""

    def __init__(self, client: Client, consumer: str) -> None:
        self._client = client
        self._consumer = consumer
        self._connections: dict[int, tuple[redis.ConnectionPool, Any]] = {}  # id of a node's pool -> its connection
        self._pools: dict[str, redis.ConnectionPool] = {}  # stats key -> its node's pool (found again after failures)
        self.in_flight: list[tuple[Commit, Any]] = []  # each with the connection it was sent on

    def _connection(self, commit: Commit) -> Any:
        """The connection to the node of the commit's slot (its stats key's)."""
        key = commit.keys[0]
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = node_client(self._client, key).connection_pool
        held = self._connections.get(id(pool))
        if held is None:
            held = self._connections[id(pool)] = (pool, pool.get_connection())
        return held[1]

    def send(self, commit: Commit, version: str | None) -> None:
        """Send a commit computed on state `version`, without waiting for its reply."""
        connection = self._connection(commit)
        command = (
            "EVAL",
            COMMIT_LUA,
            len(commit.keys),
            *commit.keys,
            version or "",
            AGGREGATOR_GROUP,
            self._consumer,
            len(commit.owned),
            *commit.owned,
            *commit.args,
        )
        # A health-check PING while replies are unread would read one of them as its answer.
        connection.send_packed_command(
            [hiredis.pack_command(command)],  # type: ignore[arg-type]
            check_health=not any(sent is connection for _, sent in self.in_flight),
        )
        self.in_flight.append((commit, connection))

    def receive(self) -> tuple[int, str | None]:
        """Wait for the oldest commit in flight: (1, the new version) if applied; (0, current) if refused for a
        moved version; (-1, current) if refused because its entries are no longer all this consumer's; (-2, a key)
        if refused because that key was broken by someone."""
        _, connection = self.in_flight[0]
        reply = connection.read_response()
        self.in_flight.pop(0)
        outcome, version = reply
        return int(outcome), version or None

    @property
    def oldest(self) -> Commit:
        """The oldest commit in flight (the one receive() waits for)."""
        return self.in_flight[0][0]

    def abandon(self) -> None:
        """Drop the commits in flight and the connections (their replies may never be read); which node serves which
        domain is looked up again."""
        self.in_flight.clear()
        for pool, connection in self._connections.values():
            drop(pool, connection)
        self._connections.clear()
        self._pools.clear()

    def close(self) -> None:
        """Give the connections back to their pools (nothing may be in flight)."""
        for pool, connection in self._connections.values():
            pool.release(connection)
        self._connections.clear()
