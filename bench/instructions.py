"""Instructions per create: the gateway run under valgrind's callgrind while wrk drives creates,
its instructions counted over a measured stretch and divided by the creates it answered.

    .venv/bin/python -m bench.instructions [--seconds 15] [--concurrency 8] [NAME=VALUE ...]

Rates and CPU times on this machine drift by 5-10 % from one run to the next, more than most
single changes move them; an instruction count does not (two runs of the same code agree within
0.5 %). So a change is weighed here first, and the rates (``bench.load``) then say what it is
worth. Kernel time (the system calls) is not counted: ``bench.profile`` shows it. NAME=VALUE
pairs are set in the gateway's environment (``LOG_LEVEL=WARNING``: what the access log costs).
Needs ``valgrind`` (Debian's package) and ``wrk``; the count covers only the measured stretch
(instrumentation is switched on after start-up and a warm-up, with ``callgrind_control``).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from bench.drivers import Load, drive_wrk
from bench.load import BODY
from bench.processes import CLI, bench_environment, bench_key, free_port, stack, wait_ready


def _counted(out: Path) -> int:
    """The instructions in callgrind's dumps (one per thread and dump)."""
    total = 0
    for dump in out.parent.glob(out.name + "*"):
        for line in dump.read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


def _control(pid: int, action: str) -> None:
    command = ["callgrind_control", action, str(pid)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("environment", nargs="*", help="NAME=VALUE for the gateway")
    args = parser.parse_args()
    with stack("static") as run, tempfile.TemporaryDirectory(prefix="gw-callgrind-") as work:
        key = bench_key(run)
        port, out = free_port(), Path(work) / "callgrind.out"
        env = bench_environment(run.redis_url, run.sim_url)
        env.update(pair.split("=", 1) for pair in args.environment)
        valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        command = [*valgrind, f"--callgrind-out-file={out}", CLI, "serve", "--port", str(port)]
        gateway = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/readyz", timeout=300)
            auth = {"Authorization": f"Bearer {key}"}
            drive_wrk(Load("warm-up", f"{url}/v1/images", auth, BODY, 5, args.concurrency))
            _control(gateway.pid, "--instr=on")
            measured = drive_wrk(
                Load("gateway", f"{url}/v1/images", auth, BODY, args.seconds, args.concurrency)
            )
            _control(gateway.pid, "--instr=off")
            _control(gateway.pid, "--dump")
        finally:
            gateway.terminate()
            gateway.wait(timeout=120)
        instructions = _counted(out)
        creates = measured.statuses.get(202, 0)
        per_create = instructions / max(creates, 1)
        print(f"{creates:,} creates, {instructions:,} instructions: {per_create:,.0f} per create")


if __name__ == "__main__":
    main()
