"""Checking an uploaded file before anything else happens: size, real type, decodability.

No I/O: the bytes are already read, under a hard cap enforced while they streamed in. Decoding
is CPU work: callers run ``check_file`` off the event loop (``asyncio.to_thread``). The
rules (per kind: largest size, accepted types) come from the model catalogue, so video and
audio models are a data change.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from app.catalog import Catalog, FieldError, FileRule, ModelSpec
from app.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from app.media import sniff

# Sane image dimensions: Rivya's models work at a few megapixels; anything far beyond is a
# mistake or a decompression bomb. Checked from the header, before any pixel is decoded.
MAX_SIDE = 10_000
MAX_PIXELS = 25_000_000
# A progressive JPEG decodes once per scan; a few are normal, thousands are a CPU bomb.
MAX_JPEG_SCANS = 64
# The Pillow decoder each accepted type may use, and no other (no PCD, TGA, ... behind a JPEG
# signature).
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class CheckedFile:
    kind: str
    mime_type: str
    size_bytes: int
    name: str
    sha256: str
    width: int | None = None
    height: int | None = None


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


def check_file(data: bytes, *, name: str, kind: str, rule: FileRule) -> CheckedFile:
    if len(data) > rule.max_bytes:
        raise PayloadTooLarge(f"The file is {len(data)} bytes; at most {rule.max_bytes} allowed.")
    if not data:
        raise ValidationFailed(details=[FieldError("file", "is empty")])
    mime = sniff(data, kind)
    if mime is None or mime not in rule.mime_types:
        accepted = ", ".join(rule.mime_types)
        found = f"{mime} is" if mime else "the file's content is not"
        raise UnsupportedMediaType(f"{found} not an accepted {kind} type ({accepted}).")
    width = height = None
    if kind == "image":
        width, height = _image_size(data, mime)
    return CheckedFile(
        kind=kind,
        mime_type=mime,
        size_bytes=len(data),
        name=_safe_name(name, mime),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
    )


def _image_size(data: bytes, mime: str) -> tuple[int, int]:
    """Decode the whole image with the decoder of its sniffed type (a truncated file fails
    here), after checking from its header that decoding it is cheap enough."""
    fmt = PILLOW_FORMATS.get(mime)
    if fmt is None:
        raise UnsupportedMediaType(f"{mime} images cannot be checked.")
    if fmt == "JPEG" and data.count(b"\xff\xda") > MAX_JPEG_SCANS:
        # Inside a JPEG's coded data 0xFF is always stuffed (FF 00): FF DA is a scan marker.
        raise _bad(f"has more than {MAX_JPEG_SCANS} JPEG scans")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[fmt]) as image:
                width, height = image.size
                if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
                    raise _bad(f"is {width}x{height}; each side must be 1 to {MAX_SIDE} pixels")
                if width * height > MAX_PIXELS:
                    raise _bad(f"is {width}x{height}; at most {MAX_PIXELS} pixels allowed")
                if getattr(image, "is_animated", False):
                    raise _bad("is animated; a reference must be a still image")
                image.load()
    except ValidationFailed:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise _bad("is not a complete, decodable image") from exc
    return width, height


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed(details=[FieldError("file", message)])


def _safe_name(name: str, mime: str) -> str:
    """A display name with no path and no control characters (it is sent on to Rivya)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:120].strip()
    return cleaned or "upload." + mime.rsplit("/", 1)[-1]
