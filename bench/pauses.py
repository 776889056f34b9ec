"""Where a create's time went, as the gateway itself reports it: the histograms of its stages,
its event loop's lag and its garbage collector's pauses (``app/metrics.py``), read from
``/metrics`` before and after a load and subtracted, so the figures are that load's alone."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

HISTOGRAMS = {
    "gateway_create_stage_seconds": "stage",
    "gateway_event_loop_lag_seconds": "",
    "gateway_gc_pause_seconds": "generation",
}
Buckets = dict[tuple[str, str], dict[float, float]]  # (histogram, label) -> le -> count


def scrape(gateway_url: str) -> Buckets:
    text = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    buckets: Buckets = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        label_name = HISTOGRAMS.get(family.name)
        if label_name is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                label = sample.labels.get(label_name, "") if label_name else ""
                buckets[(family.name, label)][float(sample.labels["le"])] = sample.value
    return buckets


@dataclass(frozen=True)
class Spread:
    histogram: str
    label: str
    count: int
    p50_ms: float
    p99_ms: float
    over_1ms: int  # observations above a millisecond


def spreads(before: Buckets, after: Buckets) -> list[Spread]:
    """Each histogram's observations between the two scrapes: how many, and their median and
    99th percentile (interpolated within a bucket, as Prometheus's histogram_quantile)."""
    found = []
    for (histogram, label), counts in sorted(after.items()):
        earlier = before.get((histogram, label), {})
        cumulative = sorted((le, n - earlier.get(le, 0)) for le, n in counts.items())
        total = cumulative[-1][1]
        if total <= 0:
            continue
        under_1ms = max((n for le, n in cumulative if le <= 0.001), default=0)
        found.append(
            Spread(
                histogram.removeprefix("gateway_").removesuffix("_seconds"),
                label,
                int(total),
                _quantile(cumulative, 0.5) * 1000,
                _quantile(cumulative, 0.99) * 1000,
                int(total - under_1ms),
            )
        )
    return found


def _quantile(cumulative: list[tuple[float, float]], q: float) -> float:
    rank, lower, below = q * cumulative[-1][1], 0.0, 0.0
    for le, n in cumulative:
        if n >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(n - below, 1e-9)
        lower, below = le, n
    return lower


def table(found: list[Spread]) -> str:
    lines = [
        "| measured in the gateway | count | p50 ms | p99 ms | over 1 ms |",
        "|---|---|---|---|---|",
    ]
    for s in found:
        name = f"{s.histogram} {s.label}".strip()
        lines.append(f"| {name} | {s.count:,} | {s.p50_ms:.2f} | {s.p99_ms:.2f} | {s.over_1ms:,} |")
    return "\n".join(lines)
