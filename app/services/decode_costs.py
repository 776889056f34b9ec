"""What decoding an image takes in memory, priced from its header alone for the worst case its
coding allows: measured against libjpeg-turbo, libpng, libwebp and Pillow, with a margin.

``image_layout.py`` reads the header, with bounded work, and prices the decode here; the price
is checked against the workers' budget before any decoder runs (``image_check.py``).
"""

from __future__ import annotations

# The most text (tEXt, zTXt, iTXt: inflated) Pillow keeps of one PNG (its own cap is 64 MB).
PNG_TEXT_BYTES = 1_048_576
# Room a decode takes beyond its image buffers (decoder state, row buffers, the library).
DECODE_OVERHEAD = 4 * 1_048_576


def jpeg_decode_bytes(
    width: int,
    height: int,
    sampling: tuple[tuple[int, int], ...],
    *,
    precision: int,
    lossless: bool,
    streams: bool,
) -> int:
    """Memory libjpeg-turbo and Pillow take to decode a frame of that size, with that
    (horizontal, vertical) sampling per component and bits per sample. ``streams``: decoded a
    row of blocks at a time (one interleaved scan of a sequential frame), not buffered whole."""
    bands = len(sampling)
    max_h = max(h for h, _ in sampling)
    max_v = max(v for _, v in sampling)
    # Pillow's image at 1/8 scale (4 bytes a pixel for every mode a JPEG decodes to) ...
    draft = -(-width // 8) * -(-height // 8) * 4
    # ... and libjpeg's rows of blocks for one row of MCUs: 8 rows per vertical sample, full width.
    rows = -(-width // 8) * 8 * 8 * max_v * bands * 2
    if streams:
        return draft + rows + DECODE_OVERHEAD
    sample_bytes = 1 if precision <= 8 else 2
    if lossless:
        # No DCT, so no scaling: every sample at full size, in libjpeg and again in Pillow.
        return width * height * (bands * sample_bytes + 4) + rows + DECODE_OVERHEAD
    # Every DCT coefficient of the frame (2 bytes each, 64 per 8x8 block), per component at its
    # own sampling, padded to whole MCUs: what a buffered decode holds before any output.
    mcus_across = -(-width // (8 * max_h))
    mcus_down = -(-height // (8 * max_v))
    blocks = sum(mcus_across * h * mcus_down * v for h, v in sampling)
    return blocks * 64 * 2 + draft + rows + DECODE_OVERHEAD


def png_decode_bytes(width: int, height: int, *, samples: int, depth: int) -> int:
    """``samples`` per pixel (by colour type), of ``depth`` bits each."""
    # Pillow's image (at most 4 bytes a pixel), the decoder's two rows at the file's depth, and
    # the text chunks Pillow inflates (at most PNG_TEXT_BYTES: image_check.py sets Pillow's cap).
    row = -(-width * samples * depth // 8) + 1
    return width * height * 4 + 2 * row + PNG_TEXT_BYTES + DECODE_OVERHEAD


def webp_decode_bytes(width: int, height: int) -> int:
    # libwebp decodes into buffers of its own before Pillow copies the picture out: about 17
    # bytes a pixel, lossy or lossless, as measured.
    return width * height * 17 + DECODE_OVERHEAD
