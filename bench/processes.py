"""The processes a benchmark measures, started on free loopback ports and stopped after: Redis,
the upstream, the gateway replicas, the pass-through and its floor; their CPU time from /proc."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from bench import litellm as litellm_target

ORG_KEY = "rvya_sk_bench_org_key_000000"
CLI = str(Path(sys.executable).with_name("rivya-gateway"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@dataclass(frozen=True)
class Running:
    sim_url: str
    gw_urls: list[str]  # one per replica
    passthrough_url: str
    floor_url: str  # the pass-through plus two Redis round trips (bench/passthrough.py)
    client: redis.Redis
    gateway_pids: list[int]
    passthrough_pid: int
    floor_pid: int
    redis_url: str  # what the gateways use: the bench's own redis-server, or a cluster's
    redis_ports: list[int]  # every Redis node the gateways use (their CPU time: redis_cpu)
    litellm_url: str | None = None  # LiteLLM's proxy, when asked for and installed
    litellm_pid: int | None = None

    @property
    def gw_url(self) -> str:
        return self.gw_urls[0]

    @property
    def gateway_pid(self) -> int:
        return self.gateway_pids[0]


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system), with its worker processes', from /proc."""
    family, total = {pid}, 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:  # a worker uvicorn started
                    family.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    for member in family:
        try:
            fields = _stat(member)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def stack(
    upstream: str,
    *,
    workers: int = 1,
    replicas: int = 1,
    litellm: Path | None = None,
    cluster: tuple[str, list[int]] | None = None,
) -> Iterator[Running]:
    """Every process of ``Running``; the baselines with as many workers as the gateways in
    all. ``cluster``: a Redis Cluster's URL and ports for the gateways (and the floor)."""
    workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    redis_port, sim_port, pt_port, floor_port = free_port(), free_port(), free_port(), free_port()
    gw_ports = [free_port() for _ in range(replicas)]
    sim_url, pt_url, floor_url = _url(sim_port), _url(pt_port), _url(floor_port)
    gw_urls = [_url(port) for port in gw_ports]
    redis_url, redis_ports = cluster or (f"redis://127.0.0.1:{redis_port}/0", [redis_port])
    env = bench_environment(redis_url, sim_url)
    with _stopped_after(workdir) as processes:
        processes.append(_redis(redis_port, workdir))
        alike = workers * replicas  # the baselines get as many workers as the gateways together
        floor_env = {**env, "FLOOR_REDIS_URL": redis_url}
        started: list[Start] = [
            (_upstream_command(upstream, sim_port), f"{sim_url}/api/v1/models", env),
            *((_gateway(port, workers), f"{_url(port)}/readyz", env) for port in gw_ports),
            (_passthrough(pt_port, alike), f"{pt_url}/api/v1/models", env),
            (_passthrough(floor_port, alike), f"{floor_url}/api/v1/models", floor_env),
        ]
        litellm_url = None
        if litellm is not None:
            litellm_url, litellm_start = _litellm(litellm, workdir, sim_url, alike, env)
            started.append(litellm_start)
        for command, ready, command_env in started:  # in turn: one may need the one before
            processes.append(_start(command, command_env, workdir))
            wait_ready(ready, timeout=120)
        baselines = processes[2 + replicas :]
        yield Running(
            sim_url,
            gw_urls,
            pt_url,
            floor_url,
            _redis_client(redis_port),
            [p.pid for p in processes[2 : 2 + replicas]],
            baselines[0].pid,
            baselines[1].pid,
            redis_url,
            redis_ports,
            litellm_url,
            baselines[2].pid if litellm_url else None,
        )


@contextmanager
def _stopped_after(workdir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A list to put started processes in: stopped, last first, and ``workdir`` removed, at
    the end."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        yield processes
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


Start = tuple[list[str], str, dict[str, str]]  # a command, its readiness URL, its environment


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _gateway(port: int, workers: int) -> list[str]:
    return [CLI, "serve", "--port", str(port), "--workers", str(workers)]


def _litellm(
    litellm: Path, workdir: Path, upstream_url: str, workers: int, env: dict[str, str]
) -> tuple[str, Start]:
    """LiteLLM's URL, and how to start it in front of the upstream."""
    port = free_port()
    url = _url(port)
    config = litellm_target.configured(workdir, upstream_url, ORG_KEY)
    command = litellm_target.command(litellm, config, port, workers)
    return url, (command, f"{url}/health/liveliness", litellm_target.environment(env))


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _upstream_command(upstream: str, port: int) -> list[str]:
    if upstream == "static":
        return [sys.executable, "-m", "bench.static_upstream", str(port)]
    return [CLI, "simulator", "--port", str(port)]


def _passthrough(port: int, workers: int) -> list[str]:
    return [sys.executable, "-m", "bench.passthrough", str(port), str(workers)]


def bench_environment(redis_url: str, sim_url: str) -> dict[str, str]:
    """Every process's environment: this one's, less its gateway and simulator settings, plus
    the bench's Redis and upstream, access logs on, settlement off, no drain."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIVYA_", "GATEWAY_", "SIM_"))}
    env.update(
        REDIS_URL=redis_url,
        RIVYA_BASE_URL=sim_url,
        RIVYA_API_KEY=ORG_KEY,
        SIM_API_KEY=ORG_KEY,
        SIM_INITIAL_CREDITS="1000000000",
        # Access logs on, as in production (they go to /dev/null here, not to a terminal).
        LOG_LEVEL="INFO",
        UPSTREAM_URL=sim_url,
        UPSTREAM_KEY=ORG_KEY,
        # Settlement polls would compete for the same two cores; they are not on the create path.
        SETTLER_ENABLED="false",
        DRAIN_SECONDS="0",  # no load balancer to drain from: stop at once
    )
    return env


def _redis(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    return subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        cwd=workdir,
    )


def _redis_client(port: int) -> redis.Redis:
    client = redis.Redis(port=port, decode_responses=True)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return client


def _start(command: list[str], env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env=env,
        cwd=Path.cwd() if command[0] == sys.executable else workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def redis_cpu(ports: list[int]) -> float:
    """The CPU time (user + system) the Redis nodes on ``ports`` have used so far, seconds."""
    total = 0.0
    for port in ports:
        node = redis.Redis(port=port)
        try:
            cpu = node.info("cpu")
        finally:
            node.close()
        total += float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return total


def bench_key(run: Running) -> str:
    """A team with room for any load (budget, rate and in-flight cap far above it), and a key."""
    env = {**os.environ, "REDIS_URL": run.redis_url}
    subprocess.run(
        [
            *(CLI, "teams", "create", "bench", "--budget", "100000000"),
            *("--rate", "100000", "--max-in-flight", "100000"),
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    created = subprocess.run(
        [CLI, "keys", "create", "bench", "--json"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    key: str = json.loads(created)["key"]
    return key
