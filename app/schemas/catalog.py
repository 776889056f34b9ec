"""``GET /v1/models``: the catalogue's models, their credits, params and file rules."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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
