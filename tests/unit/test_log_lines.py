"""A request's log line, written by ``info_fields`` (a cheaper way to make the record), is the
line ``logger.info(message, extra=fields)`` writes, and reaches every handler a record would."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.logging import JsonFormatter, Redactor, info_fields

FIELDS = {
    "request_id": "req_0123456789abcdef01234567",
    "path": "/v1/images?api_key=k3y-value",
    "status": 202,
    "latency_ms": 1.25,
    "team": "alpha",
    "subject": None,
}


def test_the_line_is_logging_s_own(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(Redactor()))
    logger = logging.getLogger("test.log_lines")
    logger.addHandler(handler)
    caplog.set_level(logging.INFO, logger="test.log_lines")
    try:
        logger.info("request", extra=FIELDS)
        info_fields(logger, "request", FIELDS)
    finally:
        logger.removeHandler(handler)
    by_logging, by_fields = (json.loads(line) for line in stream.getvalue().splitlines())
    assert by_fields.pop("ts").endswith("Z")
    assert by_logging.pop("ts").endswith("Z")
    assert by_fields == by_logging
    assert "k3y-value" not in stream.getvalue()
    captured = [r for r in caplog.records if r.name == "test.log_lines"]
    assert [r.levelno for r in captured] == [logging.INFO] * 2
    assert captured[1].request_id == FIELDS["request_id"]  # type: ignore[attr-defined]
    assert captured[1].getMessage() == "request"
    # Its times are logging's: made within a second of each other, on the same scale.
    assert abs(captured[1].created - captured[0].created) < 1
    assert abs(captured[1].relativeCreated - captured[0].relativeCreated) < 1000


def test_nothing_is_made_below_the_logger_s_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="test.log_lines.quiet")
    info_fields(logging.getLogger("test.log_lines.quiet"), "request", FIELDS)
    assert not [r for r in caplog.records if r.name == "test.log_lines.quiet"]
