"""Upload checks on their own: real type, decoder pinned to it, cheap to decode, still."""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image

from app.catalog import FileRule
from app.errors import GatewayError
from app.services.uploads import (
    DecodeBudget,
    ImageHeader,
    decode_fully,
    precheck,
    read_header,
)

RULE = FileRule(
    max_files=1, max_bytes=10 * 1024 * 1024, mime_types=("image/jpeg", "image/png", "image/webp")
)


def check_file(data: bytes, *, name: str, kind: str, rule: FileRule) -> ImageHeader:
    """Every check an upload goes through, in order, without the budget."""
    checked = precheck(data, name=name, kind=kind, rule=rule)
    header = read_header(data, checked.mime_type)
    decode_fully(data, checked.mime_type, header)
    return header


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
    header = check_file(out.getvalue(), name="ok.jpg", kind="image", rule=RULE)
    assert (header.width, header.height) == (640, 480)


def lossless_webp(side: int) -> bytes:
    """A plain square as lossless WebP: a kilobyte of file, side x side pixels to decode."""
    out = io.BytesIO()
    Image.new("RGB", (side, side), "white").save(out, "WEBP", lossless=True)
    return out.getvalue()


def test_a_tiny_webp_of_a_huge_image_is_costed_from_its_header() -> None:
    bomb = lossless_webp(4000)
    assert len(bomb) < 2_000
    header = read_header(bomb, "image/webp")
    assert header.decode_bytes >= 4000 * 4000 * 4  # what libwebp and Pillow will hold


async def test_a_decode_that_could_never_fit_the_budget_is_refused_at_once() -> None:
    budget = DecodeBudget(64 * 1_048_576, wait_seconds=1)
    header = read_header(lossless_webp(4000), "image/webp")
    with pytest.raises(GatewayError) as caught:
        async with budget.reserve(header.decode_bytes):
            pass
    assert "to decode" in caught.value.details[0].message
    assert budget.in_use == 0


async def test_decodes_wait_for_room_and_give_up_with_a_429() -> None:
    budget = DecodeBudget(100, wait_seconds=0.05)
    async with budget.reserve(80):
        with pytest.raises(GatewayError) as caught:
            async with budget.reserve(30):
                pass
        assert caught.value.status == 429
        assert budget.in_use == 80
    async with budget.reserve(30):
        assert budget.in_use == 30
    assert budget.in_use == 0


def test_a_damaged_jpeg_still_fails_its_reduced_decode() -> None:
    out = io.BytesIO()
    Image.effect_noise((1024, 1024), 64).convert("RGB").save(out, "JPEG")
    cut = out.getvalue()[: len(out.getvalue()) // 2]  # truncated in its scan data
    with pytest.raises(GatewayError) as caught:
        check_file(cut, name="cut.jpg", kind="image", rule=RULE)
    assert "decodable" in caught.value.details[0].message
