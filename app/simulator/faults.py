"""Fault switches: what the simulator does wrong on purpose, and how a request consumes them.

Counters (``error_count``, ``hang_count``, ``malformed_count``, ``force_fail_next``) count down
as matching requests use them up, so a test can say "the next two creates answer 503".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.simulator.errors import default_code

HangMode = Literal["before", "after"]
# Who answers an injected error: Rivya itself (its envelope), or something in front of it (an
# edge, a load balancer, a proxy: an HTML page, no envelope).
ErrorSource = Literal["rivya", "edge"]


@dataclass(frozen=True)
class ErrorFault:
    status: int
    code: str
    retry_after: int | None
    source: ErrorSource = "rivya"
    after: bool = False  # the request was served (a task made) before the error replaced it


@dataclass(frozen=True)
class HangFault:
    seconds: float
    mode: HangMode


class Faults(BaseModel):
    """The switches; a partial JSON update goes through ``updated`` and is validated whole."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    latency_ms: int = Field(default=0, ge=0, description="added to every /api/v1 response")
    failure_rate: float = Field(default=0.0, ge=0, le=1, description="share of tasks that fail")
    force_fail_next: int = Field(default=0, ge=0, description="the next N created tasks fail")
    charge_next: list[int | None] = Field(
        default_factory=list,
        description="what the next created tasks charge if they succeed, in turn (their "
        "final_credits); null: the answer carries final_credits null, the reservation charged",
    )

    result_url_seconds: float | None = Field(
        default=None,
        ge=0,
        description="result URLs stop working this long after their task ended (403, as an "
        "expired signed CDN URL answers); null: they never do (Rivya's lifetime is undocumented)",
    )

    error_status: int = Field(default=503, ge=400, le=599)
    error_count: int = Field(default=0, ge=0)
    error_code: str | None = Field(default=None, description="overrides the status's code")
    retry_after: int | None = Field(default=None, ge=0, description="Retry-After, seconds")
    error_paths: str = Field(default="/api/v1/", description="substring of matching paths")
    error_method: str | None = Field(
        default=None, description="only requests of this method (GET, POST...); None: any"
    )
    error_source: ErrorSource = Field(
        default="rivya", description="rivya: its envelope; edge: a proxy's bare HTML page"
    )
    error_after: bool = Field(
        default=False, description="serve the request first (a task is made), then answer the error"
    )

    hang_seconds: float = Field(default=0.0, ge=0)
    hang_count: int = Field(default=0, ge=0)
    hang_mode: HangMode = "before"
    hang_paths: str = "/api/v1/"

    malformed_count: int = Field(default=0, ge=0)
    malformed_paths: str = "/api/v1/"

    def updated(self, changes: dict[str, Any]) -> Faults:
        """A new value with ``changes`` applied; raises pydantic's ValidationError if bad."""
        return Faults.model_validate({**self.model_dump(), **changes})

    def take_error(self, path: str, method: str) -> ErrorFault | None:
        if self.error_count <= 0 or self.error_paths not in path:
            return None
        if self.error_method is not None and self.error_method.upper() != method:
            return None
        self.error_count -= 1
        code = self.error_code or default_code(self.error_status)
        return ErrorFault(
            self.error_status, code, self.retry_after, self.error_source, self.error_after
        )

    def take_hang(self, path: str) -> HangFault | None:
        if self.hang_count <= 0 or self.hang_paths not in path:
            return None
        self.hang_count -= 1
        return HangFault(self.hang_seconds, self.hang_mode)

    def take_malformed(self, path: str) -> bool:
        if self.malformed_count <= 0 or self.malformed_paths not in path:
            return False
        self.malformed_count -= 1
        return True

    def take_charge(self) -> tuple[bool, int | None]:
        """(whether a charge was set, the charge) for the next created task."""
        if not self.charge_next:
            return False, None
        return True, self.charge_next.pop(0)

    def take_forced_failure(self) -> bool:
        if self.force_fail_next <= 0:
            return False
        self.force_fail_next -= 1
        return True
