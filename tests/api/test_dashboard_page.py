"""The dashboard's files as the gateway serves them: one page with a strict CSP, never cached;
its script modules and stylesheet with their media types, cached for good under a content hash;
nothing loaded from another origin, no inline script, no HTML built from strings."""

from __future__ import annotations

import hashlib
import re

import httpx

from tests.support import Gateway, project_root

STATIC = project_root() / "app/dashboard/static"

CSP = {
    "default-src 'self'",
    "img-src 'self' data:",  # results come from the gateway's own links
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
}


def csp_directives(response: httpx.Response) -> set[str]:
    return {d.strip() for d in response.headers["content-security-policy"].split(";")}


# What a module names in `import ... from "..."` or `import "..."`: what the browser fetches.
IMPORTS = re.compile(r"""\b(?:from|import)\s*["']([^"']*)["']""")


async def served_modules(gateway: Gateway) -> dict[str, tuple[str, httpx.Response]]:
    """Every module the browser loads for the page: its entry and, transitively, what each
    imports, fetched by the URL the browser would use. Name -> (version in the URL, response)."""
    html = (await gateway.http.get("/dashboard")).text
    [entry] = re.findall(r'<script type="module" src="dashboard/static/([^"]+)">', html)
    modules: dict[str, tuple[str, httpx.Response]] = {}
    pending = [f"./{entry}"]
    while pending:
        specifier = pending.pop()
        # Relative, so it resolves under /dashboard/static/; and pinned to a version.
        match = re.fullmatch(r"\./([\w-]+\.js)\?v=([0-9a-f]{16})", specifier)
        assert match, specifier
        name, version = match.groups()
        if name not in modules:
            response = await gateway.http.get(f"/dashboard/static/{name}", params={"v": version})
            modules[name] = (version, response)
            pending.extend(IMPORTS.findall(response.text))
    return modules


async def test_the_page_answers_with_a_strict_csp_and_is_never_cached(gateway: Gateway) -> None:
    response = await gateway.http.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert csp_directives(response) >= CSP
    # Nothing looser slipped in beside them.
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "unsafe-eval" not in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<title>" in response.text
    assert "{{" not in response.text


async def test_the_script_and_stylesheet_are_served_by_version(gateway: Gateway) -> None:
    html = (await gateway.http.get("/dashboard")).text
    refs = dict(re.findall(r'"dashboard/static/(dashboard\.(?:js|css))\?v=([0-9a-f]{16})"', html))
    assert set(refs) == {"dashboard.js", "dashboard.css"}
    for name, media_type in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        response = await gateway.http.get(f"/dashboard/static/{name}", params={"v": refs[name]})
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == media_type
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in response.headers["cache-control"]
        assert response.content
    # The version follows the content: same content, same version, on every load.
    assert html == (await gateway.http.get("/dashboard")).text


async def test_every_module_the_entry_imports_is_served_as_javascript_by_version(
    gateway: Gateway,
) -> None:
    modules = await served_modules(gateway)
    # Every script in the folder is part of the page: none is left behind, unused.
    assert set(modules) == {path.name for path in STATIC.glob("*.js")}
    for name, (version, response) in modules.items():
        assert response.status_code == 200, name
        assert response.headers["content-type"].split(";")[0] == "text/javascript", name
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "immutable" in response.headers["cache-control"]
        # Each URL names exactly what is served at it, so a module cached for good is never
        # stale: after an upgrade the browser loads new modules, not old ones beside new ones.
        assert version == hashlib.sha256(response.content).hexdigest()[:16], name


async def test_only_the_allow_listed_files_are_served(gateway: Gateway) -> None:
    for name in (
        "nope.js",
        "API.js",
        "api.mjs",
        "dashboard.html",
        "__init__.py",
        "..%2F__init__.py",
        "..%2Fdashboard.py",
    ):
        response = await gateway.http.get(f"/dashboard/static/{name}")
        assert response.status_code == 404, name
        error = response.json()["error"]
        assert error["code"] == "not_found"
        assert error["message"]
        assert error["requestId"] == response.headers["x-request-id"]


async def test_nothing_comes_from_another_origin_and_nothing_is_inline(gateway: Gateway) -> None:
    html = (await gateway.http.get("/dashboard")).text
    modules = {
        name: response.text for name, (_, response) in (await served_modules(gateway)).items()
    }
    css = (await gateway.http.get("/dashboard/static/dashboard.css")).text
    for name, text in {"html": html, **modules, "css": css}.items():
        assert not re.search(r"https?://", text, re.IGNORECASE), name
        # protocol-relative URLs (//cdn.example/...) in an attribute, a string or url(...)
        assert not re.search(r"""[="'(]\s*//[^\s/]""", text), name
        assert "@import" not in text, name
    # Scripts only by src, no inline handlers (the CSP would block them anyway).
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.DOTALL)
    assert scripts
    assert all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE)
    assert "style=" not in html
    # Strings from the API never become markup; secrets never go to lasting storage.
    for name, js in modules.items():
        for banned in (
            r"\.innerHTML\b",
            r"\.outerHTML\b",
            r"insertAdjacentHTML\(",
            r"document\.write",
            r"\beval\(",
            r"new Function\(",
        ):
            assert not re.search(banned, js), (name, banned)
        assert "localStorage." not in js, name
        assert "document.cookie" not in js, name
