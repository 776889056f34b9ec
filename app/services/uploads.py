"""Checking an uploaded file before anything else happens: its size and its real type.

No I/O: the bytes are already read, under a hard cap enforced while they streamed in. These are
the cheap checks, run first; an image is then checked in a worker process
(``services/image_checks.py``). The rules (per kind: largest size, accepted types) come from the
model catalogue, so video and audio models are a data change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from app.catalog import Catalog, FieldError, FileRule, ModelSpec
from app.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from app.media import sniff


def file_rule(catalog: Catalog, kind: str, model: ModelSpec | None = None) -> FileRule:
    """The model's rule for the kind; without a model, the most generous rule any model of the
    catalogue has for it. A kind no model accepts is refused."""
    rules = [model.file_kinds[kind]] if model and kind in model.file_kinds else []
    if model is None:
        rules = [m.file_kinds[kind] for m in catalog.models if kind in m.file_kinds]
    if not rules:
        raise UnsupportedMediaType(
            f"No {'model ' + repr(model.id) if model else 'model'} accepts {kind!r} files."
        )
    return max(rules, key=lambda r: r.max_bytes)


def largest_upload(catalog: Catalog) -> int:
    """The largest file any model accepts: the cap on an upload's body."""
    return max(
        (rule.max_bytes for m in catalog.models for rule in m.file_kinds.values()), default=0
    )


@dataclass(frozen=True)
class Prechecked:
    """What the bytes are, judged without decoding a pixel: size, real type, digest."""

    kind: str
    mime_type: str
    size_bytes: int
    name: str
    sha256: str


def precheck(data: bytes, *, name: str, kind: str, rule: FileRule) -> Prechecked:
    """Size and real type: cheap, so first; the digest lets identical content skip decoding."""
    if len(data) > rule.max_bytes:
        raise PayloadTooLarge(
            f"The file is {len(data)} bytes; a {kind} may be at most {rule.max_bytes} bytes "
            f"({rule.max_bytes / 1_048_576:g} MiB)."
        )
    if not data:
        raise ValidationFailed(details=[FieldError("file", "is empty")])
    mime = sniff(data, kind)
    if mime is None or mime not in rule.mime_types:
        accepted = ", ".join(rule.mime_types)
        found = f"{mime} is not" if mime else "the file's content is not"
        raise UnsupportedMediaType(f"{found} an accepted {kind} type ({accepted}).")
    return Prechecked(
        kind, mime, len(data), _safe_name(name, mime), hashlib.sha256(data).hexdigest()
    )


def _safe_name(name: str, mime: str) -> str:
    """A display name with no path and no control characters (it is sent on to Rivya)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:120].strip()
    return cleaned or "upload." + mime.rsplit("/", 1)[-1]
