"""The container walk before any decoder: bounded work whatever the file declares, and decodes
priced for the worst case their frame header allows (issue 21, points 1 and 2).

The attack files are generated here, from small real images, as the red team built them."""

from __future__ import annotations

import io
import subprocess
import sys
import zlib
from typing import Any

import pytest
from PIL import Image

from app.services.image_check import Checked, Refused, check_image
from app.services.image_layout import (
    MAX_JPEG_SEGMENTS,
    MAX_PNG_ANCILLARY_CHUNKS,
    MAX_PNG_CHUNKS,
    Unfit,
    read_layout,
)

MiB = 1_048_576
BUDGET = 160 * MiB


def jpeg(mode: str, side: int, **options: object) -> bytes:
    out = io.BytesIO()
    noise = Image.effect_noise((side // 8, side // 8), 40).resize((side, side))
    Image.merge(mode, [noise] * len(mode)).save(out, "JPEG", quality=30, **options)
    return out.getvalue()


def first_scan_only(data: bytes) -> bytes:
    """The JPEG cut after its first scan, then closed: valid, and it decodes completely."""
    start = data.index(b"\xff\xda")
    pos = start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    while not (data[pos] == 0xFF and data[pos + 1] not in (0x00, *range(0xD0, 0xD8))):
        pos += 1
    return data[:pos] + b"\xff\xd9"


def png_chunk(kind: bytes, body: bytes = b"") -> bytes:
    crc = zlib.crc32(kind + body).to_bytes(4, "big")
    return len(body).to_bytes(4, "big") + kind + body + crc


def png(width: int, height: int, *, idat_size: int = 65_536, extra: bytes = b"") -> bytes:
    """A grey PNG whose pixels are split into IDAT chunks of ``idat_size`` bytes."""
    header = png_chunk(b"IHDR", struct_ihdr(width, height))
    pixels = zlib.compress(b"".join(b"\x00" + bytes(width) for _ in range(height)))
    idats = b"".join(
        png_chunk(b"IDAT", pixels[i : i + idat_size]) for i in range(0, len(pixels), idat_size)
    )
    return b"\x89PNG\r\n\x1a\n" + header + extra + idats + png_chunk(b"IEND")


def struct_ihdr(width: int, height: int) -> bytes:
    return width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])


@pytest.mark.usefixtures("no_decoder")
def test_a_progressive_jpeg_cut_after_its_first_scan_is_priced_for_every_coefficient() -> None:
    # 5000x5000 CMYK, one DC scan: libjpeg buffers the whole frame's coefficients (~195 MB
    # measured); counting scan markers priced it at 4 MB, and twenty of them took 1.2 GB.
    bomb = first_scan_only(jpeg("CMYK", 5000, progressive=True))
    assert bomb.count(b"\xff\xda") == 1
    assert len(bomb) < 2 * MiB
    layout = read_layout(bomb, "image/jpeg")
    assert layout.decode_bytes >= 5000 * 5000 * 4 * 2
    assert layout.jpeg_progressive
    verdict = check_image(bomb, "image/jpeg", BUDGET)  # refused from its frame header
    assert isinstance(verdict, Refused)
    assert "to decode" in verdict.reason


def test_a_single_scan_baseline_jpeg_streams_and_is_priced_at_one_eighth_scale() -> None:
    layout = read_layout(jpeg("CMYK", 5000), "image/jpeg")
    assert (layout.jpeg_progressive, layout.jpeg_components) == (False, 4)
    assert layout.decode_bytes < 8 * MiB


def test_a_sequential_jpeg_whose_first_scan_holds_one_component_is_priced_as_buffered() -> None:
    # Components in separate scans are buffered whole, like a progressive frame.
    data = bytearray(jpeg("RGB", 2000, subsampling=0))
    sos = data.index(b"\xff\xda")
    data[sos + 4] = 1  # the first scan declares one component of three
    layout = read_layout(bytes(data), "image/jpeg")
    assert layout.decode_bytes >= 2000 * 2000 * 3 * 2


@pytest.mark.usefixtures("no_decoder")
def test_a_jpeg_of_millions_of_empty_comments_is_refused_before_any_parser_reads_them() -> None:
    # 2.5 million empty COM segments in 10 MB: Pillow's header parser took ~2 s and ~200 MB.
    small = jpeg("RGB", 64)
    bomb = small[:2] + b"\xff\xfe\x00\x02" * 2_500_000 + small[2:]
    verdict = check_image(bomb, "image/jpeg", BUDGET)
    assert isinstance(verdict, Refused)
    assert f"more than {MAX_JPEG_SEGMENTS} JPEG segments" in verdict.reason


@pytest.mark.usefixtures("no_decoder")
def test_a_png_of_hundreds_of_thousands_of_empty_chunks_is_refused_at_once() -> None:
    flood = png(16, 16, extra=png_chunk(b"IDAT") * 870_000)
    verdict = check_image(flood, "image/png", BUDGET)
    assert isinstance(verdict, Refused)
    assert f"more than {MAX_PNG_CHUNKS} PNG chunks" in verdict.reason


def test_a_png_of_thousands_of_metadata_chunks_is_refused() -> None:
    notes = png_chunk(b"tEXt", b"k\x00v") * (MAX_PNG_ANCILLARY_CHUNKS + 1)
    verdict = check_image(png(16, 16, extra=notes), "image/png", BUDGET)
    assert isinstance(verdict, Refused)
    assert "metadata chunks" in verdict.reason


def test_a_png_split_into_thousands_of_small_idat_chunks_as_some_encoders_write_passes() -> None:
    legit = png(3000, 3000, idat_size=3)
    assert legit.count(b"IDAT") > 2_000
    verdict = check_image(legit, "image/png", BUDGET)
    assert verdict == Checked(3000, 3000, read_layout(legit, "image/png").decode_bytes)


@pytest.mark.parametrize(
    ("marker", "said"),
    [(0xC5, "hierarchical"), (0xDE, "hierarchical")],
)
def test_jpeg_codings_no_model_takes_are_refused_by_name(marker: int, said: str) -> None:
    data = bytearray(jpeg("RGB", 64))
    sof = data.index(b"\xff\xc0")
    data[sof + 1] = marker
    with pytest.raises(Unfit, match=said):
        read_layout(bytes(data), "image/jpeg")


def test_a_jpeg_whose_height_comes_later_is_refused() -> None:
    data = bytearray(jpeg("RGB", 64))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 7] = b"\x00\x00"  # height 0: to be given by a DNL marker
    with pytest.raises(Unfit, match="height"):
        read_layout(bytes(data), "image/jpeg")


# -- the red team's second look (issue 21 review) ---------------------------------------------


def hide_in_a_stuffing_segment(real: bytes, width: int, height: int) -> bytes:
    """``real`` (a progressive JPEG of under 64 KB) inside a "segment" of marker FF00, which a
    walk by lengths skips and libjpeg reads through; after it, a decoy baseline frame and scan."""
    body = real[2:]
    hidden = b"\xff\x00" + (len(body) + 2).to_bytes(2, "big") + body
    parts = b"".join(bytes([i + 1, 0x11, 0]) for i in range(3))
    sof = b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x03"
    sos = b"\xff\xda\x00\x0c\x03" + b"".join(bytes([i + 1, 0]) for i in range(3)) + b"\x00\x3f\x00"
    return b"\xff\xd8" + hidden + sof + parts + sos + b"\x00" * 16 + b"\xff\xd9"


def test_a_frame_hidden_in_a_stuffing_segment_is_refused_unread() -> None:
    # Priced as a baseline 1/8 decode (6 MB), it decoded as progressive 4:4:4 (151 MB), and
    # its hidden scans escaped the scan cap (3,000 of them: 45 s of CPU).
    out = io.BytesIO()
    Image.new("RGB", (2_000, 500), (120, 130, 140)).save(
        out, "JPEG", progressive=True, quality=50, subsampling=0
    )
    bomb = hide_in_a_stuffing_segment(out.getvalue(), 2_000, 500)
    verdict = check_image(bomb, "image/jpeg", BUDGET)
    assert verdict == Refused("is not a well-formed JPEG (marker FF00 at byte 2)")


def peak_of_a_check(data: bytes, mime: str) -> tuple[str, int, int]:
    """(verdict, price, peak memory the check added) in a fresh worker-like process."""
    # The peak (VmHWM) is reset first: a process keeps its parent's across fork and exec.
    script = (
        "import sys\n"
        "from app.services.image_check import check_image, limit_worker\n"
        "from app.services.image_layout import read_layout\n"
        "def hwm():\n"
        "    lines = open('/proc/self/status').read().splitlines()\n"
        "    return next(int(l.split()[1]) * 1024 for l in lines if l.startswith('VmHWM'))\n"
        "data = sys.stdin.buffer.read()\n"
        f"limit_worker({BUDGET})\n"
        "price = read_layout(data, sys.argv[1]).decode_bytes\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "base = hwm()\n"
        f"verdict = check_image(data, sys.argv[1], {BUDGET})\n"
        "print(type(verdict).__name__, price, hwm() - base)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script, mime], input=data, capture_output=True, check=True
    )
    verdict, price, peak = answer.stdout.decode().split()
    return verdict, int(price), int(peak)


def photo(width: int, height: int) -> Image.Image:
    noise = Image.effect_noise((width // 16, height // 16), 50).resize((width, height))
    return Image.merge("RGB", [noise, noise.transpose(Image.Transpose.FLIP_LEFT_RIGHT), noise])


@pytest.mark.parametrize(
    ("name", "save"),
    [
        # Progressive JPEGs were decoded at full size but priced at 1/8: 83 MB for 40.
        ("12 MP progressive", {"format": "JPEG", "progressive": True, "quality": 90}),
        ("25 MP progressive 4:4:4", {"format": "JPEG", "progressive": True, "subsampling": 0}),
        ("12 MP baseline", {"format": "JPEG", "quality": 90}),
    ],
)
def test_what_a_jpeg_check_takes_stays_within_its_price(name: str, save: dict[str, Any]) -> None:
    side = (5_000, 5_000) if "25 MP" in name else (4_000, 3_000)
    out = io.BytesIO()
    photo(*side).save(out, **save)
    verdict, price, peak = peak_of_a_check(out.getvalue(), "image/jpeg")
    assert verdict == "Checked", name  # the 25 MP 4:4:4 one ran out of memory, as "damaged"
    assert peak <= price, f"{name}: took {peak / MiB:.0f} MB, priced {price / MiB:.0f} MB"


def test_a_camera_jpeg_with_a_second_image_is_accepted() -> None:
    """A JPEG with an MPF index (cameras; a phone's HDR export) opens as an animated MPO."""
    out = io.BytesIO()
    first = photo(1600, 1200)
    first.save(out, "MPO", save_all=True, append_images=[first.resize((400, 300))])
    assert isinstance(check_image(out.getvalue(), "image/jpeg", BUDGET), Checked)


def test_the_text_a_png_makes_pillow_hold_is_within_its_price() -> None:
    # 70 zTXt chunks of 1 MB of text each, in a 70 KB file: 67 MB held against a 4 MB price.
    text = b"".join(
        png_chunk(b"zTXt", b"k%d\x00\x00" % n + zlib.compress(b"a" * 1_000_000, 9))
        for n in range(70)
    )
    verdict, price, peak = peak_of_a_check(png(64, 64, extra=text), "image/png")
    assert peak <= price, f"took {peak / MiB:.0f} MB, priced {price / MiB:.0f} MB ({verdict})"


def test_bytes_after_a_webps_riff_container_are_not_its_chunks() -> None:
    out = io.BytesIO()
    photo(320, 240).save(out, "WEBP", quality=80)
    trailing = out.getvalue() + b"ANMF\x04\x00\x00\x00junk" * 100  # not in the RIFF's size
    assert isinstance(check_image(trailing, "image/webp", BUDGET), Checked)
