"""The first hour of a new user, as the README tells it: `make run` (its script, on free ports),
the printed curl, the CLI with no settings, a team of their own, a spend report; and a second
`make run` that says the first is running."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, project_root, subprocess_env

pytestmark = pytest.mark.e2e


class MakeRun:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run_dir = tmp / ".run"
        ports = {
            "GATEWAY_PORT": str(free_port()),
            "SIM_PORT": str(free_port()),
            "LOCAL_REDIS_PORT": str(free_port()),
        }
        self.gw = f"http://127.0.0.1:{ports['GATEWAY_PORT']}"
        self.env = subprocess_env(RUN_DIR=str(self.run_dir), **ports)
        self.env.pop("REDIS_URL", None)  # make run starts its own Redis
        self.log = (tmp / "make-run.log").open("wb")
        self.process = subprocess.Popen(
            ["bash", "scripts/run-local.sh"],
            cwd=project_root(),
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return (self.tmp / "make-run.log").read_text()

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops all" not in self.output():
            assert self.process.poll() is None, self.output()
            assert time.monotonic() < deadline, self.output()
            time.sleep(0.2)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI as a new user runs it: from the directory make run ran in, no settings."""
        return subprocess.run(
            [str(project_root() / ".venv" / "bin" / "rivya-gateway"), *args],
            cwd=self.tmp,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def stop(self) -> None:
        self.process.terminate()  # the script's trap stops the gateway, simulator and Redis
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    run = MakeRun(tmp_path)
    try:
        run.wait_until_ready()
        yield run
    finally:
        run.stop()


def test_from_make_run_to_an_image_a_team_and_a_spend_report(make_run: MakeRun) -> None:
    printed = make_run.output()
    key = re.search(r"export GW=\S+ GW_KEY=(rgw_\S+)", printed)
    assert key is not None, printed
    auth = {"Authorization": f"Bearer {key.group(1)}"}
    with httpx.Client(base_url=make_run.gw, timeout=60) as http:
        # The printed curl, as printed.
        task = http.post(
            "/v1/images",
            params={"wait": 30},
            json={"prompt": "a lighthouse at dusk, oil painting", "aspect_ratio": "16:9"},
            headers=auth,
        )
        assert task.status_code == 200, task.text
        assert task.json()["status"] == "succeeded"
        image = httpx.get(task.json()["result"]["primary_url"], timeout=10)
        assert image.status_code == 200
        assert http.get(f"/v1/images/{task.json()['id']}", headers=auth).status_code == 200

    # The CLI reaches the same instance with no settings (make run wrote .run/env).
    teams = make_run.cli("teams", "list")
    assert teams.returncode == 0, teams.stderr
    assert re.search(r"^demo\s+Demo team\s+800\s+day", teams.stdout, re.MULTILINE)
    # A team of their own, its key, and the spend report.
    assert make_run.cli("teams", "create", "mine", "--budget", "100").returncode == 0
    issued = make_run.cli("keys", "create", "mine", "--json")
    assert issued.returncode == 0, issued.stderr
    spend = make_run.cli("spend")
    assert spend.returncode == 0, spend.stderr
    assert re.search(r"^demo\s+day:\S+\s+800\s+8\s+0\s+792", spend.stdout, re.MULTILINE)
    assert "mine" in spend.stdout

    # make run again, while the first runs: it says so, starts nothing, reuses the demo key.
    again = subprocess.run(
        ["bash", "scripts/run-local.sh"],
        cwd=project_root(),
        env=make_run.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert key.group(1) in again.stdout
    assert "Ctrl-C stops all" in make_run.output()  # the first one's log is untouched
