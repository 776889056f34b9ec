"""The ops dashboard in a real headless Chromium (Debian's, driven by Playwright) against real
processes: redis-server, the simulator and a gateway. What the page shows must equal what the
admin API says; its admin actions must change what the API says; and no secret may outlive the
tab's session storage (no localStorage, no cookie, no URL, nothing in the page after a reload).

Screenshots at 1440x900 and 1366x768 are kept as artefacts in ``TEST_ARTIFACTS_DIR`` (default
``.artifacts/screenshots``)."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Page,
    Response,
    Route,
    expect,
    sync_playwright,
)

from tests.e2e.test_processes import ADMIN, Stack, running_stack
from tests.support import RedisServer, project_root

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 15_000
TOKEN_KEY = "rivya-gateway.admin-token"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def stack(redis_url: str, redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    yield from running_stack(redis_server, tmp_path)


@pytest.fixture
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield launched
        finally:
            launched.close()


def artifacts_dir() -> Path:
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR") or project_root() / ".artifacts/screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Admin:
    """The admin API over plain httpx: the figures the page must agree with."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def send(self, method: str, path: str, body: Any, status: int = 200) -> Any:
        response = self.http.request(method, path, json=body)
        assert response.status_code == status, response.text
        return response.json()


def seed(stack: Stack, admin: Admin) -> list[dict[str, Any]]:
    """Two teams, three tasks that succeed (one image each at the simulator) and one refusal;
    returns the tasks, once the books are closed (nothing reserved, nothing in flight)."""
    admin.send(
        "POST", "/admin/teams", {"id": "design", "name": "Design", "budget_credits": 800}, 201
    )
    admin.send(
        "POST",
        "/admin/teams",
        {"id": "search", "name": "Search", "budget_credits": 4, "budget_period": "total"},
        201,
    )
    keys = {
        team: admin.send("POST", f"/admin/teams/{team}/keys", {"name": "seed"}, 201)["key"]
        for team in ("design", "search")
    }
    tasks = []
    with httpx.Client(base_url=stack.gw_url, timeout=30) as http:
        for team, model, prompt in (
            ("design", "flux-kontext-max", "a lighthouse at dusk"),
            ("design", "flux-kontext-max", "a red bicycle"),
            ("search", "flux-kontext-pro", "a blue door"),
        ):
            created = http.post(
                "/v1/images",
                params={"wait": 20},
                json={"prompt": prompt, "model": model, "aspect_ratio": "1:1"},
                headers={"Authorization": f"Bearer {keys[team]}"},
            )
            assert created.status_code == 200, created.text
            assert created.json()["status"] == "succeeded"
            tasks.append(created.json())
        refused = http.post(
            "/v1/images",
            json={"prompt": "over budget", "model": "flux-kontext-pro"},
            headers={"Authorization": f"Bearer {keys['search']}"},
        )
        assert refused.status_code == 402, refused.text
    # The settler settles and copies the results in the background: wait for the books to
    # close and the copies to land (a condition, polled).
    deadline = time.monotonic() + 20
    while True:
        totals = admin.get("/admin/spend", period="current")["totals"]
        custody = {t["result"]["custody"] for t in admin.get("/admin/tasks")["data"]}
        if (totals["reserved_credits"], totals["in_flight"]) == (0, 0) and custody == {"kept"}:
            break
        assert time.monotonic() < deadline, (totals, custody)
        time.sleep(0.1)
    return tasks


def sign_in(page: Page, token: str) -> None:
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", token)
    page.press("#token", "Enter")


def test_the_dashboard_shows_the_apis_figures_and_keeps_no_secret(
    stack: Stack, browser: Browser
) -> None:
    expect.set_options(timeout=TIMEOUT_MS)
    with httpx.Client(
        base_url=stack.gw_url, timeout=30, headers={"Authorization": f"Bearer {ADMIN}"}
    ) as http:
        admin = Admin(http)
        tasks = seed(stack, admin)

        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        seen_urls: list[str] = []
        page.on("request", lambda request: seen_urls.append(request.url))
        page.on("framenavigated", lambda frame: seen_urls.append(frame.url))
        dialogs: list[tuple[str, str]] = []

        def accept(dialog: Dialog) -> None:
            dialogs.append((dialog.type, dialog.message))
            dialog.accept()

        page.on("dialog", accept)
        page_errors: list[str] = []
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        csp_violations: list[str] = []
        console_errors: list[str] = []

        def console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                csp_violations.append(message.text)
            if message.type == "error":
                console_errors.append(message.text)

        page.on("console", console)
        # The dashboard's own files as the browser got them: name -> (status, media type).
        static: dict[str, tuple[int, str]] = {}

        def response(answer: Response) -> None:
            path = urlsplit(answer.url).path
            if path.startswith("/dashboard/static/"):
                media_type = answer.headers.get("content-type", "").split(";")[0]
                static[path.removeprefix("/dashboard/static/")] = (answer.status, media_type)

        page.on("response", response)

        # The prompt first; then the page loads with the token.
        page.goto(f"{stack.gw_url}/dashboard")
        expect(page.locator("#app")).to_be_hidden()
        sign_in(page, ADMIN)
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#login")).to_be_hidden()
        expect(page.locator("#updated-at")).to_have_attribute(
            "data-updated", re.compile(r"^\d{4}-")
        )
        # Every module of the script, each imported by another from the entry on, was loaded as
        # JavaScript (a module with another media type is refused, and the page would not draw).
        scripts = {path.name for path in (project_root() / "app/dashboard/static").glob("*.js")}
        assert {name for name in static if name.endswith(".js")} == scripts
        for name in scripts:
            assert static[name] == (200, "text/javascript"), name

        # Bars: each team's spent and budget as GET /admin/spend has them.
        spend = admin.get("/admin/spend", period="current")
        assert {row["team"] for row in spend["teams"]} == {"design", "search"}
        for row in spend["teams"]:
            bar = page.locator(f'#budgets .budget[data-team="{row["team"]}"]')
            expect(bar).to_have_attribute("data-spent", str(row["spent_credits"]))
            expect(bar).to_have_attribute("data-budget", str(row["budget_credits"]))
            expect(bar.locator(".spent")).to_have_text(str(row["spent_credits"]))
            expect(bar.locator(".budget-value")).to_have_text(str(row["budget_credits"]))
        rows = {row["team"]: row for row in spend["teams"]}
        # flux-kontext-max is 8 credits a task, flux-kontext-pro 4
        assert (rows["design"]["spent_credits"], rows["search"]["spent_credits"]) == (16, 4)
        expect(page.locator("#total-spent")).to_have_attribute("data-credits", "20")
        # The copies of the three results, as the spend report counts them.
        kept = spend["totals"]["results"]
        assert kept["objects"] == 3
        expect(page.locator("#results-kept")).to_have_attribute("data-bytes", str(kept["bytes"]))
        expect(page.locator("#results-kept-note")).to_have_text("3 copies in the results store")

        # Refusals today (UTC), as the API counts them (search's refused create among them).
        today = admin.get("/admin/spend", period=time.strftime("%Y-%m-%d", time.gmtime()))
        refusals = sum(today["totals"]["refusals"].values())
        assert refusals >= 1
        expect(page.locator("#total-refusals")).to_have_attribute("data-count", str(refusals))
        search_today = next(row for row in today["teams"] if row["team"] == "search")
        search_refusals = sum(search_today["refusals"].values())
        expect(page.locator('#refusals tr[data-team="search"]')).to_have_attribute(
            "data-total", str(search_refusals)
        )

        # The 30-day chart: today's column holds today's total.
        daily = admin.get("/admin/spend/daily", days=30)
        assert len(daily["days"]) == 30
        today = page.locator(f'#daily-chart .day[data-day="{daily["days"][-1]}"]')
        expect(today).to_have_attribute("data-total", str(daily["totals"][-1]))
        expect(page.locator("#daily-chart .day")).to_have_count(30)
        with page.expect_download() as download:
            page.click("#daily-csv")
        csv = Path(download.value.path()).read_text()
        assert "design" in csv
        assert ADMIN not in download.value.url

        # A thumbnail of a succeeded task: the gateway's signed link to its copy, loaded in
        # the browser with no header, after Rivya has dropped its own URL.
        task = tasks[0]
        httpx.post(f"{stack.sim_url}/_sim/faults", json={"result_url_seconds": 0})
        thumb = page.locator(f'#tasks-recent [data-task="{task["id"]}"] img.thumb')
        expect(thumb).to_have_attribute(
            "src", re.compile(rf"^{re.escape(stack.gw_url)}/v1/results/{task['id']}/0\?")
        )
        thumb.scroll_into_view_if_needed()
        page.wait_for_function(
            "id => { const i = document.querySelector(`[data-task='${id}'] img.thumb`);"
            " return i !== null && i.complete && i.naturalWidth > 0; }",
            arg=task["id"],
        )
        assert thumb.evaluate("img => img.naturalWidth") > 0

        # Rivya's balance and the circuit as GET /admin/upstream has them.
        upstream = admin.get("/admin/upstream")
        balance = upstream["rivya"]["current_credits"]
        assert isinstance(balance, int)
        expect(page.locator("#rivya-balance")).to_have_attribute("data-credits", str(balance))
        expect(page.locator("#rivya-circuit")).to_have_attribute(
            "data-state", upstream["rivya"]["circuit"]
        )
        expect(page.locator("#rivya-circuit")).to_have_text(
            upstream["rivya"]["circuit"].replace("_", " ")
        )

        # Admin action: set a budget (behind a confirm); the API has it, the bar shows it.
        page.select_option("#action-team", "search")
        page.fill("#budget-input", "250")
        page.click("#budget-submit")
        expect(page.locator("#action-status")).to_contain_text("250")
        assert admin.get("/admin/teams/search")["budget_credits"] == 250
        expect(page.locator('#budgets .budget[data-team="search"]')).to_have_attribute(
            "data-budget", "250"
        )

        # Admin action: issue a key; it is shown once, then revoked (behind a confirm).
        page.select_option("#action-team", "design")
        page.fill("#key-name", "dashboard-e2e")
        page.click("#key-submit")
        expect(page.locator("#new-key")).to_be_visible()
        expect(page.locator("#new-key-value")).to_have_text(re.compile(r"^rgw_"))
        key = page.locator("#new-key-value").inner_text()
        key_id = page.locator("#new-key-id").inner_text()
        assert key_id.removeprefix("key_") in key  # the key names its id
        models = httpx.get(
            f"{stack.gw_url}/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert models.status_code == 200  # the key shown is the key issued
        listed = page.locator(f'#keys li[data-key-id="{key_id}"]')
        expect(listed).to_have_attribute("data-revoked", "false")
        assert page.content().count(key) == 1  # in the "copy it now" box only
        page.click(f'#keys button[data-revoke="{key_id}"]')
        expect(listed).to_have_attribute("data-revoked", "true")
        [revoked] = [
            k for k in admin.get("/admin/teams/design/keys")["data"] if k["key_id"] == key_id
        ]
        assert revoked["revoked_at"] is not None
        assert [kind for kind, _ in dialogs] == ["confirm"] * 3
        assert "search" in dialogs[0][1]
        assert "250" in dialogs[0][1]
        assert "design" in dialogs[1][1]
        assert key_id in dialogs[2][1]
        page.click("#new-key-hide")
        expect(page.locator("#new-key")).to_be_hidden()
        assert key not in page.content()

        # Screenshots for a person to look at, at both laptop sizes; no horizontal scrolling.
        out = artifacts_dir()
        for width, height in ((1440, 900), (1366, 768)):
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top
            page.mouse.move(0, 0)  # no hover highlight left over from the clicks
            expect(page.locator("#updated-at")).to_be_visible()
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            shot = out / f"dashboard-{width}x{height}.png"
            page.screenshot(path=str(shot), full_page=True)
            data = shot.read_bytes()
            assert data.startswith(PNG_MAGIC)
            assert len(data) > 10_000

        # Nothing secret outlives the tab: after a reload the token is in sessionStorage only.
        page.reload()
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator('#budgets .budget[data-team="search"]')).to_be_visible()
        html = page.content()
        assert ADMIN not in html
        assert key not in html
        assert page.evaluate("localStorage.length") == 0
        assert page.evaluate("document.cookie") == ""
        assert context.cookies() == []
        assert page.evaluate("Object.keys(sessionStorage)") == [TOKEN_KEY]
        assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == ADMIN
        assert seen_urls
        assert not [url for url in seen_urls if ADMIN in url or key in url]
        # Nothing went wrong in the page so far (the wrong token below is a 401, which Chromium
        # logs as an error).
        assert console_errors == []

        # Signing out forgets the token; a wrong one brings the prompt back with the error.
        page.click("#sign-out")
        expect(page.locator("#login")).to_be_visible()
        assert page.evaluate("sessionStorage.length") == 0
        sign_in(page, "not-the-admin-token")
        expect(page.locator("#login-error")).to_be_visible()
        expect(page.locator("#login-error")).to_contain_text("api_key_invalid")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()
        assert page.evaluate("sessionStorage.length") == 0
        assert "not-the-admin-token" not in page.url

        assert page_errors == []
        assert csp_violations == []
        context.close()


def test_a_result_image_that_no_longer_loads_leaves_its_card_intact(
    stack: Stack, browser: Browser
) -> None:
    # A result past its team's retention (or never copied, and gone at Rivya) no longer loads:
    # its link answers an error. Each becomes a tile of the image's size; the text stays put.
    with httpx.Client(base_url=stack.gw_url, headers={"Authorization": f"Bearer {ADMIN}"}) as h:
        tasks = seed(stack, Admin(h))
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    expired: list[str] = []

    def forbid(route: Route) -> None:
        expired.append(route.request.url)
        route.fulfill(status=403, content_type="application/xml", body="<Error>Expired</Error>")

    context.route(re.compile(r".*/v1/results/.*"), forbid)
    page = context.new_page()
    page.goto(f"{stack.gw_url}/dashboard")
    sign_in(page, ADMIN)
    for task in tasks:
        card = page.locator(f'#tasks-recent [data-task="{task["id"]}"]')
        card.scroll_into_view_if_needed()
        tile = card.locator(".thumb.placeholder")
        expect(tile).to_have_text("no image", timeout=TIMEOUT_MS)
        expect(card.locator("img")).to_have_count(0)
        box = tile.bounding_box()
        assert box is not None
        assert (box["width"], box["height"]) == (64, 64)
        # Status, team, model, credits and id are each on their own line, inside the card.
        expect(card.locator(".badge")).to_have_text("succeeded")
        expect(card.locator(".task-meta")).to_contain_text(task["model"])
        expect(card.locator(".task-meta")).to_contain_text(task["id"])
        # Its time in UTC with the date, as the rest of the page gives times.
        created = task["created_at"][:16].replace("T", " ")
        expect(card.locator("time")).to_have_text(f"{created} UTC")
        card_box, meta_box = card.bounding_box(), card.locator(".task-meta").bounding_box()
        assert card_box is not None
        assert meta_box is not None
        assert meta_box["x"] >= box["x"] + box["width"]  # beside the tile, not under its text
        assert meta_box["y"] + meta_box["height"] <= card_box["y"] + card_box["height"]
    assert {url.split("/v1/results/")[1].split("/")[0] for url in expired} >= {
        t["id"] for t in tasks
    }
    page.screenshot(path=str(artifacts_dir() / "dashboard-expired-results.png"), full_page=True)
    context.close()


def test_a_leaked_key_pasted_into_the_page_is_revoked_and_never_shown(
    stack: Stack, browser: Browser
) -> None:
    with httpx.Client(base_url=stack.gw_url, headers={"Authorization": f"Bearer {ADMIN}"}) as h:
        admin = Admin(h)
        admin.send("POST", "/admin/teams", {"id": "design"}, 201)
        issued = admin.send(
            "POST",
            "/admin/teams/design/keys",
            {"name": "leaky", "budget_credits": 16, "budget_period": "day"},
            201,
        )
        made = httpx.post(
            f"{stack.gw_url}/v1/images",
            json={"prompt": "a lighthouse", "client_request_id": "lighthouse-7"},
            headers={"Authorization": f"Bearer {issued['key']}"},
        )
        assert made.status_code == 202, made.text
        # A webhook of the team's, which ops stopped: the page says where it calls, and why not.
        hook = httpx.post(
            f"{stack.gw_url}/api/v1/webhooks",
            json={"name": "orders", "url": "https://93.184.216.34/hook"},
            headers={"Authorization": f"Bearer {issued['key']}"},
        )
        assert hook.status_code == 201, hook.text
        hook_id = hook.json()["id"]
        admin.send("PATCH", f"/admin/teams/design/webhooks/{hook_id}", {"enabled": False}, 200)
        context = browser.new_context()
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(f"{stack.gw_url}/dashboard")
        sign_in(page, ADMIN)
        listed = page.locator(f'#keys li[data-key-id="{issued["key_id"]}"]')
        expect(listed).to_be_visible()
        # Its own budget, and what its create in flight holds of it.
        expect(listed.locator("[data-key-budget]")).to_have_text(" · 8 of 16 credits left today")
        webhook = page.locator(f'#keys li[data-webhook-id="{hook_id}"]')
        expect(webhook).to_have_attribute("data-enabled", "false")
        expect(webhook).to_contain_text("https://93.184.216.34/hook")
        expect(webhook).to_contain_text("stopped: stopped by the team")
        page.fill("#leak-key", issued["key"])
        page.click("#leak-submit")
        expect(page.locator("#action-status")).to_contain_text(f"{issued['key_id']} of team design")
        expect(page.locator(f'#keys li[data-key-id="{issued["key_id"]}"]')).to_have_attribute(
            "data-revoked", "true"
        )
        assert page.input_value("#leak-key") == ""
        assert issued["key"] not in page.content()
        [key] = admin.get("/admin/teams/design/keys")["data"]
        assert key["revoked_at"] is not None

        # The leaked key's next use is refused; the user reports its requestId, ops look it up.
        deadline, refused = time.monotonic() + 10, None
        while refused is None or (refused.status_code != 401 and time.monotonic() < deadline):
            refused = httpx.get(
                f"{stack.gw_url}/v1/usage", headers={"Authorization": f"Bearer {issued['key']}"}
            )
        request_id = refused.json()["error"]["requestId"]
        page.fill("#lookup-id", request_id)
        found = page.locator(f'#lookup-result dl[data-request="{request_id}"]')
        answered = page.locator("#lookup-result > *")
        deadline = time.monotonic() + 10  # its record reaches Redis about a second after
        while True:
            page.evaluate("document.getElementById('lookup-result').replaceChildren()")
            page.click("#lookup-submit")
            expect(answered).to_have_count(1)  # the page drew the answer: found, or not yet
            if found.count() or time.monotonic() > deadline:
                break
        expect(found).to_contain_text("api_key_revoked")
        expect(found).to_contain_text(issued["key_id"])
        expect(found).to_contain_text("design")

        # A task id, and a client_request_id, as a user might hand them over instead.
        task = admin.get("/admin/tasks")["data"][0]
        for reference in (task["id"], task["client_request_id"]):
            page.fill("#lookup-id", reference)
            page.click("#lookup-submit")
            card = page.locator(f'#lookup-result dl[data-task="{task["id"]}"]')
            expect(card).to_contain_text(task["team"])
            expect(card).to_contain_text(task["status"])
        context.close()
