"""What uploads may take: a team's rate, the bodies a process holds, and the image checks'
workers. Derived from the settings (``Settings.upload_limits``, ``Settings.image_check_limits``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UploadLimits:
    per_minute: int  # a team's uploads per minute (all replicas together)
    burst: int
    at_once: int  # upload bodies this process holds at once (half of them for one team)
    wait_seconds: float  # for room among them, then 429


@dataclass(frozen=True)
class ImageCheckLimits:
    workers: int  # worker processes per serving process
    decode_bytes: int  # the most one check may decode (a worker's cap is this plus its base)
    seconds: float  # a check's deadline, after which its worker is killed
    wait_seconds: float  # the longest a check waits for a free worker before a 429
