"""The event loop's histograms (app/loop_metrics.py) read exactly as prometheus_client's own:
a scrape, a dashboard or an alert cannot tell them apart."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from app.loop_metrics import LoopHistogram
from app.metrics import FINE_BUCKETS


def _lines(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def test_a_loop_histogram_scrapes_as_prometheus_client_s_own() -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("t_seconds", "Time.", ["stage"], buckets=FINE_BUCKETS, registry=theirs)
    loop = LoopHistogram("t_seconds", "Time.", ["stage"], FINE_BUCKETS, ours)
    # Below the first bound, on a bound (it counts in that bucket), between, past the last.
    amounts = [0.0, 0.00005, 0.0001, 0.0003, 0.001, 0.0049, 0.25, 4.9, 30, 31, 1e9]
    for stage in ("admission", "record"):
        for amount in amounts:
            reference.labels(stage).observe(amount)
            loop.labels(stage).observe(amount)
    assert _lines(ours) == _lines(theirs)


def test_a_loop_histogram_refuses_a_series_with_the_wrong_labels() -> None:
    loop = LoopHistogram("t_seconds", "Time.", ["stage"], FINE_BUCKETS, CollectorRegistry())
    with pytest.raises(ValueError, match="stage"):
        loop.labels("admission", "extra")
