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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
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
def stack(upstream: str, *, workers: int = 1, replicas: int = 1) -> Iterator[Running]:
    """Redis, the upstream, ``replicas`` gateways of ``workers`` uvicorn workers each, and a
    pass-through and a floor with as many worker processes as all the gateways together."""
    workdir = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    redis_port, sim_port, pt_port, floor_port = free_port(), free_port(), free_port(), free_port()
    gw_ports = [free_port() for _ in range(replicas)]
    sim_url, pt_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{pt_port}"
    floor_url = f"http://127.0.0.1:{floor_port}"
    gw_urls = [f"http://127.0.0.1:{port}" for port in gw_ports]
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
        # Access logs on, as in production (they go to /dev/null here, not to a terminal).
        LOG_LEVEL="INFO",
        UPSTREAM_URL=sim_url,
        UPSTREAM_KEY=ORG_KEY,
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
        gateways = [
            ([CLI, "serve", "--port", str(port), "--workers", str(workers)], f"{url}/readyz")
            for port, url in zip(gw_ports, gw_urls, strict=True)
        ]
        passthrough = [sys.executable, "-m", "bench.passthrough"]
        floor_env = {**env, "FLOOR_REDIS_URL": env["REDIS_URL"]}
        for command, ready, command_env in (
            (upstream_cmd, f"{sim_url}/api/v1/models", env),
            *((command, ready, env) for command, ready in gateways),
            (
                [*passthrough, str(pt_port), str(workers * replicas)],
                f"{pt_url}/api/v1/models",
                env,
            ),
            (
                [*passthrough, str(floor_port), str(workers * replicas)],
                f"{floor_url}/api/v1/models",
                floor_env,
            ),
        ):
            processes.append(
                subprocess.Popen(
                    command,
                    env=command_env,
                    cwd=Path.cwd() if command[0] == sys.executable else workdir,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            wait_ready(ready)
        yield Running(
            sim_url,
            gw_urls,
            pt_url,
            floor_url,
            client,
            [p.pid for p in processes[2 : 2 + replicas]],
            processes[-2].pid,
            processes[-1].pid,
        )
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Measured:
    """One target's rounds at one concurrency, summed."""

    name: str
    results: list[Result]
    cpu_seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.results)

    @property
    def rps(self) -> float:
        return self.requests / sum(r.seconds for r in self.results)

    @property
    def p50_ms(self) -> float:
        return statistics.median(r.p50_ms for r in self.results)

    @property
    def p99_ms(self) -> float:
        return statistics.median(r.p99_ms for r in self.results)

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds * 1000 / max(self.requests, 1)


def timed(
    target: Measured,
    concurrency: int,
    urls: list[str],
    auth: str,
    payload: Mapping[str, object],
    pids: list[int],
    seconds: int,
) -> None:
    """One round against ``urls`` (the load split between them), adding its result and the CPU
    time the processes ``pids`` (and their workers) spent to ``target``."""
    before = sum(cpu_seconds(pid) for pid in pids)
    share = max(concurrency // len(urls), 1)
    with ThreadPoolExecutor(len(urls)) as pool:
        results = list(
            pool.map(
                lambda url: measure(
                    target.name, url, {"Authorization": auth}, payload, seconds, share
                ),
                urls,
            )
        )
    target.cpu_seconds += sum(cpu_seconds(pid) for pid in pids) - before
    requests = sum(r.requests for r in results)
    target.results.append(
        Result(
            target.name,
            requests,
            max(r.seconds for r in results),
            max(r.p50_ms for r in results),
            max(r.p99_ms for r in results),
            {},
        )
    )


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


def bench_key(run: Running) -> str:
    """A team with room for any load (budget, rate and in-flight cap far above it), and a key."""
    port = run.client.connection_pool.connection_kwargs["port"]
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per target and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 1])
    parser.add_argument("--upstream", default="simulator", choices=["simulator", "static"])
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="the targets take turns this many times, so a machine whose speed drifts during "
        "the run favours none of them",
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per gateway")
    parser.add_argument("--replicas", type=int, default=1, help="gateways sharing one Redis")
    args = parser.parse_args()

    body = {"prompt": "a benchmark", "aspect_ratio": "1:1"}
    rivya_body = {
        "model": "flux-kontext-max",
        "prompt": "a benchmark",
        "params": {"aspectRatio": "1:1"},
    }
    per_round = max(args.seconds // args.rounds, 1)
    rows: list[tuple[int, Measured, Measured, Measured, Measured]] = []
    with stack(args.upstream, workers=args.workers, replicas=args.replicas) as run:
        key = bench_key(run)
        for concurrency in args.concurrency:
            direct = Measured(f"{args.upstream} upstream directly", [])
            bare = Measured("minimal pass-through", [])
            floor = Measured("floor: pass-through + 2 Redis round trips", [])
            gateway = Measured("this gateway", [])
            for _ in range(args.rounds):
                direct_url = f"{run.sim_url}/api/v1/generations"
                timed(
                    direct,
                    concurrency,
                    [direct_url],
                    f"Bearer {ORG_KEY}",
                    rivya_body,
                    [],
                    per_round,
                )
                bare_url = f"{run.passthrough_url}/v1/images"
                timed(
                    bare,
                    concurrency,
                    [bare_url],
                    "Bearer -",
                    rivya_body,
                    [run.passthrough_pid],
                    per_round,
                )
                timed(
                    floor,
                    concurrency,
                    [f"{run.floor_url}/v1/images"],
                    "Bearer -",
                    rivya_body,
                    [run.floor_pid],
                    per_round,
                )
                urls = [f"{url}/v1/images" for url in run.gw_urls]
                timed(
                    gateway, concurrency, urls, f"Bearer {key}", body, run.gateway_pids, per_round
                )
            rows.append((concurrency, direct, bare, floor, gateway))
        time.sleep(2)  # let the gateway finish what wrk left in flight before MONITOR counts
        per_create = round_trips_per_create(run.client, run.gw_url, key, body)
        evalsha = run.client.info("commandstats").get("cmdstat_evalsha", {})

    driver = "wrk" if shutil.which("wrk") else "python (understates the gateway)"
    shape = f"{args.replicas} gateway(s) x {args.workers} uvicorn worker(s)"
    print(
        f"{per_round} s x {args.rounds} rounds per target, upstream {args.upstream}, load from "
        f"{driver}, {os.cpu_count()} cores; {shape}, pass-through with as many workers\n"
    )
    print(
        "| target | c | req/s | p50 ms | p99 ms | CPU ms/req | vs pass-through |\n"
        "|---|---|---|---|---|---|---|"
    )
    for concurrency, direct, bare, floor, gateway in rows:
        print(
            f"| {direct.name} | {concurrency} | {direct.rps:,.0f} | {direct.p50_ms:.2f} | "
            f"{direct.p99_ms:.2f} | - | - |"
        )
        print(
            f"| {bare.name} | {concurrency} | {bare.rps:,.0f} | {bare.p50_ms:.2f} | "
            f"{bare.p99_ms:.2f} | {bare.cpu_ms:.2f} | 1.00, "
            f"+{bare.p50_ms - direct.p50_ms:.2f} ms p50 over direct |"
        )
        for target in (floor, gateway):
            ratios = [t.rps / b.rps for t, b in zip(target.results, bare.results, strict=True)]
            print(
                f"| {target.name} | {concurrency} | {target.rps:,.0f} | {target.p50_ms:.2f} | "
                f"{target.p99_ms:.2f} | {target.cpu_ms:.2f} | "
                f"**{target.rps / bare.rps:.2f}** throughput (rounds {min(ratios):.2f}-"
                f"{max(ratios):.2f}), +{target.p50_ms - direct.p50_ms:.2f} ms p50 over direct |"
            )
    print(
        f"\nRedis round trips per create: {sum(per_create.values()):.2f} ("
        + ", ".join(f"{name} {count:.2f}" for name, count in per_create.items())
        + ")"
    )
    if evalsha:
        print(
            f"Redis time per script call (EVALSHA, whole run): "
            f"{evalsha['usec_per_call']:.0f} µs, {evalsha['calls']:,} calls"
        )


if __name__ == "__main__":
    main()
