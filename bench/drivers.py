"""The load generators: wrk when it is installed (C, one thread: it must not be the bottleneck it
measures), else a Python one that saturates well before the gateway does."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass(frozen=True)
class Load:
    """One load: POST ``body`` to ``url`` with ``headers`` from ``concurrency`` connections for
    ``seconds``; ``name`` labels its result."""

    name: str
    url: str
    headers: dict[str, str]
    body: Mapping[str, object]
    seconds: int
    concurrency: int


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


def drive_wrk(load: Load) -> Result:
    """wrk (C, one thread) as the load generator: it must not be the bottleneck it measures."""
    env = {
        **os.environ,
        "WRK_BODY": json.dumps(load.body),
        "WRK_AUTH": load.headers["Authorization"],
    }
    script = str(Path(__file__).with_name("post.lua"))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{load.concurrency}", f"-d{load.seconds}s", "-s", script, load.url],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out.split("WRKJSON ", 1)[1].splitlines()[0])
    return Result(
        load.name,
        data["requests"],
        data["seconds"],
        data["p50"],
        data["p99"],
        {int(k): v for k, v in data["statuses"].items()},
    )


async def drive(load: Load) -> Result:
    """A Python load generator, for machines without wrk (it saturates well before the gateway
    does, so its ratios understate the gateway)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    most = load.concurrency
    limits = httpx.Limits(max_connections=most, max_keepalive_connections=most)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        stop_at = time.perf_counter() + load.seconds

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await http.post(load.url, json=load.body, headers=load.headers)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(most)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return Result(
        load.name,
        len(ordered),
        elapsed,
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        statuses,
    )


def measure(load: Load) -> Result:
    # Warm up connections and code paths, outside the measurement.
    with httpx.Client(timeout=30) as http:
        for _ in range(20):
            http.post(load.url, json=load.body, headers=load.headers)
    if shutil.which("wrk"):
        return drive_wrk(load)
    return asyncio.run(drive(load))
