"""Memory over a long run: creates through the gateway for ``--minutes``, its resident memory
sampled after every minute. Flat means nothing accumulates per request.

    .venv/bin/python -m bench.soak --minutes 10 --concurrency 8

The same stack as ``bench.load`` (static upstream, one uvicorn worker, access logs on).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.drivers import Load, measure
from bench.processes import bench_key, stack


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    body = {"prompt": "a soak", "aspect_ratio": "1:1"}
    with stack("static") as run:
        key = bench_key(run)
        url, headers = f"{run.gw_url}/v1/images", {"Authorization": f"Bearer {key}"}
        print("| minute | creates | creates/s | RSS MB |\n|---|---|---|---|")
        print(f"| 0 | 0 | - | {rss_mb(run.gateway_pid):.1f} |")
        total = 0
        for minute in range(1, args.minutes + 1):
            result = measure(Load("soak", url, headers, body, 60, args.concurrency))
            total += result.requests
            print(
                f"| {minute} | {total:,} | {result.rps:,.0f} | {rss_mb(run.gateway_pid):.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
