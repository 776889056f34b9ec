"""Checking an uploaded file before anything else happens: size, real type, decodability.

No I/O: the bytes are already read, under a hard cap enforced while they streamed in. The checks
go from cheap to dear: size and real type (``precheck``), then the header (``read_header``:
dimensions, scans, animation, and what decoding will cost), and only then a full decode
(``decode_fully``), which callers run off the event loop within a per-process memory budget
(``DecodeBudget``): a 1 KB file can describe a 400 MB image. The
rules (per kind: largest size, accepted types) come from the model catalogue, so video and
audio models are a data change.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from app.catalog import Catalog, FieldError, FileRule, ModelSpec
from app.errors import PayloadTooLarge, RateLimited, UnsupportedMediaType, ValidationFailed
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


@dataclass(frozen=True)
class ImageHeader:
    width: int
    height: int
    # What decoding it is expected to take at most, in bytes of memory (from the header alone).
    decode_bytes: int


def read_header(data: bytes, mime: str) -> ImageHeader:
    """Dimensions and decoding cost from the header, with every header-level refusal: too
    large, too many pixels, too many JPEG scans, animated. No pixel is decoded."""
    fmt = PILLOW_FORMATS.get(mime)
    if fmt is None:
        raise UnsupportedMediaType(f"{mime} images cannot be checked.")
    scans = data.count(b"\xff\xda") if fmt == "JPEG" else 0
    if scans > MAX_JPEG_SCANS:
        # Inside a JPEG's coded data 0xFF is always stuffed (FF 00): FF DA is a scan marker.
        raise _bad(f"has more than {MAX_JPEG_SCANS} JPEG scans")
    try:
        with _no_bomb_warnings(), Image.open(io.BytesIO(data), formats=[fmt]) as image:
            width, height = image.size
            if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
                raise _bad(f"is {width}x{height}; each side must be 1 to {MAX_SIDE} pixels")
            if width * height > MAX_PIXELS:
                raise _bad(f"is {width}x{height}; at most {MAX_PIXELS} pixels allowed")
            if getattr(image, "is_animated", False):
                raise _bad("is animated; a reference must be a still image")
            bands = len(image.getbands())
    except ValidationFailed:
        raise
    except _DECODE_ERRORS as exc:
        raise _bad("is not a complete, decodable image") from exc
    cost = _decode_cost(fmt, width, height, bands, multi_scan=scans > 1)
    return ImageHeader(width, height, cost)


def _decode_cost(fmt: str, width: int, height: int, bands: int, *, multi_scan: bool) -> int:
    """Memory a verifying decode takes, as measured with Pillow 12-13 (with a margin): a baseline
    JPEG is decoded at 1/8 scale (every scan is still read, so a damaged file still fails) and
    costs little, but a progressive (multi-scan) one keeps every coefficient at full size, about
    2 bytes per pixel and band, whatever the scale; libwebp decodes into buffers of its own
    before Pillow copies the image out (about 16 bytes a pixel, lossy or lossless); PNG
    inflates into the image itself."""
    pixels = width * height
    if fmt == "JPEG":
        if multi_scan:
            return pixels * bands * 2 + 1_048_576
        return pixels * bands // 32 + 1_048_576
    if fmt == "WEBP":
        return pixels * 16
    return pixels * bands * 2


def decode_fully(data: bytes, mime: str, header: ImageHeader) -> None:
    """Decode the image with the decoder of its sniffed type, so a truncated or corrupt file
    fails here. CPU and memory bound by ``header``'s cost: run it off the event loop, within a
    ``DecodeBudget``."""
    fmt = PILLOW_FORMATS[mime]
    try:
        with _no_bomb_warnings(), Image.open(io.BytesIO(data), formats=[fmt]) as image:
            if fmt == "JPEG":
                image.draft(image.mode, (max(header.width // 8, 1), max(header.height // 8, 1)))
            image.load()
    except _DECODE_ERRORS as exc:
        raise _bad("is not a complete, decodable image") from exc


_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


@contextmanager
def _no_bomb_warnings() -> Iterator[None]:
    """Pillow's decompression-bomb warning as an error (a refusal, never a log line)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _bad(message: str) -> ValidationFailed:
    return ValidationFailed(details=[FieldError("file", message)])


def _safe_name(name: str, mime: str) -> str:
    """A display name with no path and no control characters (it is sent on to Rivya)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:120].strip()
    return cleaned or "upload." + mime.rsplit("/", 1)[-1]


class DecodeBudget:
    """Memory this process lets image decodes take at once: a decode reserves what its header
    says it will cost, and waits (a while) for room. One that could never fit is refused."""

    def __init__(self, total_bytes: int, *, wait_seconds: float) -> None:
        self._total, self._wait = total_bytes, wait_seconds
        self._used = 0
        self._room = asyncio.Condition()

    @property
    def in_use(self) -> int:
        return self._used

    async def decode(self, data: bytes, mime: str, header: ImageHeader) -> None:
        """``decode_fully`` in a worker thread, within the budget. The reservation lasts as long
        as the thread does: a request cancelled meanwhile cannot free memory still in use."""
        async with self._reserved(header.decode_bytes) as release:
            job = asyncio.ensure_future(asyncio.to_thread(decode_fully, data, mime, header))
            release.after(job)
            await asyncio.shield(job)

    @asynccontextmanager
    async def reserve(self, cost: int) -> AsyncIterator[None]:
        async with self._reserved(cost):
            yield

    @asynccontextmanager
    async def _reserved(self, cost: int) -> AsyncIterator[_Release]:
        if cost > self._total:
            raise _bad(
                f"would take about {cost // 1_048_576} MB to decode; this gateway checks images "
                f"of at most {self._total // 1_048_576} MB decoded (use fewer pixels, or JPEG)"
            )
        async with self._room:
            try:
                await asyncio.wait_for(
                    self._room.wait_for(lambda: self._used + cost <= self._total), self._wait
                )
            except TimeoutError:
                raise RateLimited(
                    "Too many images are being checked on this gateway right now; retry soon.",
                    headers={"Retry-After": "2"},
                ) from None
            self._used += cost
        release = _Release(self, cost)
        try:
            yield release
        finally:
            release.now_or_when_done()

    def _give_back(self, cost: int) -> None:
        async def notify() -> None:
            async with self._room:
                self._room.notify_all()

        self._used -= cost
        asyncio.ensure_future(notify())  # noqa: RUF006 (short-lived, holds no resource)


class _Release:
    """Gives a reservation back once: when its block ends, or when the job it was tied to
    ends, whichever is later."""

    def __init__(self, budget: DecodeBudget, cost: int) -> None:
        self._budget, self._cost = budget, cost
        self._job: asyncio.Future[None] | None = None

    def after(self, job: asyncio.Future[None]) -> None:
        self._job = job

    def now_or_when_done(self) -> None:
        if self._job is not None and not self._job.done():
            self._job.add_done_callback(lambda _: self._budget._give_back(self._cost))
        else:
            self._budget._give_back(self._cost)
