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
import os
import shutil
import statistics
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import redis

from bench import litellm as litellm_target
from bench import pauses
from bench.drivers import Load, Result, measure
from bench.processes import ORG_KEY, Running, bench_key, cpu_seconds, stack


@dataclass
class Measured:
    """One target's rounds at one concurrency, summed."""

    name: str
    results: list[Result]
    cpu_seconds: float = 0.0
    # The gateway's own histograms over its rounds (its first process's, with several).
    inside: list[pauses.Spread] = field(default_factory=list)

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
                    Load(target.name, url, {"Authorization": auth}, payload, seconds, share)
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


@dataclass
class Row:
    """Every target's rounds at one concurrency."""

    concurrency: int
    direct: Measured
    bare: Measured
    floor: Measured
    gateway: Measured
    litellm: Measured | None


BODY = {"prompt": "a benchmark", "aspect_ratio": "1:1"}
RIVYA_BODY = {
    "model": "flux-kontext-max",
    "prompt": "a benchmark",
    "params": {"aspectRatio": "1:1"},
}


def main() -> None:
    args = _arguments()
    per_round = max(args.seconds // args.rounds, 1)
    litellm = None if args.no_litellm else litellm_target.installed()
    shape = {"workers": args.workers, "replicas": args.replicas, "litellm": litellm}
    with stack(args.upstream, **shape) as run:
        key = bench_key(run)
        rows = [
            _round_robin(run, key, concurrency, args.rounds, per_round, args.upstream)
            for concurrency in args.concurrency
        ]
        time.sleep(2)  # let the gateway finish what wrk left in flight before MONITOR counts
        per_create = round_trips_per_create(run.client, run.gw_url, key, BODY)
        evalsha = run.client.info("commandstats").get("cmdstat_evalsha", {})
    driver = "wrk" if shutil.which("wrk") else "python (understates the gateway)"
    gateways = f"{args.replicas} gateway(s) x {args.workers} uvicorn worker(s)"
    print(
        f"{per_round} s x {args.rounds} rounds per target, upstream {args.upstream}, load from "
        f"{driver}, {os.cpu_count()} cores; {gateways}, pass-through"
        f"{' and LiteLLM' if litellm else ''} with as many workers\n"
    )
    _print_table(rows)
    for row in rows:
        print(f"\nInside the gateway at c={row.concurrency} (its own histograms, /metrics):\n")
        print(pauses.table(row.gateway.inside))
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


def _arguments() -> argparse.Namespace:
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
    parser.add_argument(
        "--no-litellm", action="store_true", help="leave LiteLLM's proxy out (bench/litellm.py)"
    )
    return parser.parse_args()


def _round_robin(
    run: Running, key: str, concurrency: int, rounds: int, seconds: int, upstream: str
) -> Row:
    """Every target, in turns, ``rounds`` times at one concurrency."""
    direct = Measured(f"{upstream} upstream directly", [])
    bare = Measured("minimal pass-through", [])
    floor = Measured("floor: pass-through + 2 Redis round trips", [])
    gateway = Measured("this gateway", [])
    litellm = Measured("LiteLLM proxy (pass-through endpoint)", []) if run.litellm_url else None
    gateways = [f"{url}/v1/images" for url in run.gw_urls]
    inside_before = pauses.scrape(run.gw_url)
    for _ in range(rounds):
        direct_url = [f"{run.sim_url}/api/v1/generations"]
        timed(direct, concurrency, direct_url, f"Bearer {ORG_KEY}", RIVYA_BODY, [], seconds)
        bare_url = [f"{run.passthrough_url}/v1/images"]
        timed(bare, concurrency, bare_url, "Bearer -", RIVYA_BODY, [run.passthrough_pid], seconds)
        floor_url = [f"{run.floor_url}/v1/images"]
        timed(floor, concurrency, floor_url, "Bearer -", RIVYA_BODY, [run.floor_pid], seconds)
        timed(gateway, concurrency, gateways, f"Bearer {key}", BODY, run.gateway_pids, seconds)
        if litellm is not None and run.litellm_url and run.litellm_pid:
            litellm_url = [f"{run.litellm_url}/v1/images"]
            master = f"Bearer {litellm_target.MASTER_KEY}"
            timed(litellm, concurrency, litellm_url, master, RIVYA_BODY, [run.litellm_pid], seconds)
    gateway.inside = pauses.spreads(inside_before, pauses.scrape(run.gw_url))
    return Row(concurrency, direct, bare, floor, gateway, litellm)


def _print_table(rows: list[Row]) -> None:
    print(
        "| target | c | req/s | p50 ms | p99 ms | CPU ms/req | vs pass-through |\n"
        "|---|---|---|---|---|---|---|"
    )
    for row in rows:
        concurrency, direct, bare, floor, gateway = (
            row.concurrency,
            row.direct,
            row.bare,
            row.floor,
            row.gateway,
        )
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
        if row.litellm is not None:
            litellm = row.litellm
            print(
                f"| {litellm.name} | {concurrency} | {litellm.rps:,.0f} | {litellm.p50_ms:.2f} | "
                f"{litellm.p99_ms:.2f} | {litellm.cpu_ms:.2f} | {litellm.rps / bare.rps:.2f}; "
                f"**this gateway: {gateway.rps / litellm.rps:.1f}x its throughput** |"
            )


if __name__ == "__main__":
    main()
