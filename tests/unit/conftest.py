"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def no_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow is never asked to open the file: it is refused from the container walk alone, whose
    work is bounded by its limits, not by what the file declares."""

    def opened(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file reached Pillow")

    monkeypatch.setattr("app.services.image_check.Image.open", opened)
