"""The gateway's wire models: what its own API accepts and answers (OpenAPI is built from these).

Rivya-compatible routes answer Rivya's JSON as-is and need none of these.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.domain.teams import (
    ORIGIN_PATTERN,
    TEAM_ID_PATTERN,
    ApiKeyRecord,
    BudgetPeriod,
    Credits,
    Name,
    PerMinute,
    TeamPolicy,
)


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="branch on this: the README lists every code")
    message: str = Field(description="what happened, and what to do")
    requestId: str = Field(description="equals the X-Request-ID response header")
    details: list[ErrorDetail] | None = None
    upstreamRequestId: str | None = None
    client_request_id: str | None = Field(
        default=None,
        description=(
            "On a create whose outcome is unknown (Rivya may have made the task): its handle, "
            "yours or one the gateway assigned. Retry the same request with it to get the task "
            "or its final error, never a second task."
        ),
    )


class ErrorOut(BaseModel):
    error: ErrorBody


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


class FileOut(BaseModel):
    id: str
    kind: str
    mime_type: str
    size_bytes: int
    created_at: str


class TaskResultOut(BaseModel):
    primary_url: str
    urls: list[str]


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
    created_at: str
    updated_at: str
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


class ModelParamOut(BaseModel):
    name: str
    type: str
    default: Any
    options: list[Any] | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""


class ModelOut(BaseModel):
    id: str
    display_name: str
    credits_per_task: int
    billing_type: str
    prompt_required: bool
    max_prompt_length: int | None
    params: list[ModelParamOut]
    files: dict[str, dict[str, Any]]


class ModelList(BaseModel):
    data: list[ModelOut]


class Usage(BaseModel):
    team: str
    budget_period: BudgetPeriod
    period_start: str | None = Field(description="UTC; null for a total budget")
    period_end: str | None = Field(description="UTC, exclusive; null for a total budget")
    budget_credits: int | None
    spent_credits: int
    reserved_credits: int
    remaining_credits: int | None = Field(description="null when the team has no budget")
    rate_limit_per_minute: int
    burst: int
    max_in_flight: int
    in_flight: int


class TokenUsage(BaseModel):
    """``GET /v1/usage`` for a browser token: its own cap and spend, and the team's limits it
    shares (not the team's budget or spend)."""

    team: str
    subject: str
    token_id: str
    expires_at: str
    max_credits: int | None
    spent_credits: int
    reserved_credits: int
    remaining_credits: int | None = Field(description="null when the token has no cap")
    per_subject_rate_limit_per_minute: int | None
    rate_limit_per_minute: int
    max_in_flight: int


class TeamCreate(TeamPolicy):
    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(pattern=TEAM_ID_PATTERN, description="A slug: a-z, 0-9 and '-'.")


class TeamPatch(BaseModel):
    """Every field optional; only the fields sent change (null clears a budget)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # null is meaningful only where the team's own field may be null; elsewhere the schema
    # offers no null (and the patch refuses one).
    name: Name | None = None
    budget_credits: Credits | None = None
    budget_period: BudgetPeriod | SkipJsonSchema[None] = None
    rate_limit_per_minute: PerMinute | SkipJsonSchema[None] = None
    burst: PerMinute | None = None
    max_in_flight: PerMinute | SkipJsonSchema[None] = None
    allowed_models: list[str] | None = None
    cors_origins: list[str] | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra={"items": {"type": "string", "pattern": ORIGIN_PATTERN}}
    )
    per_subject_rate_limit_per_minute: PerMinute | None = None


SUBJECT_PATTERN = r"^[A-Za-z0-9._:@|-]{1,128}$"


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    subject: str = Field(
        pattern=SUBJECT_PATTERN,
        description="The end user the token acts for (your own id for them): 1-128 characters "
        "of A-Z a-z 0-9 . _ : @ | -. Its tasks and files are visible only to it.",
    )
    ttl_seconds: int = Field(default=900, ge=1, le=3600, description="At most an hour.")
    max_credits: int | None = Field(
        default=None, ge=0, description="A credit cap of the token's own (reserved like a budget)."
    )


class TokensRevoked(BaseModel):
    team: str
    subject: str | None = Field(description="null: every browser token of the team")
    revoked_before: str = Field(description="Tokens issued before this moment no longer work.")


class TokenOut(BaseModel):
    token: str = Field(description="Give it to the browser: Authorization: Bearer <token>.")
    token_id: str
    subject: str
    expires_at: str
    max_credits: int | None


class TokenRevoke(BaseModel):
    """One user's tokens, or (``all``, explicitly) every token of the team."""

    model_config = ConfigDict(extra="forbid", strict=True)

    subject: str | None = Field(default=None, pattern=SUBJECT_PATTERN)
    all: bool = Field(default=False, description="true: every browser token of the team.")

    @model_validator(mode="after")
    def _one_of(self) -> TokenRevoke:
        if (self.subject is None) == (not self.all):
            raise ValueError("give a subject, or all: true (not both)")
        return self


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)


class KeyOut(BaseModel):
    key_id: str
    team: str
    name: str | None
    created_at: str
    revoked_at: str | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyOut:
        return cls.model_validate(record.model_dump(exclude={"secret_hash"}))


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash.")


class Readiness(BaseModel):
    """``GET /readyz``, the same body whether it answers 200 or 503."""

    status: Literal["ready", "unavailable", "draining"]
    checks: dict[str, str] = Field(
        description="redis (ok, unreachable) decides; redis_data, redis_persistence and "
        "rivya_circuit are reported, not judged."
    )
