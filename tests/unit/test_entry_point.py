"""The contract's ASGI entry point, ``app.main:app``: importing it reads nothing (no settings,
no .env, no catalogue), and the app is built when its server starts it, a bad setting failing
that start with its own message, so that the server exits instead of serving errors."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

import app.lifespan
import app.main
from app.settings import SIMULATOR_DEV_KEY


async def _start(entry: Any) -> list[dict[str, Any]]:
    """Run the lifespan's startup as a server does; what the app sent back."""
    sent: list[dict[str, Any]] = []
    messages = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await entry({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)
    return sent


def _without_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env to read
    for name in ("RIVYA_API_KEY", "RIVYA_API_KEY_FILE", "RIVYA_SIMULATOR", "RIVYA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


async def test_importing_the_entry_point_reads_no_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_configuration(monkeypatch, tmp_path)
    entry = importlib.reload(app.main).app  # no org key: building it would refuse
    sent = await _start(entry)
    assert sent[0]["type"] == "lifespan.startup.failed"
    assert "RIVYA_API_KEY" in sent[0]["message"]  # the same clear message as the CLI's


async def test_a_well_configured_entry_point_starts_and_serves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str
) -> None:
    _without_configuration(monkeypatch, tmp_path)
    monkeypatch.setenv("RIVYA_SIMULATOR", "true")
    monkeypatch.setenv("RIVYA_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SETTLER_ENABLED", "false")
    monkeypatch.setenv("RECONCILIATION_BASELINE_AT_START", "false")
    configured: list[list[str]] = []
    # The process's logging is the test runner's: only note what the app would redact.
    monkeypatch.setattr(
        app.lifespan, "configure_logging", lambda _level, secrets: configured.append(secrets)
    )
    entry = importlib.reload(app.main).app
    sent = await _start(entry)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert configured == [[SIMULATOR_DEV_KEY]]
