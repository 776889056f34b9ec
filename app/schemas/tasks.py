"""``/v1/images``: the create the gateway's own API takes, and a task as it answers it, alone or
in a page.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.clock import Timestamp
from app.domain.results import Custody


class ImageCreate(BaseModel):
    """``POST /v1/images`` as documented for flux models; the live check is the catalogue's."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, description="Non-empty; the model's prompt limit applies.")
    model: str | None = Field(default=None, description="Default: flux-kontext-max.")
    aspect_ratio: Literal["21:9", "16:9", "4:3", "1:1", "3:4", "9:16"] | None = None
    output_format: Literal["jpeg", "png"] | None = None
    translate_prompt: bool | None = Field(default=None, description="Rivya's enableTranslation.")
    upsample_prompt: bool | None = Field(default=None, description="Rivya's promptUpsampling.")
    safety_tolerance: int | None = Field(default=None, ge=0, le=6)
    watermark: str | None = None
    reference_file_id: str | None = None
    client_request_id: str | None = Field(
        default=None,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="Idempotency key (same as the Idempotency-Key header).",
    )


class TaskResultOut(BaseModel):
    primary_url: str = Field(
        description="A link to the result's copy, served by the gateway: signed, valid "
        "RESULT_LINK_SECONDS from this answer (a browser's <img> loads it with no header); "
        "read the task again for fresh links"
    )
    urls: list[str]
    custody: Custody = Field(
        default=Custody.COPYING,
        description="copying: the gateway is copying the files (the links stream Rivya's "
        "meanwhile); kept: every file is in the org's store; failed: a copy was not possible "
        "(the links serve Rivya's files while Rivya keeps them)",
    )


class TaskErrorOut(BaseModel):
    code: str
    message: str


class TaskOut(BaseModel):
    id: str
    status: Literal["queued", "processing", "succeeded", "failed"]
    model: str
    client_request_id: str | None
    reserved_credits: int
    final_credits: int
    created_at: Timestamp
    updated_at: Timestamp
    result: TaskResultOut | None
    error: TaskErrorOut | None


class TaskList(BaseModel):
    """``GET /v1/images``: a page of the team's tasks, newest first."""

    object: Literal["list"] = "list"
    data: list[TaskOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` (with the same filters) for the next page; null when "
        "none are left. A page may hold fewer than `limit` tasks and still have one."
    )
