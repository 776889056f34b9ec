"""The catalogue is data: both flux models, every param of rivya-api.md, and its validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.catalog import default_catalog, load_catalog


def test_both_flux_models_with_their_prices_and_params() -> None:
    catalog = default_catalog()
    assert catalog.default_model == "flux-kontext-max"
    maximum, pro = catalog.get("flux-kontext-max"), catalog.get("flux-kontext-pro")
    assert maximum is not None
    assert pro is not None
    assert (maximum.base_credits, pro.base_credits) == (8, 4)
    assert maximum.billing_type == "FIXED"
    assert maximum.defaults() == {
        "aspectRatio": "16:9",
        "outputFormat": "jpeg",
        "enableTranslation": "true",
        "promptUpsampling": "false",
        "safetyTolerance": 2,
    }
    aspect = maximum.param("aspectRatio")
    assert aspect is not None
    assert aspect.options == ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
    assert maximum.param("watermark") is not None
    image = maximum.file_kinds["image"]
    assert (image.max_files, image.max_bytes) == (1, 10 * 1024 * 1024)
    assert set(image.mime_types) == {"image/jpeg", "image/png", "image/webp"}
    assert maximum.max_prompt_length is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"aspectRatio": "2:1"}, "must be one of"),
        ({"enableTranslation": True}, "must be one of"),  # selects are strings, even "true"
        ({"safetyTolerance": 6.5}, "whole number"),
        ({"safetyTolerance": -1}, "at least 0"),
        ({"safetyTolerance": True}, "must be a number"),
        ({"safetyTolerance": float("nan")}, "finite"),
        ({"watermark": 5}, "must be a string"),
        ({"seed": 1}, "is not a parameter"),
    ],
)
def test_param_validation_messages(params: dict[str, object], message: str) -> None:
    model = default_catalog().get("flux-kontext-max")
    assert model is not None
    _, errors = model.validate_params(params)
    assert len(errors) == 1
    assert message in errors[0].message


def test_valid_params_are_normalised_with_defaults() -> None:
    model = default_catalog().get("flux-kontext-pro")
    assert model is not None
    params, errors = model.validate_params({"safetyTolerance": 5.0, "watermark": "ACME"})
    assert errors == []
    assert params["safetyTolerance"] == 5
    assert isinstance(params["safetyTolerance"], int)
    assert params["watermark"] == "ACME"
    assert params["aspectRatio"] == "16:9"


def test_a_new_model_is_a_data_change(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "default_model: sketch\n"
        "models:\n"
        "  - id: sketch\n    display_name: Sketch\n    category: image\n    base_credits: 1\n"
        "    billing_type: FIXED\n    params:\n"
        "      - {name: lineWeight, alias: line_weight, type: number, default: 1, minimum: 1,"
        " maximum: 3, integer: true}\n"
    )
    catalog = load_catalog(path)
    sketch = catalog.get("sketch")
    assert sketch is not None
    assert sketch.param_by_alias("line_weight") is not None
    assert sketch.rivya_entry()["params"][0]["max"] == 3


def test_a_broken_catalogue_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("default_model: missing\nmodels: []\n")
    with pytest.raises(ValidationError, match="default_model"):
        load_catalog(path)
