"""Upload checks on their own: real type, decoder pinned to it, cheap to decode, still.

``check_image`` is what a worker process runs; here it runs in the test's process (the pool's
own bounds are tested in ``tests/e2e/test_image_checks.py``)."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.catalog import FileRule
from app.services.image_check import Checked, Refused, Verdict, check_image
from app.services.uploads import precheck

RULE = FileRule(
    max_files=1, max_bytes=10 * 1024 * 1024, mime_types=("image/jpeg", "image/png", "image/webp")
)
BUDGET = 160 * 1_048_576


def check_file(data: bytes, *, name: str = "x", budget: int = BUDGET) -> Verdict:
    """Every check an upload goes through, in order."""
    checked = precheck(data, name=name, kind="image", rule=RULE)
    return check_image(data, checked.mime_type, budget)


def refusal(verdict: Verdict) -> str:
    assert isinstance(verdict, Refused), verdict
    return verdict.reason


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


@pytest.mark.usefixtures("no_decoder")
def test_a_jpeg_with_thousands_of_scans_is_refused_before_decoding() -> None:
    bomb = scan_bomb(1500)
    assert len(bomb) < 300_000
    assert "scans" in refusal(check_file(bomb))


@pytest.mark.usefixtures("no_decoder")
def test_huge_dimensions_are_refused_from_the_header() -> None:
    out = io.BytesIO()
    Image.new("1", (1, 50_000_000 // 8 * 8)).save(out, "PNG")
    assert "each side" in refusal(check_file(out.getvalue()))


def test_the_decoder_is_the_sniffed_types() -> None:
    disguised = bytearray(b"\xff\xd8\xff\x00" + b"\x00" * 2044)  # a JPEG signature ...
    disguised += b"PCD_IPI" + b"\x00" * (2048 - 7)  # ... over a Kodak PCD image
    disguised += b"\x00" * (0x30000 - len(disguised) + 768 * 512 * 3)
    assert "JPEG" in refusal(check_file(bytes(disguised), name="x.jpg"))


def test_animated_images_are_refused() -> None:
    frames = [Image.new("RGB", (32, 32), (i * 40, 0, 0)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:])
    assert "animated" in refusal(check_file(out.getvalue(), name="a.png"))


def test_a_progressive_jpeg_of_normal_make_passes() -> None:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(out, "JPEG", progressive=True)
    verdict = check_file(out.getvalue(), name="ok.jpg")
    assert isinstance(verdict, Checked)
    assert (verdict.width, verdict.height) == (640, 480)


def lossless_webp(side: int) -> bytes:
    """A plain square as lossless WebP: a kilobyte of file, side x side pixels to decode."""
    out = io.BytesIO()
    Image.new("RGB", (side, side), "white").save(out, "WEBP", lossless=True)
    return out.getvalue()


@pytest.mark.usefixtures("no_decoder")
def test_a_tiny_webp_of_a_huge_image_is_refused_from_its_header() -> None:
    bomb = lossless_webp(4000)
    assert len(bomb) < 2_000
    reason = refusal(check_file(bomb))  # priced, never decoded
    assert "to decode" in reason


def test_uploads_of_lossy_and_lossless_webp_are_costed_alike() -> None:
    costs = []
    for lossless in (True, False):
        out = io.BytesIO()
        Image.new("RGB", (1000, 1000), "white").save(out, "WEBP", lossless=lossless)
        verdict = check_file(out.getvalue())
        assert isinstance(verdict, Checked)
        costs.append(verdict.decode_bytes)
    assert costs[0] == costs[1] >= 1000 * 1000 * 16


def test_a_damaged_jpeg_still_fails_its_reduced_decode() -> None:
    out = io.BytesIO()
    Image.effect_noise((1024, 1024), 64).convert("RGB").save(out, "JPEG")
    cut = out.getvalue()[: len(out.getvalue()) // 2]  # truncated in its scan data
    assert "decodable" in refusal(check_file(cut, name="cut.jpg"))
