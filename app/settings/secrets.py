"""The gateway's own secrets (admin token, browser-token signing keys, metrics token), each of
which may also be given as a file (``<NAME>_FILE``: Docker and Kubernetes secrets)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings

# Secrets that may also be given as a path in ``<NAME>_FILE``.
_FILE_BACKED = {
    "rivya_api_key": "RIVYA_API_KEY_FILE",
    "gateway_admin_token": "GATEWAY_ADMIN_TOKEN_FILE",
    "gateway_token_secret": "GATEWAY_TOKEN_SECRET_FILE",
    "alert_webhook_secret": "ALERT_WEBHOOK_SECRET_FILE",
    "gateway_token_previous_secret": "GATEWAY_TOKEN_PREVIOUS_SECRET_FILE",
    "metrics_token": "METRICS_TOKEN_FILE",
    "result_link_secret": "RESULT_LINK_SECRET_FILE",
    "rivya_webhook_token": "RIVYA_WEBHOOK_TOKEN_FILE",
}

# Secrets shipped in this repository's examples (compose, .env.example, make run, k8s), and the
# words such examples use: a gateway holding one is open to anyone who read the repo.
_PLACEHOLDER = re.compile(r"change[-_ ]?me|replace[-_ ]?me|placeholder|dev-admin-token", re.I)


def is_placeholder(secret: str) -> bool:
    return bool(_PLACEHOLDER.search(secret))


class SecretSettings(BaseSettings):
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

    def weak_secret(self, *, placeholders_allowed: bool) -> str | None:
        """What is wrong with the first secret too short or copied from the examples."""
        for name, secret, shortest in (
            ("GATEWAY_ADMIN_TOKEN", self.gateway_admin_token, 16),
            ("METRICS_TOKEN", self.metrics_token, 16),
            # HS256 keys: at least the hash's 32 bytes (RFC 7518 §3.2).
            ("GATEWAY_TOKEN_SECRET", self.gateway_token_secret, 32),
            ("GATEWAY_TOKEN_PREVIOUS_SECRET", self.gateway_token_previous_secret, 32),
        ):
            value = secret.get_secret_value() if secret is not None else ""
            if 0 < len(value) < shortest:
                return f"{name} must be at least {shortest} characters"
            if value and is_placeholder(value) and not placeholders_allowed:
                return (
                    f"{name} is a well-known placeholder from the examples; set a random value "
                    "(e.g. `openssl rand -hex 32`). Placeholders are accepted only with "
                    "RIVYA_SIMULATOR=true and a loopback RIVYA_BASE_URL"
                )
        return None

    @property
    def scrape_token(self) -> str | None:
        return _given(self.metrics_token)

    @property
    def admin_token(self) -> str | None:
        return _given(self.gateway_admin_token)


def _given(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret and secret.get_secret_value() else None
