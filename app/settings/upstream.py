"""Rivya: where it is and how it is reached (trust, proxy), the org key, timeouts, retries and
the circuit breaker."""

from __future__ import annotations

import ipaddress
import ssl
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

from app.upstream.tunnel import Proxy

# The simulator's well-known development key: used only when no org key is configured and the
# upstream is a loopback address (the built-in simulator run locally).
SIMULATOR_DEV_KEY = "rvya_sk_simulator_dev_key"


class UpstreamSettings(BaseSettings):
    rivya_api_key: SecretStr | None = None
    rivya_api_key_file: Path | None = None
    rivya_base_url: str = "https://rivya.ai"
    rivya_timeout_seconds: float = Field(default=30.0, gt=0)
    rivya_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    rivya_max_connections: int = Field(default=200, ge=1)
    # The CA certificates (PEM) trusted for Rivya's certificate instead of the system's: a
    # private CA (a staging Rivya, an egress that inspects TLS). None: the system's store.
    rivya_ca_file: Path | None = None
    # An HTTP CONNECT proxy for the egress (http://[user:password@]host:port): Rivya is reached
    # through a tunnel with TLS inside it. Explicit: HTTPS_PROXY and the like are never read.
    rivya_proxy_url: SecretStr | None = None
    # When true, the upstream is the built-in simulator: the gateway may start without an org
    # key and then sends the simulator's dev key. Explicit, so that a missing key in production
    # is always a refusal to start, whatever RIVYA_BASE_URL says.
    rivya_simulator: bool = False

    # Safe retries (issue 4): upstream retries, Rivya's idempotency window, the circuit breaker.
    rivya_retry_attempts: int = Field(default=3, ge=1, le=10)
    rivya_retry_budget_seconds: float = Field(default=10.0, ge=0)
    rivya_idempotency_window_seconds: float = Field(default=300.0, gt=0)
    circuit_breaker_threshold: int = Field(default=5, ge=1)
    circuit_breaker_cooldown_seconds: float = Field(default=10.0, gt=0)

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
    def _reachable_safely(self) -> Self:
        if self.rivya_proxy_url is not None:
            if urlsplit(self.rivya_base_url).scheme != "https":
                raise ValueError(
                    "RIVYA_PROXY_URL needs an https RIVYA_BASE_URL: through a proxy the org key "
                    "may travel only inside TLS to Rivya, never in clear"
                )
            Proxy.from_url(self.rivya_proxy_url.get_secret_value())  # its ValueError says why
        if self.rivya_ca_file is not None:
            self.rivya_trust()  # a file that cannot be read stops startup, saying so
        return self

    def rivya_trust(self) -> ssl.SSLContext | None:
        """The TLS context for Rivya when RIVYA_CA_FILE is set (None: the system's trust)."""
        if self.rivya_ca_file is None:
            return None
        try:
            return ssl.create_default_context(cafile=str(self.rivya_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"RIVYA_CA_FILE: cannot load {self.rivya_ca_file}: {exc}") from None

    @property
    def rivya_proxy(self) -> Proxy | None:
        if self.rivya_proxy_url is None:
            return None
        return Proxy.from_url(self.rivya_proxy_url.get_secret_value())

    @property
    def org_key(self) -> str:
        assert self.rivya_api_key is not None  # guaranteed by _org_key_present
        return self.rivya_api_key.get_secret_value()

    @property
    def local_demo(self) -> bool:
        """The built-in simulator on this machine: no money, nothing reachable from elsewhere."""
        return self.rivya_simulator and _is_loopback(self.rivya_base_url)

    @property
    def create_lease_seconds(self) -> float:
        """How long a create being forwarded is left to its request: every attempt may take
        the full timeout, plus the retry budget and a margin."""
        return (
            self.rivya_timeout_seconds * self.rivya_retry_attempts
            + self.rivya_retry_budget_seconds
            + 5
        )


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
