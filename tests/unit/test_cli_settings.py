"""Where the admin CLI finds Redis with no settings: what ``make run`` wrote about the instance
it started, in ``$RUN_DIR/env`` (``.run/env`` by default), so that a second instance started
with its own ``RUN_DIR`` is reached by the CLI given the same ``RUN_DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from app.cli.admin import store_settings


def _instance(run_dir: Path, port: int) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "env").write_text(f"REDIS_URL=redis://127.0.0.1:{port}/0\n")


def test_the_cli_reaches_the_instance_its_run_dir_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    _instance(tmp_path / ".run", 6390)
    _instance(tmp_path / ".run-2", 6391)
    monkeypatch.delenv("RUN_DIR", raising=False)
    assert store_settings(argparse.Namespace()).redis_url.endswith(":6390/0")
    monkeypatch.setenv("RUN_DIR", ".run-2")
    assert store_settings(argparse.Namespace()).redis_url.endswith(":6391/0")
    # --redis-url wins over both.
    given = argparse.Namespace(redis_url="redis://127.0.0.1:7000/0")
    assert store_settings(given).redis_url == "redis://127.0.0.1:7000/0"


def test_the_running_gateways_redis_wins_over_a_stale_env_file_and_the_cli_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The trial's trap: a .env copied from .env.example names :6379, make run's gateway uses
    # :6390; the CLI read .env first, and keys it made were for a Redis no gateway served.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("RUN_DIR", raising=False)
    _instance(tmp_path / ".run", 6390)
    (tmp_path / ".env").write_text("REDIS_URL=redis://:s3cret@127.0.0.1:6379/0\n")
    assert store_settings(argparse.Namespace()).redis_url.endswith(":6390/0")
    warning = capsys.readouterr().err
    assert "127.0.0.1:6379" in warning
    assert "127.0.0.1:6390" in warning
    assert "s3cret" not in warning
    # The environment wins over both, and then there is nothing to warn of.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:7000/0")
    assert store_settings(argparse.Namespace()).redis_url == "redis://127.0.0.1:7000/0"
    assert capsys.readouterr().err == ""
