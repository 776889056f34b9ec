"""Well-known secrets from the repo's own examples are refused, except for a local demo."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.settings import Settings


def settings(**values: Any) -> Settings:
    return Settings(_env_file=None, redis_url="redis://x", **values)


@pytest.mark.parametrize(
    "token",
    [
        "change-me-admin-token",  # docker-compose.yml, before
        "change-me-admin-token-16+",  # .env.example, before
        "REPLACE_ME_long_random_admin_token",  # deploy/k8s/secret.example.yaml
        "dev-admin-token-local",  # make run
    ],
)
def test_a_placeholder_admin_token_is_refused_in_front_of_rivya(token: str) -> None:
    with pytest.raises(ValidationError, match="well-known placeholder"):
        settings(rivya_api_key="rvya_sk_real", gateway_admin_token=token)


def test_a_placeholder_is_refused_even_with_the_simulator_elsewhere() -> None:
    with pytest.raises(ValidationError, match="loopback"):
        settings(
            rivya_simulator=True,
            rivya_base_url="http://simulator:8081",
            gateway_admin_token="change-me-admin-token",
        )


def test_a_placeholder_secret_signing_browser_tokens_is_refused() -> None:
    with pytest.raises(ValidationError, match="GATEWAY_TOKEN_SECRET"):
        settings(
            rivya_api_key="rvya_sk_real",
            gateway_token_secret="change-me-token-secret-0123456789abc",
        )


def test_a_local_demo_against_the_simulator_may_use_one() -> None:
    demo = settings(
        rivya_simulator=True,
        rivya_base_url="http://127.0.0.1:8081",
        gateway_admin_token="dev-admin-token-local",
    )
    assert demo.admin_token == "dev-admin-token-local"


def test_a_random_token_is_accepted() -> None:
    ok = settings(rivya_api_key="rvya_sk_real", gateway_admin_token="9f2c41d07be35a6e")
    assert ok.admin_token == "9f2c41d07be35a6e"
