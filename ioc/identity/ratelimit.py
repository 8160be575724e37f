"""Login rate limiting shared through Redis, so every web worker and host counts the same failures.

Three counters, each a fixed window started by its first failure, and each attempt counted *before* the password
is checked (one atomic script checks the counters and adds to them), so concurrent guesses on several workers
cannot exceed a limit; a success takes its count back.
- Per user name: `IOC_LOGIN_MAX_FAILURES` per `IOC_LOGIN_WINDOW_S`. Each time a name reaches its limit again within
  a day, the lock lasts twice as long as the one before (up to `IOC_LOGIN_MAX_LOCK_S`): a slow guesser gets ever
  fewer guesses.
- Per client address: `IOC_LOGIN_MAX_FAILURES_PER_ADDRESS` (much higher): one address guessing many names is
  stopped, while a shared address (an office behind one NAT, a proxy) is not locked by a few people's typos.
- Per user name and browser: a browser where the name signed in before carries a device cookie (OWASP's "device
  cookies"); its attempts for that name count only against their own counter, with the same limit and back-off.
  So someone who fails on purpose with another person's name, from anywhere, cannot lock that person out of the
  browser they use, while a stolen cookie still gives only a few slow guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from ioc.cluster import Client
from ioc.keys import Keys
from ioc.settings import Settings

MAX_SUBJECT: Final = 64
LOCKOUT_MEMORY_MS: Final = 86_400_000  # a day without a lockout forgets the earlier ones
_UNSAFE: Final = re.compile(r"[^a-z0-9._@:\[\]-]")

# KEYS[i], i = 1..n: counters; KEYS[n + i]: the lockout count of counter i (used when its back-off is on).
# ARGV[1] = n; then per counter (3 values each): limit, window in ms, longest lock in ms (0: no back-off).
# ARGV[2 + 3n] = how long a lockout count is remembered, ms. Returns 0 (counted) or the ms to wait.
_ACQUIRE: Final = """
local n = tonumber(ARGV[1])
local memory = tonumber(ARGV[2 + 3 * n])
local wait = 0
for i = 1, n do
  local limit = tonumber(ARGV[3 * i - 1])
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      ttl = tonumber(ARGV[3 * i])
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, n do
  local limit, window, longest = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1])
  redis.call('SET', KEYS[i], 0, 'PX', window, 'NX')
  local count = redis.call('INCR', KEYS[i])
  if count == limit and longest > 0 then
    local lockouts = redis.call('INCR', KEYS[n + i])
    redis.call('PEXPIRE', KEYS[n + i], memory)
    local lock = math.min(window * 2 ^ (lockouts - 1), longest)
    if lock > window then redis.call('PEXPIRE', KEYS[i], math.floor(lock)) end
  end
end
return 0
"""

# KEYS: the counters of an attempt; KEYS[#KEYS]: its name's (or device's) lockout count. ARGV[i] = 1: forget counter i
# (the name's or device's failures), 0: only take this attempt's count back (the address); a count taken back to 0 is
# deleted, so that the next failure starts a new window rather than joining an old window's end.
_SUCCEEDED: Final = """
for i = 1, #ARGV do
  if ARGV[i] == '1' then
    redis.call('DEL', KEYS[i])
  else
    local count = tonumber(redis.call('GET', KEYS[i]) or '0')
    if count > 1 then redis.call('DECR', KEYS[i]) else redis.call('DEL', KEYS[i]) end
  end
end
redis.call('DEL', KEYS[#KEYS])
return 1
"""


def subject(text: str | None) -> str:
    """A user name, address or device id as a safe, bounded part of a key (lower case; odd characters replaced)."""
    cleaned = _UNSAFE.sub("_", (text or "").strip().lower())[:MAX_SUBJECT]
    return cleaned or "_"


@dataclass(frozen=True)
class _Counter:
    """One counter an attempt goes against: its key, limit, and its lockout count's key if it backs off."""

    key: str
    limit: int
    lockouts: str | None
    forgiven: bool  # a success deletes it (the name's, the device's) rather than taking one back (the address's)


class LoginLimiter:
    """Counts login attempts per user name, per address and per (name, known browser) in Redis; refuses them
    past the limits (see the module's docstring)."""

    def __init__(
        self,
        client: Client,
        keys: Keys,
        *,
        max_failures: int,
        window_s: float,
        address_max_failures: int | None = None,
        max_lock_s: float | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.max_failures = max_failures
        self.address_max_failures = address_max_failures if address_max_failures is not None else max_failures
        self.window_ms = max(1, round(window_s * 1000))
        self.max_lock_ms = max(self.window_ms, round((max_lock_s if max_lock_s is not None else window_s) * 1000))
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._succeeded: Any = client.register_script(_SUCCEEDED)

    @classmethod
    def from_settings(cls, client: Client, settings: Settings) -> LoginLimiter:
        """A limiter with the IOC_LOGIN_* settings, keys in IOC_NAMESPACE."""
        return cls(
            client,
            Keys(settings.namespace),
            max_failures=settings.login_max_failures,
            window_s=settings.login_window_s,
            address_max_failures=settings.login_max_failures_per_address,
            max_lock_s=settings.login_max_lock_s,
        )

    def _counters(self, username: str, address: str | None, device: str | None) -> list[_Counter]:
        """The counters of an attempt: the (name, device) one for a known browser, else the name's and address's."""
        name = subject(username)
        if device is not None:
            key = self.keys.login_failures_device(name, subject(device))
            return [_Counter(key, self.max_failures, self.keys.login_lockouts(f"{name}:{subject(device)}"), True)]
        return [
            _Counter(self.keys.login_failures_account(name), self.max_failures, self.keys.login_lockouts(name), True),
            _Counter(self.keys.login_failures_address(subject(address)), self.address_max_failures, None, False),
        ]

    def acquire(self, username: str, address: str | None, device: str | None = None) -> float | None:
        """Count an attempt and return None, or refuse it: the seconds until it may be tried again. `device` is the
        id of a browser where this name signed in before (its device cookie), if any."""
        counters = self._counters(username, address, device)
        keys = [c.key for c in counters] + [c.lockouts or f"{c.key}:lockouts" for c in counters]
        args: list[int] = [len(counters)]
        for counter in counters:
            args += [counter.limit, self.window_ms, self.max_lock_ms if counter.lockouts else 0]
        args.append(LOCKOUT_MEMORY_MS)
        wait_ms = int(self._acquire(keys=keys, args=args))
        return None if wait_ms == 0 else wait_ms / 1000

    def succeeded(self, username: str, address: str | None, device: str | None = None) -> None:
        """The attempt was right: forget the name's (or device's) failures and lockouts, take the address's count
        back."""
        counters = self._counters(username, address, device)
        lockouts = counters[0].lockouts or f"{counters[0].key}:lockouts"
        self._succeeded(keys=[c.key for c in counters] + [lockouts], args=[int(c.forgiven) for c in counters])

    def failures(self, username: str, address: str | None, device: str | None = None) -> tuple[int, ...]:
        """Attempts counted in the current windows: (name, address), or (device,) for a known browser; for display
        and tests."""
        values = self.client.mget([c.key for c in self._counters(username, address, device)])
        return tuple(int(value or 0) for value in values)
