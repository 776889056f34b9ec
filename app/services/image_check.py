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

from PIL import Image, UnidentifiedImageError

from app.services.image_layout import Unfit, read_layout

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
                if image.size != (layout.width, layout.height):
                    return Refused("is not a well-formed image (its headers disagree on its size)")
                if getattr(image, "is_animated", False):
                    return Refused("is animated; a reference must be a still image")
                if layout.jpeg_draft:
                    # Verified at 1/8 scale: every scan is still read, so damage still fails.
                    image.draft(image.mode, (-(-layout.width // 8), -(-layout.height // 8)))
                image.load()
    except Unfit as unfit:
        return Refused(str(unfit))
    except MemoryError:
        return Refused(
            "needs more memory to decode than this gateway allows an image check "
            f"({max_decode_bytes // 1_048_576} MB)"
        )
    except _DECODE_ERRORS:
        return Refused("is not a complete, decodable image")
    return Checked(layout.width, layout.height, layout.decode_bytes)


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
