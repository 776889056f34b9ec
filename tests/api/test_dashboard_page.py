"""The dashboard's files as the gateway serves them: one page with a strict CSP, never cached;
its script and stylesheet with their media types, cached for good under a content hash; nothing
loaded from another origin, no inline script, no HTML built from strings."""

from __future__ import annotations

import re

import httpx

from tests.support import Gateway

CSP = {
    "default-src 'self'",
    "img-src 'self' data: http: https:",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
}


def csp_directives(response: httpx.Response) -> set[str]:
    return {d.strip() for d in response.headers["content-security-policy"].split(";")}


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


async def test_only_the_allow_listed_files_are_served(gateway: Gateway) -> None:
    for name in (
        "nope.js",
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
    js = (await gateway.http.get("/dashboard/static/dashboard.js")).text
    css = (await gateway.http.get("/dashboard/static/dashboard.css")).text
    for name, text in (("html", html), ("js", js), ("css", css)):
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
    for banned in (
        r"\.innerHTML\b",
        r"\.outerHTML\b",
        r"insertAdjacentHTML\(",
        r"document\.write",
        r"\beval\(",
        r"new Function\(",
    ):
        assert not re.search(banned, js), banned
    assert "localStorage." not in js
    assert "document.cookie" not in js
