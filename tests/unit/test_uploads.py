"""Upload checks on their own: real type, decoder pinned to it, cheap to decode, still."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from app.catalog import FileRule
from app.errors import GatewayError
from app.services.uploads import check_file

RULE = FileRule(
    max_files=1, max_bytes=10 * 1024 * 1024, mime_types=("image/jpeg", "image/png", "image/webp")
)


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's marker segments (scan data included with its SOS segment)."""
    segments, i = [], 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xD9:
            break
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        end = i + 2 + length
        if marker == 0xDA:  # the scan's coded data runs to the next marker
            end = i + 2 + length
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        segments.append((marker, data[i:end]))
        i = end
    return segments


def scan_bomb(repeats: int) -> bytes:
    """A large progressive JPEG whose last scan is repeated: tiny file, long decode."""
    out = io.BytesIO()
    Image.new("L", (4000, 3000), 128).save(out, "JPEG", progressive=True)
    segments = jpeg_segments(out.getvalue())
    scans = [s for m, s in segments if m == 0xDA]
    head = b"\xff\xd8" + b"".join(s for m, s in segments if m != 0xDA)
    return head + scans[0] + min(scans[1:], key=len) * repeats + b"\xff\xd9"


def test_a_jpeg_with_thousands_of_scans_is_refused_before_decoding() -> None:
    bomb = scan_bomb(1500)
    assert len(bomb) < 300_000
    started = time.perf_counter()
    with pytest.raises(GatewayError) as caught:
        check_file(bomb, name="x.jpg", kind="image", rule=RULE)
    assert time.perf_counter() - started < 0.5
    assert "scans" in caught.value.details[0].message


def test_huge_dimensions_are_refused_from_the_header() -> None:
    out = io.BytesIO()
    Image.new("1", (1, 50_000_000 // 8 * 8)).save(out, "PNG")
    started = time.perf_counter()
    with pytest.raises(GatewayError) as caught:
        check_file(out.getvalue(), name="tall.png", kind="image", rule=RULE)
    assert time.perf_counter() - started < 0.5
    assert "each side" in caught.value.details[0].message


def test_the_decoder_is_the_sniffed_types() -> None:
    disguised = bytearray(b"\xff\xd8\xff\x00" + b"\x00" * 2044)  # a JPEG signature ...
    disguised += b"PCD_IPI" + b"\x00" * (2048 - 7)  # ... over a Kodak PCD image
    disguised += b"\x00" * (0x30000 - len(disguised) + 768 * 512 * 3)
    with pytest.raises(GatewayError):
        check_file(bytes(disguised), name="x.jpg", kind="image", rule=RULE)


def test_animated_images_are_refused() -> None:
    frames = [Image.new("RGB", (32, 32), (i * 40, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    with pytest.raises(GatewayError) as caught:
        check_file(out.getvalue(), name="a.png", kind="image", rule=RULE)
    assert "animated" in caught.value.details[0].message


def test_a_progressive_jpeg_of_normal_make_passes() -> None:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(out, "JPEG", progressive=True)
    checked = check_file(out.getvalue(), name="ok.jpg", kind="image", rule=RULE)
    assert (checked.mime_type, checked.width, checked.height) == ("image/jpeg", 640, 480)
