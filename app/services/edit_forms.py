"""Image edits' forms: ``POST /v1/images/edits`` is multipart, and its fields are read here as
the JSON body of ``POST /v1/images``. That body then takes the one path every create takes
(``generations.parse_image_create``), so an edit is checked as any create is.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.catalog import Catalog, FieldError
from app.errors import ValidationFailed

# A plain decimal number as a form field may carry it: no signs, spaces, underscores or
# non-ASCII digits, which Python's int() and float() would otherwise accept.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def edit_form_body(
    fields: Mapping[str, str], catalog: Catalog, default_model: str
) -> dict[str, Any]:
    """The form fields of ``POST /v1/images/edits`` as the JSON body of ``POST /v1/images``:
    form values are strings, so booleans and numbers are read by the catalogue's param types."""
    model = catalog.get(fields.get("model") or default_model)
    body: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name, text in fields.items():
        if name == "model" and not text:
            continue  # an empty field means "the default", as a null does in JSON
        spec = model.param_by_alias(name) if model else None
        if spec is None or (spec.type != "number" and not spec.as_boolean):
            body[name] = text  # strings stay strings: selects, text, prompt, model, keys
        elif spec.as_boolean:
            if text.lower() not in ("true", "false"):
                errors.append(FieldError(name, "must be true or false"))
            body[name] = text.lower() == "true"
        elif _NUMBER.fullmatch(text):
            number = float(text)
            body[name] = int(number) if spec.integer and number.is_integer() else number
        else:
            errors.append(FieldError(name, "must be a number"))
    if errors:
        raise ValidationFailed(details=errors)
    return body
