"""Validation of ``POST /api/v1/generations`` bodies against the model catalogue.

Every problem found is reported at once (Rivya's ``details`` list), not just the first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from app.catalog import Catalog, FieldError, ModelSpec
from app.simulator.uploads import FILE_KINDS, MAX_CLIENT_REQUEST_ID

REFERENCE_FIELD = "params.referenceMediaItems"


@dataclass(frozen=True)
class GenerationRequest:
    """A body that passed validation: params carry defaults and the reference items."""

    model: ModelSpec
    prompt: str
    params: dict[str, Any]
    client_request_id: str | None


def validate_generation(
    body: object, catalog: Catalog
) -> tuple[GenerationRequest | None, list[FieldError]]:
    if not isinstance(body, dict):
        return None, [FieldError("body", "must be a JSON object")]
    errors: list[FieldError] = []
    model = _model(body.get("model"), catalog, errors)
    if "files" in body:
        errors.append(
            FieldError("files", "is not accepted; put reference media in " + REFERENCE_FIELD)
        )
    client_request_id = body.get("client_request_id")
    if client_request_id is not None and not isinstance(client_request_id, str):
        errors.append(FieldError("client_request_id", "must be a string"))
    elif client_request_id is not None and len(client_request_id) > MAX_CLIENT_REQUEST_ID:
        errors.append(
            FieldError("client_request_id", f"must be at most {MAX_CLIENT_REQUEST_ID} characters")
        )
    raw_params = body.get("params")
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, dict):
        errors.append(FieldError("params", "must be an object"))
        raw_params = {}
    if model is None:
        return None, errors  # prompt and params mean nothing without a model

    prompt = body.get("prompt")
    errors.extend(model.validate_prompt(prompt))
    params: dict[str, Any] = {}
    normalised, param_errors = model.validate_params(raw_params)
    params.update(normalised)
    errors.extend(param_errors)
    if "referenceMediaItems" in raw_params:
        items = raw_params["referenceMediaItems"]
        errors.extend(_reference_errors(items, model))
        params["referenceMediaItems"] = items
    if errors:
        return None, errors
    request = GenerationRequest(
        model=model,
        prompt=prompt if isinstance(prompt, str) else "",
        params=params,
        client_request_id=client_request_id if isinstance(client_request_id, str) else None,
    )
    return request, []


def _model(value: object, catalog: Catalog, errors: list[FieldError]) -> ModelSpec | None:
    if value is None:
        errors.append(FieldError("model", "is required"))
        return None
    if not isinstance(value, str):
        errors.append(FieldError("model", "must be a string"))
        return None
    model = catalog.get(value)
    if model is None:
        errors.append(FieldError("model", f"is not a known model: {value!r}"))
        return None
    if model.api_status != "available":
        errors.append(
            FieldError("model", f"{value} is not available via the API ({model.api_status})")
        )
        return None
    return model


def _reference_errors(items: object, model: ModelSpec) -> list[FieldError]:
    if not isinstance(items, list):
        return [FieldError(REFERENCE_FIELD, "must be a list")]
    errors: list[FieldError] = []
    counts: Counter[str] = Counter()
    for index, item in enumerate(items):
        where = f"{REFERENCE_FIELD}[{index}]"
        if not isinstance(item, dict):
            errors.append(FieldError(where, "must be an object with url and kind"))
            continue
        url = item.get("url")
        if not isinstance(url, str) or not url:
            errors.append(FieldError(f"{where}.url", "must be a non-empty string"))
        kind = item.get("kind")
        if kind not in FILE_KINDS:
            errors.append(FieldError(f"{where}.kind", f"must be one of {', '.join(FILE_KINDS)}"))
            continue
        assert isinstance(kind, str)
        if kind not in model.file_kinds:
            errors.append(FieldError(f"{where}.kind", f"{model.id} does not take {kind} files"))
            continue
        counts[kind] += 1
    for kind, count in counts.items():
        limit = model.file_kinds[kind].max_files
        if count > limit:
            errors.append(
                FieldError(REFERENCE_FIELD, f"at most {limit} {kind} reference(s); got {count}")
            )
    return errors
