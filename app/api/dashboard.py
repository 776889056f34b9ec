"""The ops dashboard: one page, one script and one stylesheet (``app/dashboard/static``), all
served by the gateway itself, with no build step and nothing from another origin.

The page holds no data and no secret: it asks for the admin token, keeps it in the tab's
session storage and reads everything from the admin API with it. So these routes need no auth.
What guards the page is its Content-Security-Policy (scripts and styles from here only, no
inline script, no framing; images may come from anywhere, since thumbnails are Rivya's result
URLs) and that it is never cached.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Response

from app.errors import NotFound

router = APIRouter(tags=["ops"], include_in_schema=False)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: http: https:",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",  # the forms are handled by the script; none is ever submitted
        "object-src 'none'",
    ]
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
# Named by a hash of their content in the page (?v=...), so they may be cached for good.
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
MEDIA_TYPES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


def _read(name: str) -> bytes:
    return (resources.files("app.dashboard") / "static" / name).read_bytes()


@cache
def assets() -> dict[str, Asset]:
    """The script and the stylesheet, read once on first use (not at import: no I/O then)."""
    found = {}
    for name, media_type in MEDIA_TYPES.items():
        body = _read(name)
        found[name] = Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])
    return found


@cache
def page() -> bytes:
    """The HTML, with each asset's reference carrying its version."""
    html = _read("dashboard.html").decode()
    for name, asset in assets().items():
        html = html.replace(f"{{{{version:{name}}}}}", asset.version)
    if "{{" in html:
        raise RuntimeError("dashboard.html names an asset that is not served")
    return html.encode()


@router.get("/dashboard", summary="The ops dashboard")
async def dashboard() -> Response:
    return Response(page(), media_type="text/html", headers=PAGE_HEADERS)


@router.get("/dashboard/static/{name}", summary="The dashboard's script and stylesheet")
async def dashboard_asset(name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise NotFound("No such dashboard file.")
    return Response(asset.body, media_type=asset.media_type, headers=ASSET_HEADERS)
