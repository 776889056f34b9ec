"""The model catalogue: Rivya models as data (``models.yaml``), and param validation.

The gateway validates requests against it before anything is reserved or sent, and the
simulator validates against the very same entries, so adding a Rivya model is a data change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_CATALOG_PATH = Path(__file__).with_name("models.yaml")

ParamType = Literal["select", "number", "text"]
ParamValue = str | int | float


@dataclass(frozen=True)
class FieldError:
    """One bad field of a request: what the contract's ``details`` list carries."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class ParamSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    alias: str
    type: ParamType
    default: ParamValue | None = None
    options: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False
    as_boolean: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.type == "select" and not self.options:
            raise ValueError(f"select param {self.name} needs options")
        if self.as_boolean and set(self.options) != {"true", "false"}:
            raise ValueError(f"as_boolean param {self.name} needs options true/false")
        return self

    def check(self, value: object) -> tuple[ParamValue | None, str | None]:
        """Validate one Rivya-shaped value: (normalised value, None) or (None, message)."""
        if self.type == "select":
            if not isinstance(value, str) or value not in self.options:
                return None, f"must be one of {', '.join(repr(o) for o in self.options)}"
            return value, None
        if self.type == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None, "must be a number"
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an integer too large for a float
                finite = False
            if not finite:
                return None, "must be a finite number"
            if self.integer:
                if value != int(value):
                    return None, "must be a whole number"
                value = int(value)
            if self.minimum is not None and value < self.minimum:
                return None, f"must be at least {_num(self.minimum)}"
            if self.maximum is not None and value > self.maximum:
                return None, f"must be at most {_num(self.maximum)}"
            return value, None
        if not isinstance(value, str):
            return None, "must be a string"
        return value, None

    def from_gateway(self, value: object) -> tuple[object, str | None]:
        """Map a gateway-surface value to Rivya's form: booleans become "true"/"false"."""
        if not self.as_boolean:
            return value, None
        if not isinstance(value, bool):
            return None, "must be a boolean"
        return ("true" if value else "false"), None


class FileRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_files: int = Field(ge=0)
    max_bytes: int = Field(gt=0)
    mime_types: tuple[str, ...]


class ModelSpec(BaseModel):
    """One Rivya model: what it costs, which params it takes, which files it accepts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    display_name: str
    category: str
    runtime: str = "async_task"
    base_credits: int = Field(ge=0)
    billing_type: Literal["FIXED", "METERED"]
    supported_modes: tuple[str, ...] = ()
    max_prompt_length: int | None = None
    api_status: Literal["available", "coming_soon", "studio_only"] = "available"
    requires_files_api: bool = False
    prompt_required: bool = True
    params: tuple[ParamSpec, ...] = ()
    file_kinds: dict[str, FileRule] = Field(default_factory=dict)

    def param(self, name: str) -> ParamSpec | None:
        return self.params_by_name.get(name)

    @property
    def max_references(self) -> int:
        """How many reference files a create may name, of every kind together."""
        return sum(rule.max_files for rule in self.file_kinds.values())

    def param_by_alias(self, alias: str) -> ParamSpec | None:
        return self.params_by_alias.get(alias)

    # Every create looks its fields up here: maps, made once (the spec is frozen).
    @cached_property
    def params_by_name(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in self.params}

    @cached_property
    def params_by_alias(self) -> dict[str, ParamSpec]:
        return {p.alias: p for p in self.params}

    def defaults(self) -> dict[str, ParamValue]:
        return {p.name: p.default for p in self.params if p.default is not None}

    def rivya_entry(self) -> dict[str, Any]:
        """The model as Rivya's ``GET /api/v1/models`` lists it."""
        return {
            "id": self.id,
            "object": "model",
            "display_name": self.display_name,
            "category": self.category,
            "runtime": self.runtime,
            "base_credits": self.base_credits,
            "billing_type": self.billing_type,
            "supported_modes": list(self.supported_modes),
            "max_prompt_length": self.max_prompt_length,
            "params": [_rivya_param(p) for p in self.params],
            "api_status": self.api_status,
            "requires_files_api": self.requires_files_api,
            "file_kinds": list(self.file_kinds),
            "file_rules": {k: r.model_dump(mode="json") for k, r in self.file_kinds.items()},
        }

    def validate_prompt(self, prompt: object, *, field: str = "prompt") -> list[FieldError]:
        if prompt is None:
            return [FieldError(field, "is required")] if self.prompt_required else []
        if not isinstance(prompt, str):
            return [FieldError(field, "must be a string")]
        if self.prompt_required and not prompt.strip():
            return [FieldError(field, "must not be empty")]
        if self.max_prompt_length is not None and len(prompt) > self.max_prompt_length:
            return [FieldError(field, f"must be at most {self.max_prompt_length} characters")]
        return []

    def validate_params(
        self, params: Mapping[str, object], *, field_prefix: str = "params."
    ) -> tuple[dict[str, ParamValue], list[FieldError]]:
        """Check Rivya-named params; return them with defaults applied, or the errors."""
        normalised: dict[str, ParamValue] = dict(self.defaults())
        errors: list[FieldError] = []
        for name, value in params.items():
            if name == "referenceMediaItems":
                continue  # file references are checked by the files rules, not here
            spec = self.param(name)
            if spec is None:
                # The gateway's own spelling, sent to the Rivya-shaped surface: say which.
                ours = self.param_by_alias(name)
                hint = f": did you mean {ours.name!r}?" if ours else ""
                errors.append(
                    FieldError(
                        f"{field_prefix}{name}", f"is not a parameter of model {self.id}{hint}"
                    )
                )
                continue
            checked, message = spec.check(value)
            if message is not None or checked is None:
                errors.append(FieldError(f"{field_prefix}{name}", message or "is invalid"))
            else:
                normalised[name] = checked
        return normalised, errors


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _rivya_param(spec: ParamSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": spec.name, "type": spec.type, "default": spec.default}
    if spec.options:
        entry["options"] = list(spec.options)
    if spec.minimum is not None:
        entry["min"] = spec.minimum
    if spec.maximum is not None:
        entry["max"] = spec.maximum
    if spec.description:
        entry["description"] = spec.description
    return entry


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    default_model: str
    models: tuple[ModelSpec, ...]

    @model_validator(mode="after")
    def _default_exists(self) -> Catalog:
        ids = [m.id for m in self.models]
        if len(ids) != len(set(ids)):
            raise ValueError("model ids must be unique")
        if self.default_model not in ids:
            raise ValueError(f"default_model {self.default_model!r} is not in the catalogue")
        return self

    def get(self, model_id: str) -> ModelSpec | None:
        return self.models_by_id.get(model_id)

    @cached_property
    def models_by_id(self) -> dict[str, ModelSpec]:
        return {m.id: m for m in self.models}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)


def load_catalog(path: Path | str | None = None) -> Catalog:
    """Read a catalogue file; the packaged one when no path is given."""
    if path is None:
        return default_catalog()
    return _parse(Path(path))


@cache
def default_catalog() -> Catalog:
    return _parse(DEFAULT_CATALOG_PATH)


def _parse(path: Path) -> Catalog:
    with path.open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return Catalog.model_validate(raw)
