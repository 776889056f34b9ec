"""All configuration, from environment variables (and an optional ``.env``), validated at start."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The simulator's well-known development key: used only when no org key is configured and the
# upstream is a loopback address (the built-in simulator run locally).
SIMULATOR_DEV_KEY = "rvya_sk_simulator_dev_key"

# Secrets that may also be given as a path in ``<NAME>_FILE`` (Docker/Kubernetes secrets).
_FILE_BACKED = {
    "rivya_api_key": "RIVYA_API_KEY_FILE",
    "gateway_admin_token": "GATEWAY_ADMIN_TOKEN_FILE",
    "gateway_token_secret": "GATEWAY_TOKEN_SECRET_FILE",
    "alert_webhook_secret": "ALERT_WEBHOOK_SECRET_FILE",
    "gateway_token_previous_secret": "GATEWAY_TOKEN_PREVIOUS_SECRET_FILE",
    "metrics_token": "METRICS_TOKEN_FILE",
}


# Secrets shipped in this repository's examples (compose, .env.example, make run, k8s), and the
# words such examples use: a gateway holding one is open to anyone who read the repo.
_PLACEHOLDER = re.compile(r"change[-_ ]?me|replace[-_ ]?me|placeholder|dev-admin-token", re.I)


def is_placeholder(secret: str) -> bool:
    return bool(_PLACEHOLDER.search(secret))


def _is_local_service(url: str) -> bool:
    """Loopback, or a bare service name (``simulator`` in docker-compose): never a public
    host, so never the real Rivya."""
    host = urlsplit(url).hostname or ""
    return _is_loopback(url) or (bool(host) and "." not in host and ":" not in host)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_ENV = SettingsConfigDict(
    env_file=".env",
    env_file_encoding="utf-8",
    extra="ignore",
    case_sensitive=False,
    hide_input_in_errors=True,  # a startup error must never print a secret
)
# The CLI also reads what `make run` wrote about the instance it started (REDIS_URL, …);
# a .env of your own, or the environment, wins over it.
MAKE_RUN_ENV = Path(".run/env")


class StoreSettings(BaseSettings):
    """What reaching the store takes: enough for the admin CLI, which needs no org key."""

    model_config = SettingsConfigDict(
        env_file=(MAKE_RUN_ENV, ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,  # a startup error must never print a secret
    )

    redis_url: str = "redis://localhost:6379/0"
    redis_key_prefix: str = Field(default="gw", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    redis_timeout_seconds: float = Field(default=2.0, gt=0)
    redis_max_connections: int = Field(default=200, ge=1)
    # A money or admin write counts once this many replicas hold it (WAIT, in the script's own
    # round trip: store/replicated.py), so a failover cannot lose it. None: 1 for redis+sentinel://
    # (a Sentinel set has a replica to promote), 0 otherwise (a Cluster may have no replicas:
    # set 1 when each master has one).
    redis_wait_replicas: int | None = Field(default=None, ge=0)
    # At least a millisecond: WAIT takes whole ms, and WAIT n 0 would wait for ever.
    redis_wait_timeout_seconds: float = Field(default=0.5, ge=0.001)
    catalog_path: Path | None = None  # None: the packaged app/models.yaml
    # Each team's spend ledger keeps about this many of its latest money moves (a Redis stream,
    # ~150 bytes an entry): at 100,000, a busy team's last few weeks in ~15 MB at most.
    ledger_max_entries_per_team: int = Field(default=100_000, ge=1000)
    task_retention_days: int = Field(default=30, ge=1)

    @model_validator(mode="after")
    def _replication_waits_fit(self) -> Self:
        if not self.replicas_to_wait_for:
            return self
        if self.redis_wait_timeout_seconds >= self.redis_timeout_seconds:
            raise ValueError(
                "REDIS_WAIT_TIMEOUT_SECONDS must be shorter than REDIS_TIMEOUT_SECONDS: the "
                "replicas' acknowledgement comes in the same answer as the script's"
            )
        return self

    @property
    def replicas_to_wait_for(self) -> int:
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if urlsplit(self.redis_url).scheme == "redis+sentinel" else 0


class Settings(StoreSettings):
    """Everything the gateway process needs, validated at start."""

    model_config = _ENV

    # Upstream
    rivya_api_key: SecretStr | None = None
    rivya_api_key_file: Path | None = None
    rivya_base_url: str = "https://rivya.ai"
    rivya_timeout_seconds: float = Field(default=30.0, gt=0)
    rivya_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    rivya_max_connections: int = Field(default=200, ge=1)
    # When true, the upstream is the built-in simulator: the gateway may start without an org
    # key and then sends the simulator's dev key. Explicit, so that a missing key in production
    # is always a refusal to start, whatever RIVYA_BASE_URL says.
    rivya_simulator: bool = False

    # Admin and browser tokens
    gateway_admin_token: SecretStr | None = None
    gateway_admin_token_file: Path | None = None
    gateway_token_secret: SecretStr | None = None
    gateway_token_secret_file: Path | None = None
    # During a rotation: tokens signed with the previous secret are still accepted (they live an
    # hour at most: remove it an hour after the new secret is in place).
    gateway_token_previous_secret: SecretStr | None = None
    gateway_token_previous_secret_file: Path | None = None
    # What a scrape of /metrics must present (Authorization: Bearer); none: /metrics is open,
    # for a network that only Prometheus reaches.
    metrics_token: SecretStr | None = None
    metrics_token_file: Path | None = None
    metrics_cache_seconds: float = Field(default=5.0, ge=0)  # scrapes within it share one read

    # Behaviour
    default_model: str | None = None  # None: the catalogue's default (flux-kontext-max)
    key_cache_seconds: float = Field(default=2.0, ge=0)
    wait_poll_seconds: float = Field(default=2.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Request bodies one process holds at once, in all (at least the largest upload).
    request_bodies_mb: int = Field(default=64, ge=1)

    # Safe retries (issue 4): idempotency claims, upstream retries and the circuit breaker.
    idempotency_ttl_seconds: int = Field(default=86_400, ge=60)
    idempotency_wait_seconds: float = Field(default=10.0, ge=0)
    # How many repeats of one team may wait at once in a process for a create still being
    # forwarded; more are answered 409 request_in_progress at once.
    idempotency_waiters_per_team: int = Field(default=8, ge=0)
    # How long a create whose admission answer was lost (Redis stalled past its timeout) waits
    # for its cancel to land before answering 503; the cancel goes on in the background.
    admission_cancel_wait_seconds: float = Field(default=5.0, ge=0)
    rivya_retry_attempts: int = Field(default=3, ge=1, le=10)
    rivya_retry_budget_seconds: float = Field(default=10.0, ge=0)
    rivya_idempotency_window_seconds: float = Field(default=300.0, gt=0)
    circuit_breaker_threshold: int = Field(default=5, ge=1)
    circuit_breaker_cooldown_seconds: float = Field(default=10.0, gt=0)

    # Settlement: every replica runs a settler that polls the tasks it (or any replica) created
    # until they end, as rivya-api.md advises: first after 2-3 s, then every 5-10 s, jittered.
    settler_enabled: bool = True
    settler_first_poll_min_seconds: float = Field(default=2.0, ge=0)
    settler_first_poll_max_seconds: float = Field(default=3.0, ge=0)
    settler_poll_min_seconds: float = Field(default=5.0, gt=0)
    settler_poll_max_seconds: float = Field(default=10.0, gt=0)
    settler_slow_after_seconds: float = Field(default=300.0, gt=0)  # then poll 3x less often
    # Rivya's longest task is undocumented; past this a task that has not ended (or that Rivya
    # no longer knows) is charged what it held and stops holding an in-flight slot.
    settler_give_up_after_seconds: float = Field(default=86_400.0, gt=0)
    settler_tick_seconds: float = Field(default=0.5, gt=0)
    settler_lease_seconds: float = Field(default=30.0, gt=0)
    settler_batch: int = Field(default=100, ge=1)
    settler_concurrency: int = Field(default=16, ge=1)
    settler_teams_at_once: int = Field(default=8, ge=1)
    settler_sweep_seconds: float = Field(default=120.0, gt=0)

    # Uploads: a team's uploads per minute and burst (all replicas together); how many upload
    # bodies one process holds at once; and the image checks' worker processes (per serving
    # process): how many, what one check may decode (each worker's address space is capped at
    # its base plus this), its deadline, and how long a check waits for a free worker. The k8s
    # memory limit is sized to these (deploy/README.md).
    uploads_per_minute_per_team: int = Field(default=30, ge=1)
    upload_burst_per_team: int = Field(default=10, ge=1)
    uploads_at_once: int = Field(default=4, ge=1)
    image_check_workers: int = Field(default=2, ge=1)
    decode_memory_mb: int = Field(default=160, ge=16)
    image_check_seconds: float = Field(default=5.0, gt=0)
    decode_wait_seconds: float = Field(default=10.0, ge=0)

    # Reads (per process): a team's reads per minute and burst, and how long the org's Rivya
    # balance (GET /api/v1/credits for a team without a budget) is reused.
    # Failed authentications per client address (and per key id) before a credential this
    # process does not know to be good is refused unread (429).
    auth_failures_per_minute: int = Field(default=60, ge=1)
    auth_failure_burst: int = Field(default=30, ge=1)
    # Requests refused as bad input (400, 413, 415) per team (a browser user: a quarter), per
    # process, before the team's requests are refused unread (429).
    refused_requests_per_minute: int = Field(default=60, ge=1)
    refused_request_burst: int = Field(default=30, ge=1)
    reads_per_minute_per_team: int = Field(default=1200, ge=1)
    read_burst_per_team: int = Field(default=120, ge=1)
    # Revocations of browser tokens a team's key may ask (per process; an admin's are not
    # limited): each is a replicated Redis write.
    revocations_per_minute_per_team: int = Field(default=60, ge=1)
    revocation_burst_per_team: int = Field(default=20, ge=1)
    org_balance_cache_seconds: float = Field(default=10.0, ge=0)

    # Ops (issue 10): budget alerts, the org balance warning.
    # A team crossing one of these percentages of its budget (spent + reserved) in a period is
    # reported once: a log event and, with ALERT_WEBHOOK_URL, one signed POST.
    budget_alert_thresholds: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [80, 100]
    )
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    alert_webhook_secret_file: Path | None = None
    alert_webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    alert_webhook_attempts: int = Field(default=4, ge=1, le=10)
    # Below this many credits in the org's Rivya account, /admin/upstream, the dashboard, the
    # metrics and a log warning say the balance is low. None: no warning.
    org_balance_low_credits: int | None = Field(default=None, ge=0)
    # The first gateway to start on an empty Redis takes Rivya's balance as the reconciliation
    # baseline (later starts keep it; POST /admin/upstream/baseline resets it).
    reconciliation_baseline_at_start: bool = True

    # Leaving (app/lifecycle.py): on SIGTERM, /readyz answers 503 while the process still
    # serves for this long; then the requests in flight get up to the grace to finish.
    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    shutdown_grace_seconds: float = Field(default=65.0, ge=0, le=3600)

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("budget_alert_thresholds", mode="before")
    @classmethod
    def _thresholds(cls, value: Any) -> Any:
        # "80,100" (or JSON's [80, 100]) in the environment.
        if isinstance(value, str):
            return [part for part in value.strip(" []").replace(" ", "").split(",") if part]
        return value

    @field_validator("budget_alert_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: list[int]) -> list[int]:
        if any(not 1 <= t <= 1000 for t in value):
            raise ValueError("each threshold is a percentage of the budget, 1 to 1000")
        return sorted(set(value))

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        lowered = {str(k).lower(): v for k, v in data.items()}
        for field, file_var in _FILE_BACKED.items():
            path = lowered.get(file_var.lower())
            if path and not lowered.get(field):
                try:
                    data[field] = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"{file_var}: cannot read {path}: {exc.strerror}") from None
        return data

    @model_validator(mode="after")
    def _org_key_present(self) -> Self:
        if self.rivya_simulator and not _is_local_service(self.rivya_base_url):
            raise ValueError(
                f"RIVYA_SIMULATOR=true but RIVYA_BASE_URL={self.rivya_base_url} is not a local "
                "simulator (loopback, or a bare service name like http://simulator:8081): the "
                "simulator's dev key would go to a public host. For the real Rivya, remove "
                "RIVYA_SIMULATOR and set RIVYA_API_KEY"
            )
        if self.rivya_api_key is None or not self.rivya_api_key.get_secret_value():
            if not self.rivya_simulator:
                raise ValueError(
                    "RIVYA_API_KEY (or RIVYA_API_KEY_FILE) is required: the gateway will not "
                    "start without the organisation's Rivya key unless RIVYA_BASE_URL points at "
                    "the built-in simulator and RIVYA_SIMULATOR=true says so"
                )
            self.rivya_api_key = SecretStr(SIMULATOR_DEV_KEY)
        scheme = urlsplit(self.rivya_base_url).scheme
        if scheme not in {"http", "https"}:
            raise ValueError("RIVYA_BASE_URL must be an http(s) URL")
        return self

    @model_validator(mode="after")
    def _poll_ranges_in_order(self) -> Self:
        if self.settler_first_poll_min_seconds > self.settler_first_poll_max_seconds:
            raise ValueError(
                "SETTLER_FIRST_POLL_MIN_SECONDS exceeds SETTLER_FIRST_POLL_MAX_SECONDS"
            )
        if self.settler_poll_min_seconds > self.settler_poll_max_seconds:
            raise ValueError("SETTLER_POLL_MIN_SECONDS exceeds SETTLER_POLL_MAX_SECONDS")
        return self

    @model_validator(mode="after")
    def _records_outlive_their_use(self) -> Self:
        if self.idempotency_ttl_seconds < self.rivya_idempotency_window_seconds:
            raise ValueError(
                "IDEMPOTENCY_TTL_SECONDS must be at least RIVYA_IDEMPOTENCY_WINDOW_SECONDS: a "
                "claim must outlive the resends of its create"
            )
        if self.task_retention_days * 86_400 <= self.settler_give_up_after_seconds:
            raise ValueError(
                "TASK_RETENTION_DAYS must be longer than SETTLER_GIVE_UP_AFTER_SECONDS: a task's "
                "record must outlive the settler's wait for its end"
            )
        return self

    @model_validator(mode="after")
    def _secrets_are_strong(self) -> Self:
        local_demo = self.rivya_simulator and _is_loopback(self.rivya_base_url)
        for name, secret, shortest in (
            ("GATEWAY_ADMIN_TOKEN", self.gateway_admin_token, 16),
            ("METRICS_TOKEN", self.metrics_token, 16),
            # HS256 keys: at least the hash's 32 bytes (RFC 7518 §3.2).
            ("GATEWAY_TOKEN_SECRET", self.gateway_token_secret, 32),
            ("GATEWAY_TOKEN_PREVIOUS_SECRET", self.gateway_token_previous_secret, 32),
        ):
            if secret is not None and 0 < len(secret.get_secret_value()) < shortest:
                raise ValueError(f"{name} must be at least {shortest} characters")
            if secret is not None and is_placeholder(secret.get_secret_value()) and not local_demo:
                # Shipped in examples, so known to anyone: only a local demo against the
                # simulator (no money, nothing reachable from elsewhere) may use one.
                raise ValueError(
                    f"{name} is a well-known placeholder from the examples; set a random value "
                    "(e.g. `openssl rand -hex 32`). Placeholders are accepted only with "
                    "RIVYA_SIMULATOR=true and a loopback RIVYA_BASE_URL"
                )
        return self

    @model_validator(mode="after")
    def _alerts_are_signed(self) -> Self:
        if self.alert_webhook_url is not None:
            if urlsplit(self.alert_webhook_url).scheme not in {"http", "https"}:
                raise ValueError("ALERT_WEBHOOK_URL must be an http(s) URL")
            if self.alert_webhook_secret is None or len(self.alert_webhook_secret) < 16:
                raise ValueError(
                    "ALERT_WEBHOOK_URL needs ALERT_WEBHOOK_SECRET (16+ characters): receivers "
                    "check each alert's signature with it"
                )
        return self

    @property
    def create_lease_seconds(self) -> float:
        """How long a create being forwarded is left to its request: every attempt may take
        the full timeout, plus the retry budget and a margin."""
        return (
            self.rivya_timeout_seconds * self.rivya_retry_attempts
            + self.rivya_retry_budget_seconds
            + 5
        )

    @property
    def org_key(self) -> str:
        assert self.rivya_api_key is not None  # guaranteed by _org_key_present
        return self.rivya_api_key.get_secret_value()

    @property
    def scrape_token(self) -> str | None:
        token = self.metrics_token
        return token.get_secret_value() if token and token.get_secret_value() else None

    @property
    def admin_token(self) -> str | None:
        token = self.gateway_admin_token
        return token.get_secret_value() if token and token.get_secret_value() else None
