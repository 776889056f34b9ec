"""How the gateway scales on one machine, and what sizes a deployment: creates per second, the
gateway's CPU and Redis's CPU per create, for 1, 2 and 4 uvicorn workers, two replicas sharing
one Redis, and one process over a Redis Cluster of three masters. Each shape is a fresh stack,
measured at one concurrency against the minimal pass-through with as many workers, in turns.

    .venv/bin/python -m bench.scaling --seconds 12 --rounds 3 --concurrency 32

Redis's CPU is its own (``INFO cpu``, every node of a cluster), over the gateway's rounds only:
per create, it says how many creates one Redis core can take.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from bench.load import BODY, RIVYA_BODY, Measured, timed
from bench.processes import Running, bench_key, redis_cpu, stack
from tests.support import RedisClusterNodes


@dataclass(frozen=True)
class Shape:
    name: str
    workers: int = 1
    replicas: int = 1
    cluster: bool = False


SHAPES = (
    Shape("1 process"),
    Shape("2 workers", workers=2),
    Shape("4 workers", workers=4),
    Shape("2 replicas, one Redis", replicas=2),
    Shape("1 process, Redis Cluster of 3", cluster=True),
)


@dataclass(frozen=True)
class Scaled:
    shape: Shape
    gateway: Measured
    bare: Measured
    redis_seconds: float

    @property
    def redis_us(self) -> float:
        return self.redis_seconds * 1e6 / max(self.gateway.requests, 1)


@contextmanager
def _stack_for(shape: Shape, upstream: str) -> Iterator[Running]:
    if not shape.cluster:
        with stack(upstream, workers=shape.workers, replicas=shape.replicas) as run:
            yield run
        return
    nodes = RedisClusterNodes()
    nodes.start()
    try:
        with stack(upstream, cluster=(nodes.url, nodes.ports)) as run:
            yield run
    finally:
        nodes.stop()


def measure(shape: Shape, concurrency: int, rounds: int, seconds: int, upstream: str) -> Scaled:
    with _stack_for(shape, upstream) as run:
        key = bench_key(run)
        gateway, bare, redis_seconds = Measured("gateway", []), Measured("pass-through", []), 0.0
        gateways = [f"{url}/v1/images" for url in run.gw_urls]
        bare_url, bare_pids = [f"{run.passthrough_url}/v1/images"], [run.passthrough_pid]
        for _ in range(rounds):
            timed(bare, concurrency, bare_url, "Bearer -", RIVYA_BODY, bare_pids, seconds)
            before = redis_cpu(run.redis_ports)
            timed(gateway, concurrency, gateways, f"Bearer {key}", BODY, run.gateway_pids, seconds)
            redis_seconds += redis_cpu(run.redis_ports) - before
        return Scaled(shape, gateway, bare, redis_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=12, help="per shape and target")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--upstream", default="static", choices=["simulator", "static"])
    args = parser.parse_args()
    per_round = max(args.seconds // args.rounds, 1)
    print(
        f"c={args.concurrency}, {per_round} s x {args.rounds} rounds per target, upstream "
        f"{args.upstream}, {os.cpu_count()} cores shared by everything\n"
    )
    print(
        "| gateway | creates/s | p99 ms | gateway CPU ms/create | creates/s per gateway core "
        "| Redis CPU µs/create | creates/s per Redis core | pass-through req/s | ratio |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    for shape in SHAPES:
        s = measure(shape, args.concurrency, args.rounds, per_round, args.upstream)
        g = s.gateway
        print(
            f"| {shape.name} | {g.rps:,.0f} | {g.p99_ms:.1f} | {g.cpu_ms:.2f} | "
            f"{1000 / max(g.cpu_ms, 1e-9):,.0f} | {s.redis_us:.0f} | "
            f"{1e6 / max(s.redis_us, 1e-9):,.0f} | {s.bare.rps:,.0f} | {g.rps / s.bare.rps:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
