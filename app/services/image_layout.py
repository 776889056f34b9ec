"""An image's layout read from its container, with bounded work, before any decoder sees it.

A decoder's header parser does work in proportion to what the file declares: Pillow reads every
JPEG segment and PNG chunk before the first pixel (2.6 million empty JPEG comments take it two
seconds and 200 MB), and libjpeg sizes its buffers from the frame header, not from the file's
size. So the container is walked here first, by a parser that does a constant amount of Python
work per segment or chunk and refuses absurd counts, and what decoding will cost is priced from
the frame header (``decode_costs.py``) for the worst case its coding allows: never from what the
rest of the file seems to hold (a progressive JPEG cut after its first scan decodes completely,
into a buffer of every coefficient of the frame).

Pure functions over bytes: no Pillow, no I/O. Refusals are ``Unfit`` with a message that says
what is wrong with the file, for the caller to turn into an answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from app.services.decode_costs import jpeg_decode_bytes, png_decode_bytes, webp_decode_bytes

# Sane image dimensions: Rivya's models work at a few megapixels; anything far beyond is a
# mistake or a decompression bomb.
MAX_SIDE = 10_000
MAX_PIXELS = 25_000_000
# A progressive JPEG is decoded once per scan: a few are normal (Pillow writes ten), thousands
# are a CPU bomb. Its other segments (tables, metadata: an ICC profile spans up to a few dozen)
# are counted too.
MAX_JPEG_SCANS = 64
MAX_JPEG_SEGMENTS = 1_000
# Encoders split a PNG's pixels into IDAT chunks of 8-64 KB (some write one per row), so a 10 MB
# PNG has up to a few thousand; its other chunks (metadata, palette) are a handful.
MAX_PNG_CHUNKS = 20_000
MAX_PNG_ANCILLARY_CHUNKS = 1_000
MAX_WEBP_CHUNKS = 64


class Unfit(ValueError):
    """The file is refused; the message completes "The file ..."."""


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    # The most memory decoding it may take, in bytes, as its coding allows in the worst case.
    decode_bytes: int
    # For a JPEG, what its frame header says, for the decoder's view to be checked against:
    # whether it is progressive, and how many components it has.
    jpeg_progressive: bool = False
    jpeg_components: int = 0


def read_layout(data: bytes, mime: str) -> Layout:
    """The layout of an image of the given (sniffed) type, or ``Unfit``."""
    reader = _READERS.get(mime)
    if reader is None:
        raise Unfit(f"is a {mime} image, which cannot be checked")
    layout = reader(data)
    width, height = layout.width, layout.height
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise Unfit(f"is {width}x{height}; each side must be 1 to {MAX_SIDE} pixels")
    if width * height > MAX_PIXELS:
        raise Unfit(f"is {width}x{height}; at most {MAX_PIXELS} pixels allowed")
    return layout


# --- JPEG ------------------------------------------------------------------------------------

# Start-of-frame markers by coding. Hierarchical frames (C5-C7, CD-CF) are decoded by nothing
# this gateway or Rivya's models use, so they are refused rather than priced.
_SEQUENTIAL = {0xC0: "baseline", 0xC1: "extended", 0xC9: "arithmetic"}
_PROGRESSIVE = {0xC2: "progressive", 0xCA: "arithmetic progressive"}
_LOSSLESS = {0xC3: "lossless", 0xCB: "arithmetic lossless"}
_HIERARCHICAL = {0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF, 0xDE}  # (DE: define hierarchical progression)
_SOS, _EOI = 0xDA, 0xD9
# The markers a JPEG may hold between its segments, each with a length: frames, tables (DHT,
# DAC, DQT, DRI, DNL, EXP), the scan, application segments and comments. Anything else there is
# refused: a decoder skips bytes the walker would have read as a segment (a "FF 00" segment's
# body is junk to libjpeg, which then reads a frame hidden in it), so the two must agree.
_SEGMENTS = {
    *range(0xC0, 0xC8),
    *range(0xC9, 0xD0),
    _SOS,
    *range(0xDB, 0xE0),
    *range(0xE0, 0xF0),
    0xFE,
}
# The next marker after a scan's coded data: FF followed by anything but a stuffed 00, a restart
# marker, or another FF (a fill byte). Found by the regex engine, not a Python loop per byte.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_FILL = re.compile(rb"\xff+")


@dataclass(frozen=True)
class _Frame:
    coding: str
    precision: int
    width: int
    height: int
    sampling: tuple[tuple[int, int], ...]  # per component (horizontal, vertical)


def _jpeg(data: bytes) -> Layout:
    if not data.startswith(b"\xff\xd8"):
        raise Unfit("is not a JPEG (no start-of-image marker)")
    frame: _Frame | None = None
    scans = 0
    interleaved_first_scan = True
    for marker, body in _jpeg_segments(data):
        if marker in _HIERARCHICAL:
            raise Unfit("is a hierarchical JPEG, which is not accepted (save it as baseline)")
        if marker in _SEQUENTIAL or marker in _PROGRESSIVE or marker in _LOSSLESS:
            if frame is not None:
                raise Unfit("has two JPEG frame headers")
            frame = _frame(marker, body)
        elif marker == _SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise Unfit(f"has more than {MAX_JPEG_SCANS} JPEG scans")
            if frame is None:
                raise Unfit("is not a well-formed JPEG (a scan before its frame header)")
            if scans == 1:
                interleaved_first_scan = bool(body) and body[0] >= len(frame.sampling)
    if frame is None or scans == 0:
        raise Unfit("is not a complete, decodable image (a JPEG without a frame or a scan)")
    # One interleaved scan of a sequential frame streams: libjpeg decodes it a row of blocks at
    # a time. Anything else (progressive, lossless, or components in separate scans) is
    # buffered whole before the first row comes out. Either is verified at 1/8 scale.
    streams = frame.coding in _SEQUENTIAL.values() and scans == 1 and interleaved_first_scan
    return Layout(
        frame.width,
        frame.height,
        jpeg_decode_bytes(
            frame.width,
            frame.height,
            frame.sampling,
            precision=frame.precision,
            lossless=frame.coding in _LOSSLESS.values(),
            streams=streams,
        ),
        jpeg_progressive=frame.coding in _PROGRESSIVE.values(),
        jpeg_components=len(frame.sampling),
    )


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """Each segment's marker and body, in order, up to the end of the image or of the data. A
    scan's coded data is skipped, not yielded. At most MAX_JPEG_SEGMENTS."""
    segments, pos, end = 0, 2, len(data)
    while pos < end:
        fill = _FILL.match(data, pos)
        if fill is None:
            raise Unfit(f"is not a well-formed JPEG (no marker at byte {pos})")
        pos = fill.end()
        if pos >= end:
            return
        marker = data[pos]
        pos += 1
        if marker == _EOI:
            return
        if marker not in _SEGMENTS:
            raise Unfit(f"is not a well-formed JPEG (marker FF{marker:02X} at byte {pos - 2})")
        segments += 1
        if segments > MAX_JPEG_SEGMENTS:
            raise Unfit(f"has more than {MAX_JPEG_SEGMENTS} JPEG segments")
        if pos + 2 > end:
            return  # cut short: the decoder says whether what came before is an image
        length = int.from_bytes(data[pos : pos + 2], "big")
        if length < 2 or pos + length > end:
            raise Unfit("is not a complete, decodable image (a JPEG segment runs past its end)")
        yield marker, data[pos + 2 : pos + length]
        pos += length
        if marker == _SOS:
            following = _NEXT_MARKER.search(data, pos)
            pos = following.start() if following else end


def _frame(marker: int, body: bytes) -> _Frame:
    if len(body) < 6 or len(body) < 6 + 3 * body[5] or body[5] == 0:
        raise Unfit("is not a well-formed JPEG (a short frame header)")
    coding = {**_SEQUENTIAL, **_PROGRESSIVE, **_LOSSLESS}[marker]
    count = body[5]
    sampling = tuple(
        (max(body[7 + 3 * i] >> 4, 1), max(body[7 + 3 * i] & 0x0F, 1)) for i in range(count)
    )
    height, width = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big")
    if height == 0:
        # The height may be given later (a DNL marker): nothing here decodes that, so refuse.
        raise Unfit("is a JPEG whose height is given after its first scan, which is not accepted")
    return _Frame(coding, body[0], width, height, sampling)


# --- PNG -------------------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Samples per pixel by colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA).
_PNG_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _png(data: bytes) -> Layout:
    if not data.startswith(_PNG_SIGNATURE):
        raise Unfit("is not a PNG (no signature)")
    pos, end = len(_PNG_SIGNATURE), len(data)
    chunks = ancillary = 0
    header: tuple[int, int, int, int] | None = None
    while pos + 8 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if pos + 12 + length > end:
            raise Unfit("is not a complete, decodable image (a PNG chunk runs past its end)")
        chunks += 1
        if chunks > MAX_PNG_CHUNKS:
            raise Unfit(f"has more than {MAX_PNG_CHUNKS} PNG chunks")
        if header is None:
            if kind != b"IHDR" or length != 13:
                raise Unfit("is not a well-formed PNG (it does not begin with its header)")
            body = data[pos + 8 : pos + 21]
            width, height = int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big")
            header = (width, height, body[8], body[9])
        elif kind == b"acTL":
            raise Unfit("is animated; a reference must be a still image")
        elif kind == b"IEND":
            break
        elif kind != b"IDAT":
            ancillary += 1
            if ancillary > MAX_PNG_ANCILLARY_CHUNKS:
                raise Unfit(f"has more than {MAX_PNG_ANCILLARY_CHUNKS} PNG metadata chunks")
        pos += 12 + length
    if header is None:
        raise Unfit("is not a complete, decodable image (a PNG without a header)")
    width, height, depth, colour = header
    samples = _PNG_SAMPLES.get(colour)
    if samples is None:
        raise Unfit(f"is not a well-formed PNG (colour type {colour})")
    return Layout(width, height, png_decode_bytes(width, height, samples=samples, depth=depth))


# --- WebP ------------------------------------------------------------------------------------


def _webp(data: bytes) -> Layout:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise Unfit("is not a WebP (no RIFF header)")
    # What follows the RIFF container (its declared size) is not the image's.
    pos, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    chunks = 0
    size: tuple[int, int] | None = None
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + min(length, 32)]
        chunks += 1
        if chunks > MAX_WEBP_CHUNKS:
            raise Unfit(f"has more than {MAX_WEBP_CHUNKS} WebP chunks")
        if kind in (b"ANIM", b"ANMF"):
            raise Unfit("is animated; a reference must be a still image")
        if size is None:
            size = _webp_size(kind, body)
        pos += 8 + length + (length & 1)
    if size is None:
        raise Unfit("is not a complete, decodable image (a WebP without an image)")
    return Layout(size[0], size[1], webp_decode_bytes(size[0], size[1]))


def _webp_size(kind: bytes, body: bytes) -> tuple[int, int] | None:
    if kind == b"VP8X" and len(body) >= 10:
        if body[0] & 0x02:
            raise Unfit("is animated; a reference must be a still image")
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    if kind == b"VP8 " and len(body) >= 10:
        return (
            int.from_bytes(body[6:8], "little") & 0x3FFF,
            int.from_bytes(body[8:10], "little") & 0x3FFF,
        )
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


_READERS = {"image/jpeg": _jpeg, "image/png": _png, "image/webp": _webp}
