"""LiteLLM's proxy as a comparison target: installed by the bench in a virtualenv of its own
(pinned, so every run measures the same LiteLLM), and set up as the least it can be in front of
the same mock upstream: one pass-through endpoint, its master key as the only auth, no
database, no callbacks. What it does per request is less than the gateway does (no budget, no
rate limit, no idempotency, no ledger); the figures are what it costs anyway.

The virtualenv is made once, under ``.bench/`` at the repo's root (it takes a few minutes and
~500 MB); a machine that cannot install it runs the bench without this target, and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LITELLM = "litellm[proxy]==1.108.7"
VENV = Path(__file__).resolve().parent.parent / ".bench" / "litellm-venv"
MASTER_KEY = "sk-bench-" + "4f9a2c7e1d8b3a6f5e0c9d2b"  # only ever on loopback


def installed() -> Path | None:
    """LiteLLM's command, installing it first if needed; None if it cannot be installed."""
    command = VENV / "bin" / "litellm"
    marker = VENV / "installed.txt"
    if command.exists() and marker.exists() and marker.read_text() == LITELLM:
        return command
    print(f"installing {LITELLM} into {VENV} (once; a few minutes)", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run(
            [str(VENV / "bin" / "pip"), "install", "--quiet", LITELLM],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    except (subprocess.CalledProcessError, OSError) as failure:
        print(f"LiteLLM could not be installed ({failure}): left out", file=sys.stderr)
        return None
    marker.write_text(LITELLM)
    return command


def configured(workdir: Path, upstream_url: str, upstream_key: str) -> Path:
    """A config with one pass-through endpoint: POST /v1/images to the upstream's create, with
    the upstream's key put in by LiteLLM, as the gateway puts in the org key."""
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list: []\n"
        "general_settings:\n"
        "  pass_through_endpoints:\n"
        '    - path: "/v1/images"\n'
        f'      target: "{upstream_url}/api/v1/generations"\n'
        "      headers:\n"
        f'        Authorization: "Bearer {upstream_key}"\n'
        "        content-type: application/json\n"
    )
    return config


def command(litellm: Path, config: Path, port: int, workers: int) -> list[str]:
    return [
        *(str(litellm), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)),
        *("--num_workers", str(workers)),
    ]


def environment(base: dict[str, str]) -> dict[str, str]:
    return {
        **base,
        "LITELLM_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch from the internet at start
        "LITELLM_LOG": "ERROR",
        "PATH": f"{VENV / 'bin'}{os.pathsep}{base.get('PATH', '')}",
    }
