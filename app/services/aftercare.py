"""The old name of ``unfinished_writes.py``, kept only for ``app/wiring/services.py``: that module
is being changed on another branch, so its import moves with it. Delete this once nothing
imports ``app.services.aftercare``."""

from app.services.unfinished_writes import UnfinishedWrites

Aftercare = UnfinishedWrites

__all__ = ["Aftercare"]
