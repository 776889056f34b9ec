"""What a file really is, judged from its first bytes (never its name or declared type).

A neutral module like the catalogue: the gateway checks uploads with it and the simulator
stands in for Rivya with it."""

from __future__ import annotations

# MP4-family brands that mean "audio only" (iTunes-style .m4a files).
_AUDIO_MP4_BRANDS = (b"M4A ", b"M4B ", b"M4P ")


def sniff(data: bytes, kind: str) -> str | None:
    """The MIME type of ``data`` read as a file of ``kind``; None when not recognised.

    ``kind`` only disambiguates containers that hold either audio or video (MP4, WebM).
    """
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"  # recognised so the answer can say it is not accepted
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "audio/mpeg"  # an ID3 tag, or an MPEG audio frame sync
    if data.startswith(b"OggS"):
        return "audio/ogg"
    if data.startswith(b"fLaC"):
        return "audio/flac"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _AUDIO_MP4_BRANDS or kind == "audio":
            return "audio/mp4"
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm" if kind == "audio" else "video/webm"
    return None
