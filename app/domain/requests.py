"""What the gateway keeps of an answered request, so that ops given a request id (from an
error's ``requestId`` or an ``X-Request-ID`` header) can say what happened and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    at: str  # when it was answered (ISO-8601 UTC)
    method: str
    route: str | None  # the route's template (/v1/images/{task_id}), never a path with ids
    status: int
    error_code: str | None  # the contract's code of the error answered, if one was
    team: str | None  # None: no team was identified (a missing or unknown key)
    key_id: str | None
    subject: str | None  # the end user a browser token names
    task_id: str | None
    upstream_request_id: str | None
    latency_ms: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
