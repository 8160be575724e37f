"""Login rate limiting shared through Redis, so every web worker and host counts the same failures.

A fixed window per user name and per client address: the first failure starts a window of
`IOC_LOGIN_WINDOW_S`; once `IOC_LOGIN_MAX_FAILURES` attempts failed in it, further attempts are refused until
it ends. An attempt is counted *before* the password is checked (one atomic script checks both counters and
adds to them), so concurrent guesses on several workers cannot exceed the limit; a success takes its count
back and clears the account's failures.
"""

from __future__ import annotations

import re
from typing import Any, Final

import redis

from ioc.keys import Keys
from ioc.settings import Settings

MAX_SUBJECT: Final = 64
_UNSAFE: Final = re.compile(r"[^a-z0-9._@:\[\]-]")

# KEYS: account counter, address counter. ARGV: limit, window in ms. Returns 0 (counted) or ms to wait.
_ACQUIRE: Final = """
local limit = tonumber(ARGV[1])
local wait = 0
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n >= limit then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      ttl = tonumber(ARGV[2])
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], 0, 'PX', ARGV[2], 'NX')
  redis.call('INCR', KEYS[i])
end
return 0
"""

# KEYS: account counter, address counter. The account's failures are forgiven; the address gets its one back.
_SUCCEEDED: Final = """
redis.call('DEL', KEYS[1])
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n > 0 then redis.call('DECR', KEYS[2]) end
return 1
"""


def subject(text: str | None) -> str:
    """A user name or address as a safe, bounded part of a key (lower case; odd characters replaced)."""
    cleaned = _UNSAFE.sub("_", (text or "").strip().lower())[:MAX_SUBJECT]
    return cleaned or "_"


class LoginLimiter:
    """Counts login attempts per user name and per address in Redis; refuses them past the limit."""

    def __init__(self, client: redis.Redis, keys: Keys, *, max_failures: int, window_s: float) -> None:
        self.client = client
        self.keys = keys
        self.max_failures = max_failures
        self.window_ms = max(1, round(window_s * 1000))
        self._acquire: Any = client.register_script(_ACQUIRE)
        self._succeeded: Any = client.register_script(_SUCCEEDED)

    @classmethod
    def from_settings(cls, client: redis.Redis, settings: Settings) -> LoginLimiter:
        """A limiter with IOC_LOGIN_MAX_FAILURES and IOC_LOGIN_WINDOW_S, keys in IOC_NAMESPACE."""
        return cls(
            client, Keys(settings.namespace), max_failures=settings.login_max_failures, window_s=settings.login_window_s
        )

    def _pair(self, username: str, address: str | None) -> list[str]:
        """The two counters of an attempt."""
        return [self.keys.login_failures_account(subject(username)), self.keys.login_failures_address(subject(address))]

    def acquire(self, username: str, address: str | None) -> float | None:
        """Count an attempt and return None, or refuse it: the seconds until the user name and address may retry."""
        wait_ms = int(self._acquire(keys=self._pair(username, address), args=[self.max_failures, self.window_ms]))
        return None if wait_ms == 0 else wait_ms / 1000

    def succeeded(self, username: str, address: str | None) -> None:
        """The attempt was right: forget the account's failures and take the address's count back."""
        self._succeeded(keys=self._pair(username, address), args=[])

    def failures(self, username: str, address: str | None) -> tuple[int, int]:
        """Attempts counted in the current windows (account, address); for display and tests."""
        account, by_address = self.client.mget(self._pair(username, address))
        return int(account or 0), int(by_address or 0)

    def reset(self, username: str, address: str | None = None) -> None:
        """Clear the counters of a user name (and an address), e.g. when an admin unlocks an account."""
        names = self._pair(username, address)
        self.client.delete(*(names if address is not None else names[:1]))
