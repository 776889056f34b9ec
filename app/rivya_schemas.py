"""Rivya's wire format (``rivya-api.md``): tasks, files, credits and the error envelope.

A neutral module: the upstream client, the store, the gateway's own errors and the simulator
all speak it, and none of them has to import another to do so.

Models accept unknown fields (Rivya may add them) and keep them, so the drop-in surface can
hand a Rivya client exactly what Rivya said.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from app.clock import Timestamp

TaskStatus = Literal["queued", "processing", "succeeded", "failed"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed"})

# How far along a status is; a task's recorded state only ever moves forward.
STATUS_RANK: dict[str, int] = {"queued": 0, "processing": 1, "succeeded": 2, "failed": 2}


class TaskResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    primary_url: str
    urls: list[str] = []


class TaskError(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str = ""


class RivyaTask(BaseModel):
    """A generation task as ``POST``/``GET /api/v1/generations`` return it."""

    model_config = ConfigDict(extra="allow")

    id: str
    status: TaskStatus
    model: str
    reserved_credits: int = 0
    # Rivya's charge once the task has ended (0 before). Read as given, null included, so that a
    # task Rivya misreports is still read (and settled at what it held: ``charge``).
    final_credits: int | None = 0
    created_at: Timestamp
    updated_at: Timestamp
    result: TaskResult | None = None
    error: TaskError | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def charge(self) -> int | None:
        """What Rivya says the task cost: its ``final_credits`` when it gave a valid figure;
        None when it gave none (absent, null, negative), which is never read as "free"."""
        given = self.final_credits
        if "final_credits" not in self.model_fields_set or given is None or given < 0:
            return None
        return given

    def held(self, default: int) -> int:
        """The credits Rivya says the task holds (``reserved_credits``), ``default`` when it
        gave no valid figure."""
        given = self.reserved_credits
        return given if "reserved_credits" in self.model_fields_set and given >= 0 else default

    def wire(self) -> dict[str, Any]:
        """The JSON object Rivya sent (unknown fields included)."""
        return self.model_dump(mode="json")


class RivyaFile(BaseModel):
    """A file as ``POST``/``GET /api/v1/files`` return it (most fields are undocumented)."""

    model_config = ConfigDict(extra="allow")

    id: str
    url: str | None = None
    kind: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    durationToken: str | None = None
    duration_token: str | None = None

    @property
    def duration(self) -> str | None:
        return self.durationToken or self.duration_token


class RivyaModel(BaseModel):
    """A model as ``GET /api/v1/models`` lists it (the catalogue's ``rivya_entry``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["model"]
    display_name: str
    base_credits: int
    billing_type: str
    max_prompt_length: int | None
    params: list[dict[str, Any]]
    api_status: str


class RivyaModelList(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: Literal["list"]
    data: list[RivyaModel]


class RivyaCredits(BaseModel):
    model_config = ConfigDict(extra="allow")

    current_credits: int


class RivyaWebhook(BaseModel):
    """One of the account's webhooks at Rivya, as far as the gateway reads it."""

    model_config = ConfigDict(extra="allow")

    id: str
    url: str


class RivyaWebhookList(BaseModel):
    model_config = ConfigDict(extra="allow")

    data: list[RivyaWebhook]


class RivyaErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    message: str = ""
    requestId: str | None = None


class RivyaErrorEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    error: RivyaErrorBody


def error_envelope(
    code: str, message: str, request_id: str, details: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The error body Rivya (and, by contract, the gateway) answers with."""
    body: dict[str, Any] = {"code": code, "message": message, "requestId": request_id}
    if details:
        body["details"] = details
    return {"error": body}
