"""A private certificate authority for the engine's TLS and proxy tests (``certificates.py``),
and the Rivya client the gateway wires from its settings (``wiring/resources.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.clock import SystemClock
from app.metrics import Metrics
from app.upstream.client import RivyaClient
from app.wiring.resources import rivya_client
from tests.support import ORG_KEY, gateway_settings
from tests.upstream.certificates import PrivateCA


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> PrivateCA:
    return PrivateCA(tmp_path_factory.mktemp("private-ca"))


@pytest.fixture
def ca_file(ca: PrivateCA) -> Path:
    return ca.cert


def wired_client(base_url: str, **settings: Any) -> RivyaClient:
    """The Rivya client as the gateway builds it from these settings: one attempt per call, so
    that what a test sees is the engine's own doing."""
    configured = gateway_settings(
        "redis://127.0.0.1:1/0",  # never reached: only the upstream is wired here
        rivya_base_url=base_url,
        rivya_retry_attempts=1,
        rivya_timeout_seconds=5.0,
        **settings,
    )
    assert configured.org_key == ORG_KEY
    return rivya_client(configured, SystemClock(), Metrics(), None)
