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


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its nested models written in place: for a request body
    given to OpenAPI by hand, where "#/$defs/…" would point nowhere."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
