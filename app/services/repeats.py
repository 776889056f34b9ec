"""The old name of ``repeat_waits.py``, kept only for ``app/wiring/services.py``: that module is
being changed on another branch, so its import moves with it. Delete this once nothing imports
``app.services.repeats``."""

from app.services.repeat_waits import RepeatWaits

__all__ = ["RepeatWaits"]
