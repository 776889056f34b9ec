"""Result images: a gradient (or the uploaded reference) with the prompt written on it.

They are placeholders a person can read: the prompt, the aspect ratio, the model and the task
id are on the picture, and an edit visibly starts from the uploaded reference.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Colour pairs for the background gradient (top-left → bottom-right): calm, and never pure
# red, green or blue, so a solid-colour reference is easy to tell apart from them.
_PALETTES: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((58, 28, 113), (215, 109, 119)),
    ((15, 32, 39), (44, 83, 100)),
    ((67, 97, 238), (114, 9, 183)),
    ((19, 78, 94), (113, 178, 128)),
    ((238, 156, 167), (255, 221, 225)),
    ((35, 37, 38), (65, 67, 69)),
    ((255, 175, 123), (215, 109, 119)),
    ((30, 60, 114), (42, 82, 152)),
)
_TEXT = (255, 255, 255)
_SHADOW = (0, 0, 0)
_BAND = (0, 0, 0, 150)


@dataclass(frozen=True)
class RenderSpec:
    prompt: str
    aspect_ratio: str
    model_id: str
    task_id: str
    output_format: str  # "jpeg" or "png"
    long_edge: int
    reference: bytes | None = None


def output_size(aspect_ratio: str, long_edge: int) -> tuple[int, int]:
    """Width and height for ``"W:H"`` with the longer side ``long_edge`` pixels."""
    try:
        w_text, h_text = aspect_ratio.split(":")
        ratio_w, ratio_h = float(w_text), float(h_text)
    except ValueError:
        ratio_w = ratio_h = 1.0
    if ratio_w <= 0 or ratio_h <= 0:
        ratio_w = ratio_h = 1.0
    if ratio_w >= ratio_h:
        return long_edge, max(1, round(long_edge * ratio_h / ratio_w))
    return max(1, round(long_edge * ratio_w / ratio_h)), long_edge


def render(spec: RenderSpec) -> bytes:
    """The encoded result image (JPEG or PNG)."""
    size = output_size(spec.aspect_ratio, spec.long_edge)
    background = _reference_background(spec.reference, size) if spec.reference else None
    image = background if background is not None else _gradient(size, spec.task_id)
    _caption(image, spec, band=background is not None)
    buffer = io.BytesIO()
    if spec.output_format == "png":
        image.save(buffer, format="PNG")
    else:
        image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _gradient(size: tuple[int, int], seed: str) -> Image.Image:
    start, end = _PALETTES[hashlib.sha256(seed.encode()).digest()[0] % len(_PALETTES)]
    vertical = Image.linear_gradient("L").resize(size)
    horizontal = Image.linear_gradient("L").transpose(Image.Transpose.TRANSPOSE).resize(size)
    diagonal = ImageChops.add(vertical, horizontal, scale=2.0)  # (x + y) / 2: a diagonal blend
    return Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), diagonal)


def _reference_background(data: bytes, size: tuple[int, int]) -> Image.Image | None:
    """The upload cropped to fill the output; None when it cannot be decoded as an image."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            upright = ImageOps.exif_transpose(opened) or opened
            return ImageOps.fit(upright.convert("RGB"), size, Image.Resampling.LANCZOS)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _caption(image: Image.Image, spec: RenderSpec, *, band: bool) -> None:
    width, height = image.size
    margin = max(4, width // 24)
    big = ImageFont.load_default(size=max(10, spec.long_edge // 18))
    small = ImageFont.load_default(size=max(8, spec.long_edge // 40))
    draw = ImageDraw.Draw(image)
    footer = [f"{spec.aspect_ratio}  |  {spec.model_id}", spec.task_id]
    big_line = _line_height(draw, big)
    small_line = _line_height(draw, small)
    footer_height = small_line * len(footer)
    # With a reference the text sits on a band over the lower part, leaving the upload visible.
    text_room = (height * 2 // 5 if band else height) - footer_height - 3 * margin
    max_lines = max(1, text_room // big_line)
    lines = _wrap(draw, spec.prompt, big, width - 2 * margin, max_lines)
    block = big_line * len(lines)
    if band:
        band_top = height - (block + footer_height + 3 * margin)
        overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
        ImageDraw.Draw(overlay).rectangle((0, band_top, width, height), fill=_BAND)
        image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))
        draw = ImageDraw.Draw(image)
        top = band_top + margin
    else:
        top = max(margin, (height - footer_height - block) // 2)
    for index, line in enumerate(lines):
        line_width = draw.textlength(line, font=big)
        x = (width - line_width) / 2
        draw.text(
            (x, top + index * big_line),
            line,
            font=big,
            fill=_TEXT,
            stroke_width=_stroke(big),
            stroke_fill=_SHADOW,
        )
    footer_top = height - margin - footer_height
    for index, line in enumerate(footer):
        position = (margin, footer_top + index * small_line)
        draw.text(
            position, line, font=small, fill=_TEXT, stroke_width=_stroke(small), stroke_fill=_SHADOW
        )


def _stroke(font: Font) -> int:
    # A thin dark outline keeps white text legible on any background.
    size = font.size if isinstance(font, ImageFont.FreeTypeFont) else 10
    return max(1, int(size) // 14)


def _line_height(draw: ImageDraw.ImageDraw, font: Font) -> int:
    _, top, _, bottom = draw.textbbox((0, 0), "Hg", font=font)
    glyphs = int(bottom - top)
    return glyphs + max(2, glyphs // 3)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: int, max_lines: int
) -> list[str]:
    """Greedy word wrap; over-long words are split; the last line ends in "..." if cut."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        for piece in _split_long(draw, word, font, max_width):
            candidate = f"{current} {piece}" if current else piece
            if draw.textlength(candidate, font=font) <= max_width:
                current = candidate
            else:
                if current:
                    lines.append(current)
                current = piece
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and draw.textlength(last + "...", font=font) > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "..."
    return lines or [""]


def _split_long(draw: ImageDraw.ImageDraw, word: str, font: Font, max_width: int) -> list[str]:
    if draw.textlength(word, font=font) <= max_width:
        return [word]
    pieces: list[str] = []
    current = ""
    for char in word:
        if current and draw.textlength(current + char, font=font) > max_width:
            pieces.append(current)
            current = char
        else:
            current += char
    return [*pieces, current] if current else pieces
