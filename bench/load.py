"""Load test: POST /v1/images through the gateway (every policy on) against the simulator, and
the same creates sent to the simulator directly, in one run, so the gateway's added latency and
its throughput are ratios measured side by side on the same machine.

    .venv/bin/python -m bench.load --requests 2000 --concurrency 32 [--upstream static]

Starts its own redis-server, upstream (the simulator, or ``bench/static_upstream.py``: a canned
answer with almost no cost of its own) and gateway (one uvicorn worker each) on free loopback
ports, then counts the Redis round trips of one create with MONITOR (commands a Lua script runs
inside Redis are not round trips and are left out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

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


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def row(self) -> str:
        return (
            f"| {self.name} | {self.rps:,.0f} | {self.p50_ms:.1f} | {self.p99_ms:.1f} | "
            f"{dict(sorted(self.statuses.items()))} |"
        )


def drive_wrk(
    name: str,
    url: str,
    headers: dict[str, str],
    body: Mapping[str, object],
    seconds: int,
    concurrency: int,
) -> Result:
    """wrk (C, one thread) as the load generator: it must not be the bottleneck it measures."""
    env = {**os.environ, "WRK_BODY": json.dumps(body), "WRK_AUTH": headers["Authorization"]}
    script = str(Path(__file__).with_name("post.lua"))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", script, url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out.split("WRKJSON ", 1)[1].splitlines()[0])
    return Result(
        name,
        data["requests"],
        data["seconds"],
        data["p50"],
        data["p99"],
        {int(k): v for k, v in data["statuses"].items()},
    )


async def drive(
    name: str,
    url: str,
    headers: dict[str, str],
    body: Mapping[str, object],
    seconds: int,
    concurrency: int,
) -> Result:
    """A Python load generator, for machines without wrk (it saturates well before the gateway
    does, so its ratios understate the gateway)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        stop_at = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await http.post(url, json=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Result(
        name,
        len(ordered),
        elapsed,
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        statuses,
    )


def measure(
    name: str,
    url: str,
    headers: dict[str, str],
    body: Mapping[str, object],
    seconds: int,
    concurrency: int,
) -> Result:
    # Warm up connections and code paths, outside the measurement.
    with httpx.Client(timeout=30) as http:
        for _ in range(20):
            http.post(url, json=body, headers=headers)
    if shutil.which("wrk"):
        return drive_wrk(name, url, headers, body, seconds, concurrency)
    return asyncio.run(drive(name, url, headers, body, seconds, concurrency))


@contextmanager
def stack(upstream: str) -> Iterator[tuple[str, str, redis.Redis]]:
    workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    redis_port, sim_port, gw_port = free_port(), free_port(), free_port()
    sim_url, gw_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{gw_port}"
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RIVYA_", "GATEWAY_", "SIM_"))}
    env.update(
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        RIVYA_BASE_URL=sim_url,
        RIVYA_API_KEY=ORG_KEY,
        SIM_API_KEY=ORG_KEY,
        SIM_INITIAL_CREDITS="1000000000",
        LOG_LEVEL="WARNING",
        # Settlement polls would compete for the same two cores; they are not on the create path.
        SETTLER_ENABLED="false",
    )
    processes = [
        subprocess.Popen(
            [binary, "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            cwd=workdir,
        )
    ]
    try:
        client = redis.Redis(port=redis_port, decode_responses=True)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        upstream_cmd = (
            [sys.executable, "-m", "bench.static_upstream", str(sim_port)]
            if upstream == "static"
            else [CLI, "simulator", "--port", str(sim_port)]
        )
        for command, ready in (
            (upstream_cmd, f"{sim_url}/api/v1/models"),
            ([CLI, "serve", "--port", str(gw_port)], f"{gw_url}/readyz"),
        ):
            processes.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=Path.cwd() if command[0] == sys.executable else workdir,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_ready(ready)
        yield sim_url, gw_url, client
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def round_trips_per_create(
    client: redis.Redis, gw_url: str, key: str, body: Mapping[str, object], creates: int = 20
) -> dict[str, float]:
    """Commands the gateway sends Redis per create, from MONITOR (script internals excluded)."""
    counts: dict[str, int] = {}
    with client.monitor() as monitor:  # type: ignore[no-untyped-call]
        with httpx.Client(timeout=30) as http:
            for _ in range(creates):
                http.post(
                    f"{gw_url}/v1/images", json=body, headers={"Authorization": f"Bearer {key}"}
                )
        sentinel = "bench-monitor-end"
        marker = redis.Redis(port=client.connection_pool.connection_kwargs["port"])
        marker.echo(sentinel)  # marks the end of what MONITOR has to show us
        marker.close()
        for event in monitor.listen():
            command = str(event["command"])
            if sentinel in command:
                break
            if event.get("client_type") == "lua" or str(event.get("client_address")) == "lua":
                continue
            name = command.split(" ", 1)[0].upper()
            counts[name] = counts.get(name, 0) + 1
    return {name: count / creates for name, count in sorted(counts.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--upstream", default="simulator", choices=["simulator", "static"])
    args = parser.parse_args()

    body = {"prompt": "a benchmark", "aspect_ratio": "1:1"}
    rivya_body = {
        "model": "flux-kontext-max",
        "prompt": "a benchmark",
        "params": {"aspectRatio": "1:1"},
    }
    with stack(args.upstream) as (sim_url, gw_url, client):
        env = {
            "REDIS_URL": f"redis://127.0.0.1:{client.connection_pool.connection_kwargs['port']}/0"
        }
        subprocess.run(
            [
                CLI,
                "teams",
                "create",
                "bench",
                "--budget",
                "100000000",
                "--rate",
                "100000",
                "--max-in-flight",
                "100000",
            ],
            check=True,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
        )
        key = json.loads(
            subprocess.run(
                [CLI, "keys", "create", "bench"],
                check=True,
                env={**os.environ, **env},
                capture_output=True,
                text=True,
            ).stdout
        )["key"]
        direct = measure(
            f"{args.upstream} directly",
            f"{sim_url}/api/v1/generations",
            {"Authorization": f"Bearer {ORG_KEY}"},
            rivya_body,
            args.seconds,
            args.concurrency,
        )
        through = measure(
            "through the gateway",
            f"{gw_url}/v1/images",
            {"Authorization": f"Bearer {key}"},
            body,
            args.seconds,
            args.concurrency,
        )
        time.sleep(2)  # let the gateway finish what wrk left in flight before MONITOR counts
        per_create = round_trips_per_create(client, gw_url, key, body)

    added_p50 = through.p50_ms - direct.p50_ms
    driver = "wrk" if shutil.which("wrk") else "python"
    print(
        f"{args.seconds} s per path, concurrency {args.concurrency}, upstream "
        f"{args.upstream}, load from {driver}, {os.cpu_count()} cores\n"
    )
    print("| path | req/s | p50 ms | p99 ms | statuses |\n|---|---|---|---|---|")
    print(direct.row())
    print(through.row())
    print(
        f"\ngateway added latency p50: {added_p50:.1f} ms; "
        f"p99: {through.p99_ms - direct.p99_ms:.1f} ms"
    )
    print(f"throughput ratio (gateway / direct): {through.rps / direct.rps:.2f}")
    print(f"latency ratio p50 (gateway / direct): {through.p50_ms / direct.p50_ms:.2f}")
    print(
        f"Redis round trips per create: {sum(per_create.values()):.2f} ("
        + ", ".join(f"{name} {count:.2f}" for name, count in per_create.items())
        + ")"
    )


if __name__ == "__main__":
    main()
