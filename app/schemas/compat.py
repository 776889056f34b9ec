"""The drop-in ``POST /api/v1/generations`` body, as Rivya takes it: only for the OpenAPI
document (the route itself reads the body as Rivya's JSON and checks it against the catalogue).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RivyaParams(BaseModel):
    """flux-kontext-max's params as Rivya names them (other models: their own, from
    ``GET /api/v1/models``)."""

    model_config = ConfigDict(extra="allow")

    aspectRatio: Literal["21:9", "16:9", "4:3", "1:1", "3:4", "9:16"] | None = None
    outputFormat: Literal["jpeg", "png"] | None = None
    enableTranslation: Literal["true", "false"] | None = None
    promptUpsampling: Literal["true", "false"] | None = None
    safetyTolerance: int | None = Field(default=None, ge=0, le=6)
    watermark: str | None = None
    referenceMediaItems: list[dict[str, Any]] | None = Field(
        default=None,
        description="{url, kind}: url of one of this team's uploads (POST /api/v1/files).",
    )


class RivyaCreate(BaseModel):
    """``POST /api/v1/generations`` as Rivya takes it (the drop-in surface)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        description="A model id, e.g. flux-kontext-max.", examples=["flux-kontext-max"]
    )
    prompt: str | None = Field(
        default=None,
        min_length=1,
        description="Required by flux models; non-empty.",
        examples=["a lighthouse at dusk"],
    )
    params: RivyaParams | None = None
    client_request_id: str | None = Field(
        default=None,
        max_length=128,
        description="Also the gateway's idempotency key (the Idempotency-Key header likewise).",
    )
