"""All configuration, from environment variables (and an optional ``.env``), validated at start.

One ``Settings`` made of a part per concern, each with its fields, its checks and the policies
it implies (``poll_schedule``, ``upload_limits``, …) as typed properties, so the wiring only
passes them on: ``store`` (reaching Redis; all the admin CLI needs), ``upstream`` (Rivya),
``secrets`` (the admin, token and metrics secrets, and their ``*_FILE`` forms), ``settlement``,
``limits`` (uploads, image checks and the per-process rates) and ``ops`` (alerts, the org's
balance, leaving). ``gateway`` puts them together with what spans them.
"""

from app.settings.gateway import Settings
from app.settings.secrets import is_placeholder
from app.settings.store import MAKE_RUN_ENV, StoreSettings
from app.settings.upstream import SIMULATOR_DEV_KEY

__all__ = ["MAKE_RUN_ENV", "SIMULATOR_DEV_KEY", "Settings", "StoreSettings", "is_placeholder"]
