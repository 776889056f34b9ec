"""Structured JSON logs, one object a line, with secrets redacted from everything written.

Redaction happens in the formatter, so messages, extra fields and exception traces all pass
through it: the configured secrets verbatim, plus anything shaped like a bearer credential.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"

_PATTERNS = [
    re.compile(r"(?i)((?:bearer|basic)\s+)[^\s\"',;\\]+"),  # Authorization values
    re.compile(r"rvya_sk_[A-Za-z0-9_\-]+"),  # Rivya org keys
    re.compile(r"rgw_[0-9a-f]+_[A-Za-z0-9_\-]+"),  # gateway team keys
    re.compile(r"whsec_[A-Za-z0-9_\-]+"),  # webhook signing secrets
    re.compile(r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"),  # JWTs (browser tokens)
    # Credentials put in a URL's query or a form: key=…, token=…, secret=…, signature=…
    re.compile(
        r"(?i)\b((?:api[_-]?key|access[_-]?token|token|secret|password|signature)=)[^&\s\"',;]+"
    ),
]

# Attributes every LogRecord has; anything else given through ``extra=`` is a field.
# The record's own attributes, and uvicorn's ANSI-coloured copy of its message: not fields.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
        return text


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Redact each value before encoding, so escaping can neither hide a secret from the
        # patterns nor let a pattern eat into the JSON syntax.
        return json.dumps(self._scrub(entry), default=str, ensure_ascii=False)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {key: self._scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(item) for item in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self._redact(str(value))


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send every log record (ours, uvicorn's, httpx's) through one redacting JSON handler."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(Redactor(secrets)))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own access log would duplicate ours and is not structured.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # httpx logs every request URL at INFO; ours says the same with more context.
    logging.getLogger("httpx").setLevel(logging.WARNING)
