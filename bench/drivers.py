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
