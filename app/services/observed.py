"""The old name of ``metrics_figures.py``, kept only for ``app/wiring/services.py``: that module
is being changed on another branch, so its import moves with it. Delete this once nothing
imports ``app.services.observed``."""

from app.services.metrics_figures import MetricsFigures

Observed = MetricsFigures

__all__ = ["Observed"]
