"""Structured JSON logs, one object a line, with secrets redacted from everything written.

Redaction happens in the formatter, so messages, extra fields and exception traces all pass
through it: the configured secrets verbatim, plus anything shaped like a bearer credential.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

import orjson

REDACTED = "[REDACTED]"

# One pass over each value: every credential shape, as alternatives of one pattern. A match of
# the first or the last keeps its prefix ("Bearer ", "token=") and loses the credential.
_CREDENTIALS = re.compile(
    "|".join(
        [
            r"(?P<scheme>(?i:bearer|basic)\s+)[^\s\"',;\\]+",  # Authorization values
            r"rvya_sk_[A-Za-z0-9_\-]+",  # Rivya org keys
            r"rgw_[0-9a-f]+_[A-Za-z0-9_\-]+",  # gateway team keys
            r"whsec_[A-Za-z0-9_\-]+",  # webhook signing secrets
            r"eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*",  # JWTs (browser tokens)
            # Credentials put in a URL's query or a form: key=…, token=…, secret=…, signature=…
            r"(?P<name>\b(?i:api[_-]?key|access[_-]?token|token|secret|password|signature)=)"
            r"[^&\s\"',;]+",
        ]
    )
)


def _redacted(match: re.Match[str]) -> str:
    return (match.group("scheme") or match.group("name") or "") + REDACTED


def _may_hold_a_credential(text: str) -> bool:
    """False only for text no alternative of ``_CREDENTIALS`` can match: each needs one of these
    substrings. A few substring tests cost a tenth of one pass of the pattern, and most values
    (ids, routes, statuses) hold none of them."""
    if "=" in text or ("_" in text and ("rvya_sk_" in text or "rgw_" in text or "whsec_" in text)):
        return True
    if "eyJ" in text:
        return True
    lowered = text.lower()
    return "bearer" in lowered or "basic" in lowered


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
        if not _may_hold_a_credential(text):
            return text
        return _CREDENTIALS.sub(_redacted, text)

    def has_nothing_to_redact(self, texts: list[str]) -> bool:
        """True only if no text holds a secret or could hold a credential: one look at them
        all together (a request's log line has a dozen short values), so that most lines need
        no look at each value. Joined, they can seem to hold one when none does, never the
        other way round."""
        joined = "\x00".join(texts)
        return not _may_hold_a_credential(joined) and not any(
            secret in joined for secret in self._secrets
        )


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor
        self._second = (-1, "")  # the last second formatted: lines in one second share it

    def _timestamp(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second[0]:
            self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return f"{self._second[1]}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = record.__dict__.get(_FIELDS)
        if fields is not None:  # made by info_fields: its fields are known, not looked for
            entry.update(fields)
        else:
            for key, value in vars(record).items():
                if key not in _RECORD_ATTRS and not key.startswith("_"):
                    entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        # Redact each value before encoding, so escaping can neither hide a secret from the
        # patterns nor let a pattern eat into the JSON syntax.
        line = orjson.dumps(self._scrub_fields(entry), option=orjson.OPT_NON_STR_KEYS).decode()
        # JSON may carry these raw, but tools that split on Unicode line breaks (Python's
        # splitlines, some log shippers) would see a caller's path as two lines: escaped.
        # (Looked for first: translating costs a lookup per character, and they are rare.)
        if "\x85" in line or "\u2028" in line or "\u2029" in line:
            return line.translate(_LINE_BREAKS)
        return line

    def _scrub_fields(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``_scrub`` of a record's fields, made cheap for the common line (every request's
        passes through here): text, numbers and nothing else, none of it to redact."""
        plain = True
        texts: list[str] = []
        for value in entry.values():
            kind = type(value)
            if kind is str:
                texts.append(value)
            elif kind is int:
                plain = plain and -(2**63) <= value < 2**64  # what orjson can write
            elif not (value is None or kind is float or kind is bool):
                plain = False
        if plain and self._redact.has_nothing_to_redact(texts):
            return entry
        return {key: self._scrub(value) for key, value in entry.items()}

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, dict):
            return {key: self._scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self._scrub(item) for item in value]
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int) and -(2**63) <= value < 2**64:  # what orjson can write
            return value
        return self._redact(str(value))


# The line breaks orjson leaves raw (it escapes those below U+0020), as JSON escapes.
_LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"}


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send every log record (ours, uvicorn's, httpx's) through one redacting JSON handler."""
    # What no line reports need not be gathered for every record (the logging HOWTO's
    # "Optimization"): the caller's source line, thread, process and task names.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
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


# Where a record made by ``info_fields`` keeps its fields as given (a private attribute: no
# line shows it).
_FIELDS = "_gateway_fields"

# Every attribute a record of ``info_fields`` shares, made once (its times are its own), and
# when logging started, as every record's relativeCreated counts from it (read off a record:
# logging keeps it in seconds or nanoseconds, by Python version).
_TEMPLATE = logging.LogRecord("", logging.INFO, "", 0, "", None, None)
_INFO_RECORD = {
    key: value
    for key, value in vars(_TEMPLATE).items()
    if key not in ("name", "msg", "created", "msecs", "relativeCreated")
}
_LOGGING_STARTED = _TEMPLATE.created - _TEMPLATE.relativeCreated / 1000


def info_fields(logger: logging.Logger, message: str, fields: dict[str, Any]) -> None:
    """``logger.info(message, extra=fields)``: the same record to the same handlers, for a
    quarter less (17 → 13 µs a line, bench/README.md). Every request writes one, and
    ``makeRecord`` works out, each time, what no line of the gateway reports (its source
    file, thread and process: here those of the import)."""
    if not logger.isEnabledFor(logging.INFO):
        return
    record = logging.LogRecord.__new__(logging.LogRecord)
    attributes = record.__dict__
    attributes.update(_INFO_RECORD)
    now = time.time()
    attributes["created"] = now
    attributes["msecs"] = int((now - int(now)) * 1000) + 0.0  # as LogRecord works it out
    attributes["relativeCreated"] = (now - _LOGGING_STARTED) * 1000
    attributes["name"], attributes["msg"] = logger.name, message
    attributes.update(fields)
    attributes[_FIELDS] = fields  # the formatter's way to them, without a look at every attribute
    logger.handle(record)
