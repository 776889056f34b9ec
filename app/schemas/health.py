"""``GET /readyz``: whether this process can serve, and what it sees of Redis and Rivya."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Readiness(BaseModel):
    """``GET /readyz``, the same body whether it answers 200 or 503."""

    status: Literal["ready", "unavailable", "draining"]
    checks: dict[str, str] = Field(
        description="redis (ok, unreachable) decides, and when unreachable redis_cause says "
        "why (auth refused, TLS failure, DNS, connection refused, timeout, ...); redis_data, "
        "redis_persistence and rivya_circuit are reported, not judged."
    )


class Liveness(BaseModel):
    """``GET /healthz``: the process is alive."""

    status: Literal["ok"]
