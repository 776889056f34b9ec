"""Where a create's time goes: py-spy samples the gateway process while wrk drives creates at
saturation, and the samples are summed by package (self time) and by the gateway's own layers
(inclusive time).

    .venv/bin/python -m bench.profile --seconds 12 --concurrency 32 [--raw profile.txt]

The same stack as ``bench.load`` (its own redis-server, the static upstream, one uvicorn
worker); needs ``py-spy`` (on PyPI) and ``wrk``, and permission to ptrace the gateway (root, or
``kernel.yama.ptrace_scope=0``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from bench.drivers import Load, measure
from bench.processes import bench_key, stack

# Inclusive time: a sample counts for a layer when any frame of its stack is in it.
LAYERS = {
    "FastAPI routing and dependencies": ("fastapi/routing.py", "fastapi/dependencies"),
    "the create routes (app/api/create_routes.py)": ("app/api/create_routes.py",),
    "Redis client (redis-py)": ("redis/",),
    "upstream HTTP client": ("aiohttp/", "httpx/", "app/upstream/"),
    "access log and metrics": ("logging/", "app/logging.py", "prometheus_client/"),
    "uvicorn protocol": ("uvicorn/protocols",),
    "JSON": ("json/", "orjson"),
}


def package_of(frame: str) -> str:
    """``func (redis/asyncio/connection.py:12)`` → ``redis`` (the gateway: ``app.<module>``)."""
    path = frame.rsplit("(", 1)[-1].rstrip(")").rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    parts = path.split("/")
    if parts[0] == "app" and len(parts) > 1:
        return "app." + parts[1].removesuffix(".py")
    return parts[0].removesuffix(".py") or "?"


def summarise(raw: Path, top: int = 14) -> str:
    by_package: Counter[str] = Counter()
    by_layer: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        total += count
        by_package[package_of(frames[-1])] += count
        for layer, needles in LAYERS.items():
            if any(needle in frame for frame in frames for needle in needles):
                by_layer[layer] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples; self time by package:"]
    lines += [f"  {name:<28} {100 * n / total:5.1f} %" for name, n in by_package.most_common(top)]
    lines.append("inclusive time by layer:")
    lines += [f"  {name:<36} {100 * n / total:5.1f} %" for name, n in by_layer.most_common()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--raw", type=Path, help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    raw = args.raw or Path(tempfile.mkdtemp(prefix="gw-profile-")) / "profile.txt"
    body = {"prompt": "a benchmark", "aspect_ratio": "1:1"}
    with stack("static") as run:
        key = bench_key(run)
        url = f"{run.gw_url}/v1/images"
        headers = {"Authorization": f"Bearer {key}"}
        recorder = subprocess.Popen(
            [
                *(py_spy, "record", "--format", "raw", "--rate", "250", "--nonblocking"),
                *("--pid", str(run.gateway_pid), "--duration", str(args.seconds), "-o", str(raw)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        load = threading.Thread(
            target=measure,
            args=(Load("gateway", url, headers, body, args.seconds + 1, args.concurrency),),
        )
        load.start()
        recorder.wait()
        load.join()
    print(summarise(raw))


if __name__ == "__main__":
    main()
