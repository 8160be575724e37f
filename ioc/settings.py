"""Settings read once from `IOC_*` environment variables and validated, so a bad value stops start-up clearly."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ioc.errors import SettingsError

REDIS_SCHEMES = ("redis", "rediss", "unix")
DATABASE_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
PUBLIC_URL_SCHEMES = ("http", "https")
MIN_SECRET_KEY_LENGTH = 32


def _default_consumer_name() -> str:
    """A consumer name that stays the same across restarts on one host, so pending entries are found again."""
    return f"aggregator-{socket.gethostname()}"


class Settings(BaseSettings):
    """Every tunable of the system; each field is read from the environment variable `IOC_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="IOC_", extra="ignore", frozen=True)

    redis_url: str | None = Field(
        default=None, description="Redis server URL; unset runs an embedded Redis kept in data_dir."
    )
    redis_cluster: bool = Field(
        default=False, description="IOC_REDIS_URL is a node of a Redis Cluster: every process uses a cluster client."
    )
    data_dir: Path = Field(default=Path("var"), description="Folder for the embedded Redis and run files.")
    namespace: str = Field(
        default="live", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description="Key namespace (live or an exercise)."
    )
    city_dir: Path | None = Field(default=None, description="Folder of city data files; unset uses Tam Kỳ.")
    language: Literal["vi", "en"] = Field(default="vi", description="Default interface language.")
    tile_url: str = Field(default="", description="Map tile URL template; empty draws only the offline basemap.")
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8050, ge=1, le=65535)
    web_workers: int = Field(default=2, ge=1, le=64)
    stream_retention_h: float = Field(
        default=24.0, gt=0, le=24 * 366, description="Hours of raw events each stream keeps (the aggregator trims)."
    )
    stream_maxlen: int = Field(
        default=5_000_000, ge=1_000, description="Producers' emergency bound of each raw stream, in entries."
    )
    alerts_maxlen: int = Field(default=10_000, ge=100)
    deadletter_maxlen: int = Field(default=100_000, ge=100)
    alerts_retention_days: float = Field(
        default=30.0,
        gt=0,
        le=3_660,
        description="Days each alerts stream keeps its entries once the incident engine acknowledged them.",
    )
    deadletter_retention_days: float = Field(
        default=30.0, gt=0, le=3_660, description="Days each dead-letter stream keeps its entries."
    )
    consumer_name: str = Field(default_factory=_default_consumer_name, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    batch_size: int = Field(default=500, ge=1, le=10_000)
    aggregator_batch_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=65_536,
        le=512 * 1024 * 1024,
        description="Bytes of entries the aggregator reads and commits as one batch (besides IOC_BATCH_SIZE).",
    )
    claim_idle_ms: int = Field(default=60_000, ge=1_000, description="Idle ms before claiming.")
    stale_after_s: float = Field(default=30.0, gt=0, description="No processed event for this long shows stale data.")
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Prometheus sends for /metrics; unset: only a loopback, unproxied scraper.",
    )
    ready_max_backlog: int = Field(
        default=50_000, ge=1, description="Entries the aggregator may have left on a stream and still be ready."
    )
    wall_refresh_ms: int = Field(default=2_000, ge=250, le=60_000)
    push_streams: int = Field(
        default=100,
        ge=0,
        le=2_000,
        description="Wall push streams each web worker holds open (one thread each); 0 turns push off (polling only).",
    )
    push_check_ms: int = Field(
        default=200, ge=20, le=5_000, description="How often each web worker reads the data version for push."
    )
    replay_checkpoint_min: float = Field(
        default=10.0,
        ge=0,
        le=1_440,
        description="Minutes between the aggregator's checkpoints of derived state (a replay's starts; 0: none).",
    )
    replay_max: int = Field(default=4, ge=1, le=64, description="Replays of the wall's history held at once.")
    replay_idle_s: float = Field(
        default=300.0, ge=10, le=86_400, description="A replay no screen showed for this long is removed."
    )
    max_ahead_s: float = Field(
        default=300.0, ge=0, le=86_400 * 366, description="How far an event time may be ahead of its receive time."
    )
    max_behind_s: float = Field(
        default=86_400.0, ge=0, le=86_400 * 3660, description="How far an event time may be behind its receive time."
    )
    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; unset uses the embedded SQLite file data_dir/ioc.sqlite3."
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Key signing session cookies; unset: generated once in data_dir/secret_key."
    )
    session_idle_minutes: float = Field(default=720, gt=0, le=525_600, description="Idle time ending a session.")
    session_max_hours: float = Field(
        default=12,
        gt=0,
        le=8_784,
        description="A person's session ends this long after sign-in, however busy.",
    )
    cookie_secure: bool = Field(default=False, description="Send the session cookie over HTTPS only.")
    public_url: str | None = Field(
        default=None, description="Base URL printed in display-token links; unset: the local web URL."
    )
    login_max_failures: int = Field(default=5, ge=1, le=1_000, description="Failed logins allowed per window.")
    login_window_s: int = Field(default=300, ge=1, le=86_400, description="Login rate-limit window, seconds.")
    login_max_failures_per_address: int = Field(
        default=50, ge=1, le=100_000, description="Failed logins allowed per window from one client address."
    )
    login_max_lock_s: int = Field(
        default=3600, ge=1, le=7 * 86_400, description="Longest lock of a user name after repeated lockouts."
    )
    trusted_proxies: str = Field(
        default="",
        description="Addresses or networks (comma-separated, e.g. 127.0.0.1,10.0.0.0/8) of the reverse proxies in "
        "front of the web, whose X-Forwarded-For and X-Forwarded-Proto are believed; empty: none.",
    )
    # Incidents: which alerts open one, and the time limits of each severity (ioc/incidents/).
    incident_flood_alarm: int = Field(default=2, ge=1, le=3, description="BĐ level at which a station opens one.")
    incident_congestion_s: float = Field(default=900.0, ge=0, description="Congested this long (city time) opens one.")
    incident_offline_s: float = Field(default=900.0, ge=0, description="Offline this long (city time) opens one.")
    incident_violations: int = Field(default=5, ge=1, description="Violations at one camera in the window open one.")
    incident_violations_window_s: float = Field(default=600.0, gt=0, description="Window for a violation burst.")
    incident_ack_critical_s: float = Field(default=300.0, gt=0, description="Time to acknowledge a critical one.")
    incident_ack_warning_s: float = Field(default=900.0, gt=0, description="Time to acknowledge a warning.")
    incident_ack_info_s: float = Field(default=3600.0, gt=0, description="Time to acknowledge an info one.")
    incident_resolve_critical_s: float = Field(default=7200.0, gt=0, description="Time to resolve a critical one.")
    incident_resolve_warning_s: float = Field(default=28_800.0, gt=0, description="Time to resolve a warning.")
    incident_resolve_info_s: float = Field(default=86_400.0, gt=0, description="Time to resolve an info one.")
    incident_auto_resolve_cleared_s: float = Field(
        default=3600.0,
        ge=0,
        description="A cleared incident nobody acknowledged, never past warning, is resolved by the system after this "
        "long (0: never).",
    )
    incident_alert_retention_days: float = Field(
        default=90.0, gt=0, le=36_500, description="Days the engine keeps each applied alert (incidents keep counts)."
    )
    incident_units: tuple[str, ...] = Field(
        default=("police-113", "fire-114", "ambulance-115", "public-works", "flood-response"),
        min_length=1,
        description="Units an incident can be dispatched to (JSON list).",
    )
    incident_consumer: str = Field(
        default_factory=lambda: f"incidents-{socket.gethostname()}",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="Consumer name of this incident engine in the alerts streams' group.",
    )

    @field_validator("incident_units")
    @classmethod
    def _check_units(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Unit names are short slugs, each once."""
        for unit in value:
            if not (1 <= len(unit) <= 64) or not unit.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"unit {unit!r} must be 1-64 letters, digits, '-' or '_'")
        if len(set(value)) != len(value):
            raise ValueError("units must be unique")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        """Each entry an IP address or network, so a typo fails at start (and trusts nobody by accident)."""
        networks = [part.strip() for part in value.split(",") if part.strip()]
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or network, e.g. 10.0.0.0/8") from None
        return ",".join(networks)

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """IOC_TRUSTED_PROXIES as networks."""
        return tuple(ipaddress.ip_network(part, strict=False) for part in self.trusted_proxies.split(",") if part)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        """Accept only URLs redis-py can open, so a typo fails at start and not on first use."""
        if value is None or value == "":
            return None
        parsed = urlparse(value)
        if parsed.scheme not in REDIS_SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(REDIS_SCHEMES)}, got {parsed.scheme or 'none'!r}")
        if parsed.scheme == "unix":
            if not parsed.path:
                raise ValueError("unix:// URL needs a socket path, e.g. unix:///run/redis.sock")
        elif not parsed.hostname:
            raise ValueError("URL needs a host, e.g. redis://127.0.0.1:6379/0")
        try:
            _ = parsed.port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _check_cluster(self) -> Settings:
        """A cluster is reached over TCP at a node named in IOC_REDIS_URL, database 0 (a cluster has no other)."""
        if not self.redis_cluster:
            return self
        if self.redis_url is None:
            raise ValueError("IOC_REDIS_CLUSTER=true needs IOC_REDIS_URL (any node of the cluster)")
        parsed = urlparse(self.redis_url)
        if parsed.scheme == "unix":
            raise ValueError("IOC_REDIS_CLUSTER=true needs a redis:// or rediss:// IOC_REDIS_URL, not a unix socket")
        if parsed.path.strip("/") not in ("", "0"):
            raise ValueError("IOC_REDIS_CLUSTER=true: a cluster has only database 0 (drop the /db of IOC_REDIS_URL)")
        return self

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        """Accept only PostgreSQL URLs with a parsable port, so a typo fails at start and not on first use."""
        if value is None or value == "":
            return None
        parsed = urlparse(value)
        if parsed.scheme not in DATABASE_SCHEMES:
            raise ValueError(
                f"scheme must be postgresql://, got {parsed.scheme or 'none'!r} "
                "(leave it unset for the embedded SQLite file in IOC_DATA_DIR)"
            )
        if not parsed.hostname and "host=" not in parsed.query:
            raise ValueError("URL needs a host, e.g. postgresql://user:password@127.0.0.1:5432/ioc")
        try:
            _ = parsed.port
        except ValueError as exc:
            raise ValueError(f"bad port: {exc}") from exc
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        """A signing key short enough to guess is refused; empty means unset (generated)."""
        if value is None or value.get_secret_value() == "":
            return None
        if len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_KEY_LENGTH} characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        """An http(s) base URL with a host, kept without its trailing slash."""
        if value is None or value == "":
            return None
        parsed = urlparse(value)
        if parsed.scheme not in PUBLIC_URL_SCHEMES or not parsed.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://ioc.example.vn")
        if parsed.query or parsed.fragment:
            raise ValueError("must be a base URL without ?query or #fragment")
        return value.rstrip("/")

    @property
    def embedded_database(self) -> bool:
        """True when the system runs on the embedded SQLite file instead of a database server."""
        return self.database_url is None

    @property
    def public_base_url(self) -> str:
        """IOC_PUBLIC_URL, or the local web address (a wildcard bind shown as loopback), without trailing slash."""
        if self.public_url is not None:
            return self.public_url
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.web_host, self.web_host)
        return f"http://[{host}]:{self.web_port}" if ":" in host else f"http://{host}:{self.web_port}"

    @property
    def embedded(self) -> bool:
        """True when the system runs on the embedded Redis instead of a server."""
        return self.redis_url is None


def load_settings() -> Settings:
    """Read and validate the settings, turning pydantic's report into one readable SettingsError."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a rule across settings names its variables itself
                problems.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            name = "IOC_" + "_".join(str(part) for part in error["loc"]).upper()
            shown = "hidden" if name == "IOC_SECRET_KEY" else repr(error.get("input"))
            problems.append(f"{name}: {error['msg']} (got {shown})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None
