"""The ops dashboard: one page, its script (ES modules, ``dashboard.js`` the entry) and one
stylesheet (``app/dashboard/static``), all served by the gateway itself, with no build step and
nothing from another origin.

The page holds no data and no secret: it asks for the admin token, keeps it in the tab's
session storage and reads everything from the admin API with it. So these routes need no auth.
What guards the page is its Content-Security-Policy (scripts and styles from here only, no
inline script, no framing; images may come from anywhere, since thumbnails are Rivya's result
URLs) and that it is never cached.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath

from fastapi import APIRouter, Response

from app.errors import NotFound

router = APIRouter(tags=["ops"], include_in_schema=False)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",  # results come from the gateway's own links
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
# Named by a hash of their content (?v=...) wherever they are referenced, in the page or in an
# importing module, so they may be cached for good.
ASSET_HEADERS = {
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
# Every file in static/ with one of these suffixes is served, by its name; nothing else is.
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}
# A module's import of another, `from "./api.js"` (or a bare `import "./api.js"`): by a relative
# URL, so it resolves under /dashboard/static/ whatever prefix the gateway is served under.
IMPORT = re.compile(r'(\b(?:from|import)\s*)"\./([^"/?#]+)"')


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str


def _static() -> Traversable:
    return resources.files("app.dashboard") / "static"


def versioned(sources: Mapping[str, bytes]) -> dict[str, Asset]:
    """Each file as served, under a version that is a hash of what is served.

    A module's imports are pinned to the imported modules' versions (``"./api.js"`` becomes
    ``"./api.js?v=..."``): cached for good, a module must change URL whenever it changes, and
    since an import's version is part of the importing module, a change anywhere changes the
    version of every module that reaches it, up to the entry the page names. So after an upgrade
    the browser loads the new modules, never a mix of old and new ones. This needs the imports
    to form no cycle, and each to name a served file: anything else is refused here.
    """
    found: dict[str, Asset] = {}

    def serve(name: str, importers: tuple[str, ...]) -> str:
        if name in found:
            return found[name].version
        if name in importers:
            cycle = " -> ".join((*importers[importers.index(name) :], name))
            raise RuntimeError(f"the dashboard's modules import each other in a cycle: {cycle}")
        if name not in sources:
            raise RuntimeError(f"{importers[-1]} imports {name}, which is not served")
        body = sources[name]
        suffix = PurePosixPath(name).suffix
        if suffix == ".js":
            text = IMPORT.sub(
                lambda m: f'{m[1]}"./{m[2]}?v={serve(m[2], (*importers, name))}"', body.decode()
            )
            body = text.encode()
        version = hashlib.sha256(body).hexdigest()[:16]
        found[name] = Asset(body, MEDIA_TYPES[suffix], version)
        return version

    for name in sources:
        serve(name, ())
    return found


@cache
def assets() -> dict[str, Asset]:
    """The scripts and the stylesheet, read once on first use (not at import: no I/O then)."""
    return versioned(
        {
            entry.name: entry.read_bytes()
            for entry in _static().iterdir()
            if entry.is_file() and PurePosixPath(entry.name).suffix in MEDIA_TYPES
        }
    )


@cache
def page() -> bytes:
    """The HTML, with each asset's reference carrying its version."""
    html = (_static() / "dashboard.html").read_bytes().decode()
    for name, asset in assets().items():
        html = html.replace(f"{{{{version:{name}}}}}", asset.version)
    if "{{" in html:
        raise RuntimeError("dashboard.html names an asset that is not served")
    return html.encode()


@router.get("/dashboard", summary="The ops dashboard")
async def dashboard() -> Response:
    return Response(page(), media_type="text/html", headers=PAGE_HEADERS)


@router.get("/dashboard/static/{name}", summary="The dashboard's scripts and stylesheet")
async def dashboard_asset(name: str) -> Response:
    asset = assets().get(name)
    if asset is None:
        raise NotFound("No such dashboard file.")
    return Response(asset.body, media_type=asset.media_type, headers=ASSET_HEADERS)
