"""A simulated task and its lifecycle, derived from the clock rather than driven by timers.

A task created at t0 is ``queued`` until t0 + queued, ``processing`` until t0 + queued +
processing, then terminal. Nothing runs in the background: every read recomputes the status,
so a fake clock moves tasks along deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.clock import iso_timestamp
from app.rivya_schemas import RivyaTask, TaskError, TaskResult, TaskStatus

FAILURE_MESSAGE = "The generation failed (simulated failure)."
RESULT_EXTENSIONS: dict[str, str] = {"jpeg": "jpg", "png": "png"}


@dataclass
class SimTask:
    id: str
    model_id: str
    prompt: str
    params: dict[str, Any]
    created_at: float
    # Copied from the settings at creation so a later settings change cannot reshape a task.
    queued_seconds: float
    processing_seconds: float
    will_fail: bool
    reserved_credits: int
    base_url: str
    client_request_id: str | None = None
    reference_file_id: str | None = None
    refunded: bool = False
    # What a success charges, when not the reservation (a fault: charge_next); and whether its
    # answer then says null instead of the charge.
    charge: int | None = None
    charge_unstated: bool = False
    image: bytes | None = field(default=None, repr=False)

    @property
    def started_at(self) -> float:
        return self.created_at + self.queued_seconds

    @property
    def finished_at(self) -> float:
        return self.started_at + self.processing_seconds

    @property
    def charged(self) -> int:
        """What the task takes from the balance if it succeeds."""
        return self.reserved_credits if self.charge is None else self.charge

    def status_at(self, now: float) -> TaskStatus:
        if now < self.started_at:
            return "queued"
        if now < self.finished_at:
            return "processing"
        return "failed" if self.will_fail else "succeeded"

    def updated_at(self, now: float) -> float:
        """When the status last changed, as seen at ``now``."""
        status = self.status_at(now)
        if status == "queued":
            return self.created_at
        if status == "processing":
            return self.started_at
        return self.finished_at

    @property
    def output_format(self) -> str:
        return str(self.params.get("outputFormat", "jpeg"))

    @property
    def aspect_ratio(self) -> str:
        return str(self.params.get("aspectRatio", "1:1"))

    @property
    def result_extension(self) -> str:
        return RESULT_EXTENSIONS.get(self.output_format, self.output_format)

    @property
    def result_url(self) -> str:
        return f"{self.base_url}/results/{self.id}.{self.result_extension}"

    def view(self, now: float) -> RivyaTask:
        """The task as Rivya's status endpoint shows it at ``now``."""
        status = self.status_at(now)
        result = None
        error = None
        final_credits: int | None = 0  # Rivya keeps it at 0 until the task is terminal.
        if status == "succeeded":
            result = TaskResult(primary_url=self.result_url, urls=[self.result_url])
            final_credits = None if self.charge_unstated else self.charged
        elif status == "failed":
            error = TaskError(code="generation_failed", message=FAILURE_MESSAGE)
        return RivyaTask(
            id=self.id,
            status=status,
            model=self.model_id,
            reserved_credits=self.reserved_credits,
            final_credits=final_credits,
            created_at=iso_timestamp(self.created_at),
            updated_at=iso_timestamp(self.updated_at(now)),
            result=result,
            error=error,
        )
