"""Every Prometheus metric the gateway exports, named in one place.

Two kinds. Per-process counters and histograms (requests, latency, refusals, upstream calls),
kept in this process's own registry: every replica (one uvicorn worker each) exports its own,
and Prometheus sums them across pods (``sum by (route, status)``). And figures whose truth is in
Redis (spend, reservations, budgets, tasks in flight, settler lag, credits per model, ledger
events, the drift from Rivya's balance), read at scrape time so that every replica reports the
same numbers as the API: never add those up across replicas (``max by (team)``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.loop_metrics import LoopHistogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# Finer at the bottom: a create's stages and the event loop's pauses are sub-millisecond when
# all is well, and their tail is what these are for (bench/README.md).
FINE_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1,
    5,
    30,
)


class Series:
    """A labelled counter's series, each looked up once: ``labels()`` takes a lock and checks
    its values on every call, a cost paid on every create otherwise. As many entries as the
    registry holds series (routes x teams x statuses, whys x codes): no more memory. (The
    histograms a create observes cache their own: ``loop_metrics.py``.)"""

    def __init__(self, metric: Counter) -> None:
        self._metric = metric
        self._series: dict[tuple[str, ...], Counter] = {}

    def __call__(self, *labels: str) -> Counter:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = self._metric.labels(*labels)
        return series


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        counter, histogram, on_the_loop = self._counter, self._histogram, self._loop_histogram
        self.requests = counter(
            "gateway_requests",
            "Requests answered, by route, team and status.",
            ["route", "team", "status"],
        )
        self.request_seconds = on_the_loop(
            "gateway_request_seconds",
            "Time to answer a request, by route.",
            ["route"],
        )
        self.refusals = counter(
            "gateway_refusals",
            "A team's requests refused (every 4xx), by the error code the caller got, and team.",
            ["reason", "team"],
        )
        self.request_records_dropped = counter(
            "gateway_request_records_dropped",
            "Request records not kept: past a team's (or the unidentified callers') share of a "
            "minute, or the buffer's bound. Team empty: no team was identified.",
            ["team"],
        )
        self.upstream_seconds = on_the_loop(
            "gateway_upstream_seconds",
            "Time of one call to Rivya, by method, path and outcome.",
            ["method", "path", "outcome"],
        )
        self.image_check_seconds = histogram(
            "gateway_image_check_seconds",
            "Uploaded images checked in worker processes, by outcome: checked, refused (with a "
            "400 saying why), timeout (killed past IMAGE_CHECK_SECONDS), died, busy (429: no "
            "free worker within DECODE_WAIT_SECONDS).",
            ["outcome"],
        )
        self.upstream_errors = counter(
            "gateway_upstream_errors",
            "Failed calls to Rivya, by why (upstream/failures.py) and Rivya's error code.",
            ["why", "code"],
        )

        self._webhook_counters()
        self._pause_histograms()

    def _pause_histograms(self) -> None:
        histogram = self._histogram
        self.create_stage_seconds = self._loop_histogram(
            "gateway_create_stage_seconds",
            "A create's time by stage: admission (the admission script's round trip), upstream "
            "(Rivya's answer), record (the record script's round trip), gateway (the rest: "
            "this process's own work and its waits for the event loop).",
            ["stage"],
            FINE_BUCKETS,
        )
        self.event_loop_lag_seconds = histogram(
            "gateway_event_loop_lag_seconds",
            "How long a callback waited for the event loop, sampled ten times a second: how "
            "long any request could be held up by other work in the same process.",
            [],
            FINE_BUCKETS,
        )
        self.gc_pause_seconds = histogram(
            "gateway_gc_pause_seconds",
            "Python's garbage collector's pauses (everything in the process stops), by generation.",
            ["generation"],
            FINE_BUCKETS,
        )

    def _webhook_counters(self) -> None:
        counter = self._counter
        self.rivya_hints = counter(
            "gateway_rivya_hints",
            "Rivya's webhook deliveries taken as hints, by outcome: polled (the task is polled "
            "at once), repeated (hinted within RIVYA_HINT_MIN_SECONDS), settled (ended here "
            "already), unknown (no team's task).",
            ["outcome"],
        )
        self.webhook_deliveries = counter(
            "gateway_webhook_deliveries",
            "Attempts to send an event to a team's webhook, by team and outcome: delivered, "
            "retrying (failed, tried again later), failed (given up after its window), dropped "
            "(its webhook is stopped or gone).",
            ["team", "outcome"],
        )
        self.webhooks_stopped = counter(
            "gateway_webhooks_stopped",
            "Webhooks the deliveries stopped, by team and why: failing (an event failed for "
            "its whole retry window). One stopped for its backlog says so in its status.",
            ["team", "reason"],
        )

    def _counter(self, name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _histogram(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> Histogram:
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def _loop_histogram(
        self,
        name: str,
        documentation: str,
        labels: list[str],
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> LoopHistogram:
        """A histogram observed from the event loop only, on every create (loop_metrics.py)."""
        return LoopHistogram(name, documentation, labels, buckets, self.registry)

    def render(self, *extra: Collector) -> bytes:
        """This process's metrics plus ``extra`` collectors (figures read at scrape time)."""
        text = generate_latest(self.registry)
        if extra:
            scrape = CollectorRegistry(auto_describe=False)
            for collector in extra:
                scrape.register(collector)
            text += generate_latest(scrape)
        return text


class Snapshot(Collector):
    """Gauges computed before the scrape (Redis reads are async; collectors are not)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


def gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


def counter(name: str, documentation: str, labels: list[str]) -> CounterMetricFamily:
    """A counter whose value is read from Redis (monotonic there), exported as ``<name>_total``."""
    return CounterMetricFamily(name, documentation, labels=labels)
