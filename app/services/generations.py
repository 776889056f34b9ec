"""What a create asks for, parsed and checked from either surface, with no I/O.

Both ``POST /v1/images`` (flat, snake_case) and the drop-in ``POST /api/v1/generations``
(Rivya's shape) end up as one ``GenerationRequest``: a catalogue model, a prompt and Rivya's
params with defaults applied. Every bad field is reported at once, before anything is reserved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from app.catalog import Catalog, FieldError, ModelSpec, ParamValue
from app.errors import ValidationFailed
from app.services.create_keys import gateway_keys, rivya_keys

# Fields of POST /v1/images that are not model params.
_IMAGE_FIELDS = frozenset({"prompt", "model", "client_request_id", "reference_file_id"})
# Top-level fields of Rivya's create body that the gateway understands.
_RIVYA_FIELDS = frozenset({"model", "prompt", "params", "client_request_id"})


# Fields of a create's body (and of Rivya's ``params``) read at most: the catalogue's models
# take a dozen; a body of thousands is refused before any is looked at.
MAX_FIELDS = 64


@dataclass(frozen=True)
class GenerationRequest:
    model: ModelSpec
    prompt: str | None  # None only for a model whose catalogue entry makes it optional
    params: dict[str, ParamValue]
    client_request_id: str | None
    # References as the caller gave them: (field, file id) and (field, URL); files.resolve
    # turns them into Rivya's media items and the content digests the fingerprint uses.
    reference_file_ids: tuple[tuple[str, str], ...] = ()
    reference_urls: tuple[tuple[str, str], ...] = ()
    references: tuple[dict[str, Any], ...] = ()
    reference_digests: tuple[str, ...] = ()
    model_defaulted: bool = False  # the request named no model: the default was taken
    # A drop-in create keyed by its Idempotency-Key header: its body's client_request_id is
    # then Rivya's trace id, the caller's own, passed on to Rivya as given (or None).
    keyed_by_header: bool = False
    trace_id: str | None = None

    def rivya_body(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.params)
        if self.references:
            params["referenceMediaItems"] = list(self.references)
        body: dict[str, Any] = {"model": self.model.id, "params": params}
        if self.prompt is not None:
            body["prompt"] = self.prompt
        trace = self.trace_id if self.keyed_by_header else self.client_request_id
        if trace is not None:
            body["client_request_id"] = trace
        return body

    def fingerprint(self) -> str:
        """The request, normalised (defaults applied, keys sorted, no idempotency key and no
        trace id: a retry may carry a new one) and hashed: two requests with one fingerprint
        ask for the same thing."""
        body = self.rivya_body()
        body.pop("client_request_id", None)
        # A reference counts by its content, not its upload's URL: the same edit sent again
        # is the same request even if its image was uploaded anew.
        body["params"].pop("referenceMediaItems", None)
        body["references"] = sorted(self.reference_digests)
        # Byte for byte json.dumps(body, sort_keys=True, separators=(",", ":"),
        # ensure_ascii=False) for the catalogue's values (text, integers, booleans), as earlier
        # versions hashed it: claims they made still match (tests/unit/test_generations.py).
        return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def parse_image_create(
    body: object, catalog: Catalog, default_model: str, *, idempotency_key: str | None = None
) -> GenerationRequest:
    """The gateway's own ``POST /v1/images`` body."""
    data = _object(body)
    errors: list[FieldError] = []
    model = _model(data.get("model") or default_model, catalog, "model", errors)
    keys = gateway_keys(data, idempotency_key, errors)
    params = _gateway_params(data, model, catalog, errors)
    file_ids = _reference_file_id(data.get("reference_file_id"), errors)
    if model is None:
        # The model's own checks cannot run; still name a prompt no model would take.
        prompt = data.get("prompt")
        if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
            errors.append(FieldError("prompt", "must be a non-empty string"))
        raise ValidationFailed(details=errors)
    errors += model.validate_prompt(data.get("prompt"))
    normalised, param_errors = model.validate_params(params, field_prefix="")
    errors += [FieldError(_alias(model, e.field), e.message) for e in param_errors]
    if errors:
        raise ValidationFailed(details=errors)
    return GenerationRequest(
        model,
        data.get("prompt"),
        normalised,
        keys.key,
        reference_file_ids=file_ids,
        model_defaulted=not data.get("model"),
    )


def _gateway_params(
    data: Mapping[str, Any], model: ModelSpec | None, catalog: Catalog, errors: list[FieldError]
) -> dict[str, object]:
    """The body's model params under Rivya's names, read from the gateway's flat fields; a
    field that is no param of the model is reported (one of Rivya's names with the gateway's
    for it as a hint)."""
    params: dict[str, object] = {}
    for field, value in data.items():
        if field in _IMAGE_FIELDS:
            continue
        spec = model.param_by_alias(field) if model else None
        if spec is None:
            # With an unknown model, only fields no model knows are reported as unknown.
            if model is not None or not _catalog_has_alias(catalog, field):
                rivya = model.param(field) if model else None
                hint = f": did you mean {rivya.alias!r}?" if rivya else ""
                errors.append(FieldError(field, f"is not a known field{hint}"))
            continue
        if value is None:
            continue  # an explicit null means "use the default"
        converted, message = spec.from_gateway(value)
        if message is not None:
            errors.append(FieldError(field, message))
        else:
            params[spec.name] = converted
    return params


def _reference_file_id(value: object, errors: list[FieldError]) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str) and value:
        return (("reference_file_id", value),)
    errors.append(FieldError("reference_file_id", "must be a file id from POST /v1/files"))
    return ()


def parse_rivya_create(
    body: object, catalog: Catalog, *, idempotency_key: str | None = None
) -> GenerationRequest:
    """Rivya's ``POST /api/v1/generations`` body, as a drop-in client sends it. Its
    ``Idempotency-Key`` header, when sent, alone keys the create, and the body's
    ``client_request_id`` is the caller's trace id (Rivya's meaning of both); without the
    header, ``client_request_id`` is the key, as on the gateway's own surface."""
    data = _object(body)
    errors: list[FieldError] = []
    if "files" in data:
        errors.append(FieldError("files", "is not supported: use params.referenceMediaItems"))
    unknown = sorted(set(data) - _RIVYA_FIELDS - {"files"})
    errors += [FieldError(field, "is not a known field") for field in unknown]
    if "model" not in data:
        errors.append(FieldError("model", "is required"))
        raise ValidationFailed(details=errors)
    model = _model(data["model"], catalog, "model", errors)
    keys = rivya_keys(data, idempotency_key, errors)
    raw_params = data.get("params", {})
    if raw_params is None:
        raw_params = {}
    if not isinstance(raw_params, dict):
        errors.append(FieldError("params", "must be an object"))
        raw_params = {}
    raw_params = _object(raw_params, "params")
    if model is None:
        raise ValidationFailed(details=errors)
    urls = _media_item_urls(raw_params.get("referenceMediaItems"), errors, model.max_references)
    errors += model.validate_prompt(data.get("prompt"))
    normalised, param_errors = model.validate_params(raw_params)
    errors += param_errors
    if errors:
        raise ValidationFailed(details=errors)
    return GenerationRequest(
        model,
        data.get("prompt"),
        normalised,
        keys.key,
        reference_urls=urls,
        keyed_by_header=keys.keyed_by_header,
        trace_id=keys.trace_id,
    )


def _media_item_urls(
    items: object, errors: list[FieldError], most: int
) -> tuple[tuple[str, str], ...]:
    """The URLs of Rivya's ``params.referenceMediaItems``; each must later prove to be one of
    the team's uploads (the rest of an item is rebuilt from that upload's record). More items
    than the model takes are refused here, before any is looked at or looked up."""
    if items is None:
        return ()
    field = "params.referenceMediaItems"
    if not isinstance(items, list):
        errors.append(FieldError(field, "must be a list"))
        return ()
    if len(items) > most:
        errors.append(FieldError(field, f"takes at most {most} item(s); {len(items)} given"))
        return ()
    urls = []
    for index, item in enumerate(items):
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url:
            errors.append(FieldError(f"{field}[{index}].url", "is required"))
        else:
            urls.append((f"{field}[{index}].url", url))
    return tuple(urls)


def _catalog_has_alias(catalog: Catalog, alias: str) -> bool:
    return any(m.param_by_alias(alias) for m in catalog.models)


def _object(body: object, field: str = "body") -> Mapping[str, Any]:
    """A JSON object of at most ``MAX_FIELDS`` fields: every field is looked at (a hint for
    each unknown one), so how many is bounded before any is."""
    if not isinstance(body, dict):
        raise ValidationFailed(details=[FieldError(field, "must be a JSON object")])
    if len(body) > MAX_FIELDS:
        raise ValidationFailed(
            details=[FieldError(field, f"has {len(body)} fields; at most {MAX_FIELDS} are read")]
        )
    return body


def _model(
    value: object, catalog: Catalog, field: str, errors: list[FieldError]
) -> ModelSpec | None:
    if not isinstance(value, str):
        errors.append(FieldError(field, "must be a string"))
        return None
    model = catalog.get(value)
    if model is None or model.api_status != "available":
        errors.append(FieldError(field, f"unknown model {value!r}; see GET /v1/models"))
        return None
    return model


def _alias(model: ModelSpec, rivya_name: str) -> str:
    spec = model.param(rivya_name)
    return spec.alias if spec else rivya_name
