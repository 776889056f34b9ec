"""One image check, as a worker process runs it: the container walked, the decode priced, then
the image decoded with the decoder of its sniffed type, so a truncated or corrupt file fails.

It runs in a worker process whose address space is capped (``limit_worker``): whatever a file
makes a parser do, it cannot take more than that process's bound, nor any of the serving
process's memory or event loop. The verdict is a plain value (pickled back to the server).
"""

from __future__ import annotations

import io
import os
import resource
import warnings
from dataclasses import dataclass

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from app.services.decode_costs import PNG_TEXT_BYTES
from app.services.image_layout import Layout, Unfit, read_layout

# The text of a PNG Pillow keeps (its own default cap is 64 MB): what the price allows.
PngImagePlugin.MAX_TEXT_MEMORY = PNG_TEXT_BYTES
PngImagePlugin.MAX_TEXT_CHUNK = PNG_TEXT_BYTES

# The Pillow decoder each accepted type may use, and no other (no PCD, TGA, ... behind a JPEG
# signature).
PILLOW_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
# Beyond the decode budget, a worker's address space holds the interpreter and Pillow as
# mapped (most of it never resident) and the file itself, twice while it is unpickled (a
# 10 MB upload, as measured with the largest decodes the budget admits).
WORKER_ROOM = 48 * 1_048_576


@dataclass(frozen=True)
class Checked:
    width: int
    height: int
    decode_bytes: int


@dataclass(frozen=True)
class Refused:
    reason: str  # completes "The file ..."


Verdict = Checked | Refused


def check_image(data: bytes, mime: str, max_decode_bytes: int) -> Verdict:
    """Walk, price and decode ``data``; never raises for anything the file does."""
    try:
        layout = read_layout(data, mime)
        if layout.decode_bytes > max_decode_bytes:
            return Refused(
                f"would take about {layout.decode_bytes // 1_048_576} MB to decode; this gateway "
                f"checks images of at most {max_decode_bytes // 1_048_576} MB decoded (use fewer "
                "pixels, or a baseline JPEG)"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[mime]]) as image:
                disagreement = _disagreement(image, layout)
                if disagreement:
                    return Refused(f"is not a well-formed image (its {disagreement})")
                if mime == "image/jpeg":
                    # Verified at 1/8 scale, as priced: every scan is still read, so damage
                    # still fails. (The size asked is rounded down: Pillow picks the smallest
                    # scale that is at least as large.)
                    image.draft(image.mode, (max(layout.width // 8, 1), max(layout.height // 8, 1)))
                elif getattr(image, "is_animated", False):
                    return Refused("is animated; a reference must be a still image")
                image.load()
    except Unfit as unfit:
        return Refused(str(unfit))
    except MemoryError:
        return _out_of_memory(max_decode_bytes)
    except _DECODE_ERRORS as error:
        if "memory" in str(error).lower():  # libjpeg's "Insufficient memory", as an OSError
            return _out_of_memory(max_decode_bytes)
        return Refused("is not a complete, decodable image")
    return Checked(layout.width, layout.height, layout.decode_bytes)


def _disagreement(image: Image.Image, layout: Layout) -> str | None:
    """Where the decoder's reading of the headers differs from the walk's: the walk priced the
    image, so the decoder must be about to decode that very image."""
    if image.size != (layout.width, layout.height):
        return "headers disagree on its size"
    if image.format in ("JPEG", "MPO"):
        # A JPEG with an MPF index (a camera's or a phone's second image, after the first's
        # end) opens as MPO: only its first image is walked, decoded and sent on as is.
        progressive = bool(image.info.get("progressive") or image.info.get("progression"))
        if progressive != layout.jpeg_progressive:
            return "headers disagree on its coding"
        if getattr(image, "layers", None) != layout.jpeg_components:
            return "headers disagree on its components"
    return None


def _out_of_memory(max_decode_bytes: int) -> Refused:
    return Refused(
        "needs more memory to decode than this gateway allows an image check "
        f"({max_decode_bytes // 1_048_576} MB)"
    )


_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


def ready() -> None:
    """A check of nothing: answered once a worker is up."""


def limit_worker(decode_bytes: int) -> None:
    """A worker's start: its address space capped at what it has now, plus the decode budget
    and room for one file; and a lower CPU priority than the server it works for."""
    mapped = _mapped_bytes()
    cap = mapped + decode_bytes + WORKER_ROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os.nice(10)


def _mapped_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")
