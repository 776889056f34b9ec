"""The browser example (``examples/browser``) in a real headless Chromium against real processes:
redis-server, the simulator, a gateway with browser tokens, and the example's backend twice, on
an origin the team allows and on one it does not. The allowed page gets its image straight
from the gateway with a browser token; the other is blocked by CORS before anything reaches
Rivya; and the team key never reaches the browser.

Screenshots of both pages are kept in ``TEST_ARTIFACTS_DIR`` (default ``.artifacts/screenshots``).
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, Request, expect

from tests.e2e.test_dashboard import PNG_MAGIC, artifacts_dir, browser
from tests.e2e.test_processes import ADMIN, Stack, _wait_ready, running_stack
from tests.support import RedisServer, free_port, project_root, subprocess_env

pytestmark = pytest.mark.e2e

__all__ = ["browser"]  # the dashboard test's Chromium fixture, used here too

TOKEN_SECRET = "e2e-browser-token-secret-4f1d9a7c2b6e8035"  # HS256: 32+ characters
BACKEND = project_root() / "examples/browser/backend.py"
SUBJECT = "demo-user"  # the example backend's demo end user
TIMEOUT_MS = 30_000
BLOCKED = "blocked: this origin may not call the gateway"


@pytest.fixture
def stack(redis_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(redis_server, tmp_path, GATEWAY_TOKEN_SECRET=TOKEN_SECRET)


@contextmanager
def example_backend(port: int, gateway_url: str, team_key: str, log: Path) -> Iterator[str]:
    """``examples/browser/backend.py`` as its README runs it, on ``port``; its URL (origin)."""
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, str(BACKEND), "--port", str(port)],
            env=subprocess_env(GATEWAY_URL=gateway_url, TEAM_KEY=team_key),
            cwd=log.parent,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(f"{url}/config", process, log)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def generate(page: Page, url: str, prompt: str) -> None:
    page.goto(url)
    page.fill("#prompt", prompt)
    page.click("#generate")


def test_the_example_page_gets_an_image_with_a_token_and_other_origins_are_blocked(
    stack: Stack, browser: Browser
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with ExitStack() as cleanup:
        http = cleanup.enter_context(httpx.Client(base_url=stack.gw_url, timeout=30))
        allowed_port = free_port()
        allowed_origin = f"http://127.0.0.1:{allowed_port}"
        created = http.post(
            "/admin/teams", json={"id": "web", "cors_origins": [allowed_origin]}, headers=admin
        )
        assert created.status_code == 201, created.text
        issued = http.post("/admin/teams/web/keys", json={"name": "example"}, headers=admin)
        assert issued.status_code == 201, issued.text
        key: str = issued.json()["key"]

        # Origin A: the example on the allowed port; origin B: on another one.
        url_a = cleanup.enter_context(
            example_backend(allowed_port, stack.gw_url, key, stack.tmp / "backend-a.log")
        )
        url_b = cleanup.enter_context(
            example_backend(free_port(), stack.gw_url, key, stack.tmp / "backend-b.log")
        )
        assert url_a == allowed_origin
        assert url_b != allowed_origin

        context = browser.new_context(viewport={"width": 1024, "height": 768})
        cleanup.callback(context.close)
        requests: list[Request] = []
        failed: list[Request] = []
        page_errors: list[str] = []
        pages: list[Page] = []
        for _ in range(2):
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.on("request", lambda request: requests.append(request))
            page.on("requestfailed", lambda request: failed.append(request))
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            pages.append(page)
        page_a, page_b = pages

        # A: a token from its backend, then the gateway directly; the image shows.
        generate(page_a, url_a, "a lighthouse at dusk, oil painting")
        result_a = page_a.locator("#result")
        expect(result_a).to_be_visible(timeout=TIMEOUT_MS)
        expect(page_a.locator("#error")).to_be_hidden()
        tasks = http.get("/admin/tasks", headers=admin)
        assert tasks.status_code == 200, tasks.text
        [task] = tasks.json()["data"]
        assert task["team"] == "web"
        assert task["status"] == "succeeded"
        # The image is the gateway's signed link to the task's result (each read gives a fresh
        # one), loaded by the browser from another origin with no header.
        image_url = task["result"]["primary_url"]
        link = re.compile(rf"^{re.escape(stack.gw_url)}/v1/results/{task['id']}/0\?")
        assert link.match(image_url), image_url
        expect(result_a).to_have_attribute("src", link)
        picture = Image.open(io.BytesIO(httpx.get(image_url, timeout=10).content))
        # Decoded by the browser: the simulator's very image, at its own size.
        expect(result_a).to_have_js_property("complete", True, timeout=TIMEOUT_MS)
        expect(result_a).to_have_js_property("naturalWidth", picture.width)
        assert picture.width > 0
        # The task is the demo subject's: a token of that subject reads it, another does not.
        assert _read_as(http, key, SUBJECT, task["id"]) == 200
        assert _read_as(http, key, "someone-else", task["id"]) == 404

        # B: the same page from an origin not in cors_origins; the browser's fetch fails.
        generate(page_b, url_b, "a red bicycle")
        expect(page_b.locator("#error")).to_have_text(BLOCKED, timeout=TIMEOUT_MS)
        expect(page_b.locator("#result")).to_be_hidden()
        assert page_b.locator("#result").get_attribute("src") is None
        refused = [r for r in failed if r.url.startswith(f"{stack.gw_url}/v1/images")]
        assert refused, [r.url for r in failed]
        assert all(r.frame.page is page_b for r in refused)
        # B's attempt reached the gateway's CORS check only: still one task, A's.
        after = http.get("/admin/tasks", headers=admin).json()["data"]
        assert [t["id"] for t in after] == [task["id"]]

        # The team key never reached the browser: not in the pages, any request the pages
        # made (URL, headers, body) or their storage. A's gateway calls carried a token.
        for page in pages:
            assert key not in page.content()
            assert page.evaluate("localStorage.length") == 0
            assert page.evaluate("sessionStorage.length") == 0
        assert context.cookies() == []
        assert requests
        for request in requests:
            assert key not in request.url
            assert all(key not in value for value in request.headers.values()), request.url
            assert all(key not in value for value in request.all_headers().values())
            assert key not in (request.post_data or "")
        to_gateway = [
            r
            for r in requests
            if r.url.startswith(f"{stack.gw_url}/v1/images") and r.frame.page is page_a
        ]
        assert to_gateway
        for request in to_gateway:
            authorization = request.all_headers()["authorization"]
            assert authorization.startswith("Bearer ey")  # a JWT, not the rgw_ key
        # Each page minted its token through its own backend.
        minted = [r.url for r in requests if r.method == "POST" and r.url.endswith("/token")]
        assert sorted(minted) == sorted([f"{url_a}/token", f"{url_b}/token"])
        assert page_errors == []

        out = artifacts_dir()
        for name, page in (("allowed", page_a), ("blocked", page_b)):
            shot = out / f"browser-example-{name}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.read_bytes().startswith(PNG_MAGIC)

        # The team key revoked: the backend passes the gateway's refusal on as it was said
        # (status, code, message), not as a bare 502.
        revoked = http.post("/admin/keys/revoke", json={"key": key}, headers=admin)
        assert revoked.status_code == 200, revoked.text
        deadline = time.monotonic() + 10
        answer = httpx.post(f"{url_a}/token", timeout=10)
        while answer.status_code in (200, 201) and time.monotonic() < deadline:  # its key cache
            answer = httpx.post(f"{url_a}/token", timeout=10)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "api_key_revoked"


def _read_as(http: httpx.Client, key: str, subject: str, task_id: str) -> int:
    minted = http.post(
        "/v1/tokens",
        json={"subject": subject, "ttl_seconds": 60},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert minted.status_code == 201, minted.text
    token: str = minted.json()["token"]
    read = http.get(f"/v1/images/{task_id}", headers={"Authorization": f"Bearer {token}"})
    return read.status_code
