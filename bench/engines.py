"""CPU per upstream call: the gateway's engine (``app/upstream/http1.py``) against httpx and
aiohttp, each POSTing the same create to the same upstream, so that the choice of a hand-written
engine stays justified by a measurement rather than remembered.

    .venv/bin/python -m bench.engines [--calls 20000] [--rounds 5] [--concurrency 1 32]

The upstream is ``bench/static_upstream.py`` in its own process (its CPU is not counted). Each
client runs in this process on uvloop (as the gateway does under uvicorn), keep-alive, its
answers read whole; CPU is this process's user + system time (``time.process_time``) over the
calls. The engines take turns, ``--rounds`` times: this machine's speed drifts within minutes,
and turns keep the drift from favouring one engine. Reported: the median round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import aiohttp
import httpx
import orjson
import uvloop

from app.upstream.http1 import Http1Engine
from bench.processes import free_port, wait_ready

PATH = "/api/v1/generations"
BODY = orjson.dumps(
    {"model": "flux-kontext-max", "prompt": "a shoe on a marble table", "params": {}}
)
FIXED = {"Authorization": "Bearer rvya_sk_bench_org_key_000000", "User-Agent": "rivya-gateway/0.1"}
HEADERS = {
    "X-Request-ID": "req_0123456789abcdef",
    "Idempotency-Key": "gw-0123456789abcdef0123456789abcdef",
    "Content-Type": "application/json",
}
POOL = 64

Call = Callable[[], Awaitable[int]]  # one POST, its answer read whole; the body's length
Engine = Callable[[str], AbstractAsyncContextManager[Call]]


@asynccontextmanager
async def http1(url: str) -> AsyncIterator[Call]:
    engine = Http1Engine(url, FIXED, connect_timeout=5, max_connections=POOL)

    async def call() -> int:
        return len((await engine.send("POST", PATH, HEADERS, content=BODY)).content)

    try:
        yield call
    finally:
        await engine.aclose()


@asynccontextmanager
async def with_httpx(url: str) -> AsyncIterator[Call]:
    limits = httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL)
    async with httpx.AsyncClient(base_url=url, headers=FIXED, limits=limits, timeout=30) as client:

        async def call() -> int:
            return len((await client.post(PATH, content=BODY, headers=HEADERS)).content)

        yield call


@asynccontextmanager
async def with_aiohttp(url: str) -> AsyncIterator[Call]:
    connector = aiohttp.TCPConnector(limit=POOL)
    async with aiohttp.ClientSession(url, headers=FIXED, connector=connector) as session:

        async def call() -> int:
            async with session.post(PATH, data=BODY, headers=HEADERS) as answer:
                return len(await answer.read())

        yield call


ENGINES: dict[str, Engine] = {"http1": http1, "httpx": with_httpx, "aiohttp": with_aiohttp}


async def measure(engine: Engine, url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """CPU and wall µs per call over ``calls`` POSTs, ``concurrency`` at a time."""
    async with engine(url) as call:
        await asyncio.gather(*(call() for _ in range(concurrency)))  # connections open, warm
        each, rest = divmod(calls, concurrency)

        async def worker(count: int) -> None:
            for _ in range(count):
                assert await call() > 0

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(each + (n < rest)) for n in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / calls * 1e6, wall / calls * 1e6


async def run(
    url: str, calls: int, rounds: int, concurrency: list[int], names: list[str]
) -> list[str]:
    rows = [
        f"| engine | concurrency | CPU µs/call | vs {names[0]} | wall µs/call | rounds (CPU µs) |"
    ]
    rows.append("|---|---|---|---|---|---|")
    for c in concurrency:
        cpu: dict[str, list[float]] = {name: [] for name in names}
        wall: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(rounds):
            for name in names:
                spent, took = await measure(ENGINES[name], url, calls, c)
                cpu[name].append(spent)
                wall[name].append(took)
        base = statistics.median(cpu[names[0]])
        for name in names:
            median = statistics.median(cpu[name])
            spread = ", ".join(f"{v:.0f}" for v in cpu[name])
            rows.append(
                f"| {name} | {c} | {median:.0f} | {median / base:.1f}x | "
                f"{statistics.median(wall[name]):.0f} | {spread} |"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    args = parser.parse_args()
    port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "bench.static_upstream", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/api/v1/models")
        rows = uvloop.run(run(url, args.calls, args.rounds, args.concurrency, args.engines))
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
