"""A private certificate authority for the engine's TLS and proxy tests (trustme), and the
Rivya client the gateway wires from its settings (``wiring/resources.py``)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from app.clock import SystemClock
from app.metrics import Metrics
from app.upstream.client import RivyaClient
from app.wiring.resources import rivya_client
from tests.support import ORG_KEY, gateway_settings


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Rivya Gateway tests")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "rivya-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_tls(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    """A server's TLS context with a certificate ``ca`` issued for ``names``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


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
