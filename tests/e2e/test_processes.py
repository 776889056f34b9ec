"""The README's walk-through with real processes: redis-server, the simulator and the gateway
started through the `rivya-gateway` CLI, talking over real sockets."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from PIL import Image

from tests.support import RedisServer, free_port, subprocess_env

pytestmark = pytest.mark.e2e

ORG_KEY = "rvya_sk_e2e_org_key_61a0c4b2f9"
ADMIN = "e2e-admin-token-77c1"
CLI = str(Path(sys.executable).with_name("rivya-gateway"))


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} never became ready:\n{log.read_text()}")


class Stack:
    def __init__(self, redis: RedisServer, tmp: Path) -> None:
        self.redis, self.tmp = redis, tmp
        self.sim_url = f"http://127.0.0.1:{free_port()}"
        self.gw_url = f"http://127.0.0.1:{free_port()}"
        self.env = subprocess_env(
            REDIS_URL=redis.url,
            RIVYA_BASE_URL=self.sim_url,
            RIVYA_API_KEY=ORG_KEY,
            GATEWAY_ADMIN_TOKEN=ADMIN,
            WAIT_POLL_SECONDS="0.1",
            KEY_CACHE_SECONDS="1",
            SIM_API_KEY=ORG_KEY,
            SIM_QUEUED_SECONDS="0.2",
            SIM_PROCESSING_SECONDS="0.4",
            SIM_PUBLIC_BASE_URL=self.sim_url,
            RESULTS_DIR=str(tmp / "results"),
            # Stopping a stack does not wait out readiness's drain (test_lifecycle.py tests it).
            DRAIN_SECONDS="0",
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[BinaryIO] = []
        self.gateway_log = tmp / "gateway.log"

    def start(self, args: list[str], log: Path, ready: str) -> None:
        handle = log.open("wb")
        self.logs.append(handle)
        process = subprocess.Popen(
            [CLI, *args], env=self.env, cwd=self.tmp, stdout=handle, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        _wait_ready(ready, process, log)

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args],
            env=self.env if env is None else env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )

    def stop(self) -> None:
        for process in self.processes:  # all at once: each may take a moment to leave
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)
        for handle in self.logs:
            handle.close()


def running_stack(redis_server: RedisServer, tmp_path: Path, **env: str) -> Iterator[Stack]:
    """The simulator and a gateway (with ``env`` on top of the defaults), stopped afterwards."""
    stack = Stack(redis_server, tmp_path)
    stack.env.update(env)
    sim_port = stack.sim_url.rsplit(":", 1)[1]
    gw_port = stack.gw_url.rsplit(":", 1)[1]
    try:
        stack.start(
            ["simulator", "--port", sim_port],
            tmp_path / "sim.log",
            f"{stack.sim_url}/api/v1/models",
        )
        stack.start(["serve", "--port", gw_port], stack.gateway_log, f"{stack.gw_url}/readyz")
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(redis_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(redis_server, tmp_path)


def test_walkthrough_from_cli_key_to_result_image(stack: Stack) -> None:
    created = stack.cli(
        "teams", "create", "design", "--name", "Design", "--budget", "800", "--json"
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["budget_credits"] == 800
    issued = stack.cli("keys", "create", "design", "--name", "laptop", "--json")
    assert issued.returncode == 0, issued.stderr
    assert "shown once" in issued.stderr
    key = json.loads(issued.stdout)["key"]
    auth = {"Authorization": f"Bearer {key}"}

    with httpx.Client(base_url=stack.gw_url, timeout=30) as http:
        task = http.post(
            "/v1/images",
            json={"prompt": "a red bicycle", "aspect_ratio": "1:1", "output_format": "png"},
            headers=auth,
        )
        assert task.status_code == 202, task.text
        done = http.get(f"/v1/images/{task.json()['id']}", params={"wait": 20}, headers=auth)
        assert done.status_code == 200
        body = done.json()
        assert body["status"] == "succeeded"
        image = httpx.get(body["result"]["primary_url"], timeout=10)
        assert image.status_code == 200
        picture = Image.open(io.BytesIO(image.content))
        assert picture.format == "PNG"
        assert picture.width == picture.height
        # A user reports a refusal by its requestId; ops find it (its record is written within
        # about a second of the answer, off the request's path).
        refused = http.post("/v1/images", json={"prompt": "p", "model": "nope"}, headers=auth)
        request_id = refused.json()["error"]["requestId"]
        deadline, shown = time.monotonic() + 10, None
        while shown is None or (shown.returncode != 0 and time.monotonic() < deadline):
            shown = stack.cli("requests", "show", request_id, "--json")
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["error_code"] == "validation_failed"
        assert json.loads(shown.stdout)["team"] == "design"

        # Drop-in client: Rivya's paths and JSON, a team key instead of the org key.
        generation = http.post(
            "/api/v1/generations",
            json={"model": "flux-kontext-pro", "prompt": "x", "params": {"aspectRatio": "9:16"}},
            headers=auth,
        )
        assert generation.status_code == 201
        assert generation.json()["reserved_credits"] == 4
        read = http.get(f"/api/v1/generations/{generation.json()['id']}", headers=auth)
        assert read.status_code == 200
        assert read.json()["id"] == generation.json()["id"]

        report = json.loads(stack.cli("spend", "--json").stdout)
        [row] = [r for r in report["teams"] if r["team"] == "design"]
        assert row["budget_credits"] == 800
        # flux-kontext-max (8) on /v1/images and flux-kontext-pro (4) on the drop-in surface
        assert row["spent_credits"] + row["reserved_credits"] == 12
        table = stack.cli("spend").stdout
        assert "design" in table
        assert "800" in table
        # The same figures as the admin API's daily export, in the terminal.
        daily = stack.cli("spend", "--daily", "3").stdout
        exported = http.get(
            "/admin/spend/daily.csv",
            params={"days": 3},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
        assert daily.splitlines()[0] == exported.text.splitlines()[0]

        def held(text: str) -> dict[tuple[str, str], int]:
            # Settling moves credits from reserved to spent; what is held stays the same.
            rows = csv.DictReader(io.StringIO(text))
            return {
                (r["date"], r["team"]): int(r["spent_credits"]) + int(r["reserved_credits"])
                for r in rows
            }

        assert held(daily) == held(exported.text)
        assert sum(held(daily).values()) == 12

        listed = stack.cli("keys", "list", "design", "--json")
        [entry] = json.loads(listed.stdout)
        assert "key" not in entry
        assert (entry["spent_credits"] + entry["reserved_credits"], entry["budget_credits"]) == (
            12,
            None,
        )
        # A budget of the key's own: what it has spent today already counts against it.
        capped = stack.cli("keys", "budget", entry["key_id"], "12", "--period", "day", "--json")
        assert capped.returncode == 0, capped.stderr
        assert json.loads(capped.stdout)["remaining_credits"] == 0
        over = http.post("/v1/images", json={"prompt": "p"}, headers=auth)
        assert over.status_code == 402
        assert "This key has 0 of its 12 credits left today" in over.json()["error"]["message"]
        negative = stack.cli("keys", "budget", entry["key_id"], "-5")
        assert negative.returncode != 0
        assert "budget_credits" in negative.stderr
        uncapped = stack.cli("keys", "budget", entry["key_id"], "none", "--json")
        assert json.loads(uncapped.stdout)["budget_credits"] is None
        assert "budget_credits" in stack.cli("keys", "list", "design").stdout.splitlines()[0]
        # In an incident what you have is the leaked key: revoked by it, never printed back.
        secret = key.split("_", 2)[2]
        wrong = stack.cli("keys", "revoke", f"rgw_{'0' * 16}_{secret}")
        assert wrong.returncode != 0
        assert secret not in wrong.stdout + wrong.stderr
        revoked = stack.cli("keys", "revoke", key)
        assert revoked.returncode == 0, revoked.stderr
        assert entry["key_id"] in revoked.stdout
        assert secret not in revoked.stdout + revoked.stderr
        # Cached for KEY_CACHE_SECONDS=1 at most: refused well within a few seconds.
        deadline = time.monotonic() + 5
        refused = http.get("/v1/models", headers=auth)
        while refused.status_code == 200 and time.monotonic() < deadline:
            refused = http.get("/v1/models", headers=auth)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "api_key_revoked"

    stack.stop()
    log = stack.gateway_log.read_text()
    assert ORG_KEY not in log
    assert key not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [line for line in lines if line["msg"] == "request"]
    assert any(
        a["route"] == "/v1/images"
        and a["status"] == 202
        and a["team"] == "design"
        and a["task_id"] == task.json()["id"]
        for a in access
    )
    assert all(a["request_id"] for a in access)
    # Every line of both processes is one JSON object, with no terminal colours in it.
    for path in (stack.gateway_log, stack.tmp / "sim.log"):
        text = path.read_text()
        assert text.strip()
        assert "\x1b[" not in text
        for line in text.splitlines():
            assert "color_message" not in json.loads(line), line
        assert ORG_KEY not in text


def test_teams_apply_is_declarative_and_idempotent(stack: Stack) -> None:
    spec = stack.tmp / "teams.yaml"
    spec.write_text(
        "teams:\n"
        "  - id: design\n    budget_credits: 800\n    budget_period: week\n"
        "  - id: search\n    rate_limit_per_minute: 30\n    allowed_models: [flux-kontext-pro]\n"
    )
    first = stack.cli("teams", "apply", str(spec), "--json")
    assert first.returncode == 0, first.stderr
    applied = json.loads(first.stdout)
    assert (applied["created"], applied["updated"], applied["unchanged"]) == (
        ["design", "search"],
        [],
        [],
    )
    spec.write_text(spec.read_text().replace("800", "900"))
    second = json.loads(stack.cli("teams", "apply", str(spec), "--json").stdout)
    assert (second["created"], second["updated"], second["unchanged"]) == (
        [],
        ["design"],
        ["search"],
    )
    assert second["changes"] == {"design": {"budget_credits": [800, 900]}}
    admin = {"Authorization": f"Bearer {ADMIN}"}
    team = httpx.get(f"{stack.gw_url}/admin/teams/design", headers=admin).json()
    assert team["budget_credits"] == 900
    # A field taken out of the file is kept: a file never widens access by omission.
    spec.write_text(spec.read_text().replace("    allowed_models: [flux-kontext-pro]\n", ""))
    third = json.loads(stack.cli("teams", "apply", str(spec), "--json").stdout)
    assert third["unchanged"] == ["design", "search"]
    search = httpx.get(f"{stack.gw_url}/admin/teams/search", headers=admin).json()
    assert search["allowed_models"] == ["flux-kontext-pro"]
    # --prune resets it, and --dry-run shows that first, changing nothing.
    preview = stack.cli("teams", "apply", str(spec), "--prune", "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert "search: would be updated" in preview.stdout
    assert "allowed_models: flux-kontext-pro -> -" in preview.stdout
    search = httpx.get(f"{stack.gw_url}/admin/teams/search", headers=admin).json()
    assert search["allowed_models"] == ["flux-kontext-pro"]
    pruned = json.loads(stack.cli("teams", "apply", str(spec), "--prune", "--json").stdout)
    assert pruned["changes"]["search"]["allowed_models"] == [["flux-kontext-pro"], None]
    search = httpx.get(f"{stack.gw_url}/admin/teams/search", headers=admin).json()
    assert search["allowed_models"] is None
    # All or nothing: bad teams, and none is written; every problem is named, by its entry.
    good = spec.read_text()
    spec.write_text(good + "  - id: Bad Slug\n  - id: ops\n    budget_credits: -5\n")
    refused = stack.cli("teams", "apply", str(spec))
    assert refused.returncode == 1
    assert "teams[2] (Bad Slug).id" in refused.stderr
    assert "teams[3] (ops).budget_credits" in refused.stderr
    assert httpx.get(f"{stack.gw_url}/admin/teams/ops", headers=admin).status_code == 404
    bad = stack.cli("teams", "create", "Bad Slug")
    assert bad.returncode == 1
    assert "validation_failed" in bad.stderr
    # A YAML error names the file and line; a bare list (no 'teams:') is refused, not ignored.
    spec.write_text(good + "  - id: [unclosed\n")
    broken = stack.cli("teams", "apply", str(spec))
    assert broken.returncode == 1
    assert str(spec) in broken.stderr
    assert "<unicode string>" not in broken.stderr
    spec.write_text("- id: design\n  budget_credits: 1\n")
    bare = stack.cli("teams", "apply", str(spec))
    assert bare.returncode == 1
    assert "'teams:' list" in bare.stderr
    assert (
        httpx.get(f"{stack.gw_url}/admin/teams/design", headers=admin).json()["budget_credits"]
        == 900
    )


def test_the_cli_asks_before_deleting_and_is_quiet_in_a_pipe(stack: Stack) -> None:
    assert stack.cli("teams", "create", "design", "--budget", "800").returncode == 0
    # No terminal to ask (CI, a script): refused, and nothing deleted, unless --yes says so.
    asked = stack.cli("teams", "delete", "design")
    assert asked.returncode == 1
    assert "--yes" in asked.stderr
    assert stack.cli("teams", "get", "design").returncode == 0
    assert stack.cli("teams", "delete", "design", "--yes").returncode == 0
    assert stack.cli("teams", "get", "design").returncode == 1
    # Piped into something that stops reading: no "Broken pipe", a clean exit.
    with subprocess.Popen(
        [CLI, "spend", "--daily", "30"],
        env=stack.env,
        cwd=stack.tmp,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as piped:
        assert piped.stdout is not None
        assert piped.stderr is not None
        piped.stdout.close()  # as `| head` does once it has its lines: here before any
        complaint = piped.stderr.read()
        assert piped.wait(timeout=30) == 0
    assert "Broken pipe" not in complaint
    assert "Traceback" not in complaint


def test_the_served_gateway_answers_even_an_unparseable_request_in_the_envelope(
    stack: Stack,
) -> None:
    # A curl pasted with a Unicode ellipsis in its URL: uvicorn's parser refuses the request
    # line before the app sees it; `rivya-gateway serve` still answers in the envelope.
    host, port = stack.gw_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall("GET /v1/images/task_5e0c\u2026 HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["error"]["code"] == "validation_failed"
    # An ISO week, as weekly budgets count.
    week = stack.cli("spend", "--period", "2026-W49", "--json")
    assert week.returncode == 0, week.stderr
    assert json.loads(week.stdout)["period"] == "2026-W49"


def test_the_gateway_refuses_to_start_without_the_org_key(tmp_path: Path, redis_url: str) -> None:
    env = subprocess_env(REDIS_URL=redis_url, RIVYA_BASE_URL="https://rivya.ai")
    result = subprocess.run(
        [CLI, "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "RIVYA_API_KEY" in result.stdout + result.stderr


def test_the_cli_reaches_what_make_run_started_with_no_settings(stack: Stack) -> None:
    # `make run` writes .run/env in the repo; the CLI, run from there, reads it.
    (stack.tmp / ".run").mkdir()
    (stack.tmp / ".run" / "env").write_text(f"REDIS_URL={stack.redis.url}\n")
    without = {k: v for k, v in stack.env.items() if k != "REDIS_URL"}
    created = stack.cli("teams", "create", "design", "--budget", "800", env=without)
    assert created.returncode == 0, created.stderr
    listed = stack.cli("teams", "list", env=without)
    # A table a person reads: a header, then one line per team.
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["id", "name", "budget_credits", "budget_period"]
    assert row.split()[:4] == ["design", "-", "800", "month"]
    # Another Redis, named on the command line; and a failure names what it tried.
    down = f"redis://127.0.0.1:{free_port()}/0"
    failed = stack.cli("teams", "list", "--redis-url", down, env=without)
    assert failed.returncode == 1
    assert "store_unavailable" in failed.stderr
    assert down in failed.stderr
    assert "connection refused: nothing listens" in failed.stderr  # the cause, not "Retry soon"
    assert "Retry soon" not in failed.stderr
    assert "Traceback" not in failed.stderr


def test_bad_settings_stop_the_gateway_with_one_clear_message(stack: Stack) -> None:
    env = {**stack.env, "RIVYA_SIMULATOR": "true", "RIVYA_BASE_URL": "https://rivya.ai"}
    env.pop("RIVYA_API_KEY", None)
    started = stack.cli("serve", "--port", str(free_port()), env=env)
    assert started.returncode == 1
    assert started.stderr.startswith("error: RIVYA_SIMULATOR=true but RIVYA_BASE_URL")
    assert "pydantic" not in started.stderr
    assert "Traceback" not in started.stderr
