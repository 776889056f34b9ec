"""Uploaded files: the per-kind rules (Rivya's defaults or a model's), checks, and records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.catalog import Catalog, FieldError, FileRule, ModelSpec
from app.clock import iso_timestamp
from app.media import sniff

FILE_KINDS = ("image", "video", "audio")
MAX_CLIENT_REQUEST_ID = 128
_MB = 1024 * 1024

# Rivya's documented defaults when no model is named: image and audio 10 MB, video 50 MB.
DEFAULT_RULES: dict[str, FileRule] = {
    "image": FileRule(
        max_files=1, max_bytes=10 * _MB, mime_types=("image/jpeg", "image/png", "image/webp")
    ),
    "audio": FileRule(
        max_files=1,
        max_bytes=10 * _MB,
        mime_types=(
            "audio/mpeg",
            "audio/wav",
            "audio/mp4",
            "audio/ogg",
            "audio/flac",
            "audio/webm",
        ),
    ),
    "video": FileRule(
        max_files=1, max_bytes=50 * _MB, mime_types=("video/mp4", "video/quicktime", "video/webm")
    ),
}


@dataclass
class SimFile:
    id: str
    kind: str
    mime_type: str
    name: str
    created_at: float
    base_url: str
    data: bytes = field(repr=False)
    duration_token: str | None = None
    model_id: str | None = None
    client_request_id: str | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}/files/{self.id}/content"

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "file_id": self.id,  # Rivya's chat surface calls it file_id; both are sent
            "object": "file",
            "kind": self.kind,
            "mime_type": self.mime_type,
            "size_bytes": len(self.data),
            "name": self.name,
            "url": self.url,
            "created_at": iso_timestamp(self.created_at),
        }
        if self.duration_token is not None:
            body["durationToken"] = self.duration_token
        return body


@dataclass(frozen=True)
class UploadTarget:
    """What the form fields of an upload asked for, once they passed the checks."""

    kind: str
    rule: FileRule
    model: ModelSpec | None
    client_request_id: str | None


def check_fields(
    fields: Mapping[str, str], catalog: Catalog, *, has_file: bool
) -> tuple[UploadTarget | None, list[FieldError]]:
    """Check the non-file form fields (all problems at once) and pick the rule that applies."""
    errors: list[FieldError] = []
    if not has_file:
        errors.append(FieldError("file", "is required (a multipart file part)"))
    kind = fields.get("kind")
    if kind is None:
        errors.append(FieldError("kind", "is required"))
    elif kind not in FILE_KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(FILE_KINDS)}"))
        kind = None
    model_id = fields.get("model") or None
    model = catalog.get(model_id) if model_id else None
    if model_id and model is None:
        errors.append(FieldError("model", f"is not a known model: {model_id!r}"))
    client_request_id = fields.get("client_request_id")
    if client_request_id is not None and len(client_request_id) > MAX_CLIENT_REQUEST_ID:
        errors.append(
            FieldError("client_request_id", f"must be at most {MAX_CLIENT_REQUEST_ID} characters")
        )
    rule = rule_for(kind, model) if kind is not None else None
    if kind is not None and rule is None and model is not None:
        errors.append(FieldError("kind", f"{model.id} does not take {kind} files"))
    if errors or kind is None or rule is None:
        return None, errors
    return UploadTarget(kind, rule, model, client_request_id), []


def rule_for(kind: str, model: ModelSpec | None) -> FileRule | None:
    """The rule an upload of ``kind`` must meet; None when the model takes no such files."""
    if model is None:
        return DEFAULT_RULES.get(kind)
    return model.file_kinds.get(kind)


def check_content(data: bytes, kind: str, rule: FileRule) -> tuple[str | None, list[FieldError]]:
    """The file's real MIME type, or why it is refused."""
    if not data:
        return None, [FieldError("file", "must not be empty")]
    if len(data) > rule.max_bytes:
        limit = f"{rule.max_bytes} bytes ({rule.max_bytes / _MB:g} MB)"
        return None, [FieldError("file", f"is {len(data)} bytes; at most {limit} allowed")]
    mime = sniff(data, kind)
    accepted = ", ".join(rule.mime_types)
    if mime is None:
        return None, [FieldError("file", f"is not a recognised {kind} file (accepted: {accepted})")]
    if mime not in rule.mime_types:
        return None, [
            FieldError("file", f"is {mime}, which is not accepted (accepted: {accepted})")
        ]
    return mime, []
