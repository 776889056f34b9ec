"""Custody of results (issue 25.1): every result file of a succeeded task is copied into the
org's object store and served by signed links of the gateway's own, so a result stays
reachable for the team's retention whatever Rivya does with its URLs."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from app.clock import FakeClock
from tests.support import (
    RESULTS_DIR,
    Gateway,
    admin_headers,
    assert_books_close,
    bearer,
    gateway_settings,
    rivya_charged,
    running_gateway,
    settle_all,
    tenant_of,
    tenant_spend,
)


async def succeeded(gateway: Gateway, key: str, prompt: str = "a red bicycle") -> dict[str, Any]:
    made = await gateway.http.post(
        "/v1/images", params={"wait": 30}, json={"prompt": prompt}, headers=bearer(key)
    )
    assert made.json()["status"] == "succeeded", made.text
    task: dict[str, Any] = made.json()
    return task


async def rivya_bytes(gateway: Gateway, task_id: str) -> bytes:
    """The file as Rivya serves it (read straight from the simulator)."""
    [task] = [t for t in gateway.sim.tasks.values() if t.id == task_id]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway.sim_app)) as sim:
        answer = await sim.get(task.result_url)
    assert answer.status_code == 200
    return answer.content


def with_query(link: str, **changes: str) -> str:
    parts = urlsplit(link)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


async def usage(gateway: Gateway) -> dict[str, int]:
    report = await gateway.http.get("/admin/spend", headers=admin_headers())
    [row] = report.json()["teams"]
    figures: dict[str, int] = row["results"]
    return figures


async def test_results_outlive_rivyas_urls_and_are_served_by_signed_links(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    task = await succeeded(gateway, key)
    link = task["result"]["primary_url"]
    assert link.startswith(f"http://gateway/v1/results/{task['id']}/0?")
    assert task["result"]["urls"] == [link]
    original = await rivya_bytes(gateway, task["id"])

    # The settler copies it; the task says so, and the team's storage counts it.
    await settle_all(gateway, clock)
    again = (await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))).json()
    assert again["result"]["custody"] == "kept"
    assert await usage(gateway) == {"bytes": len(original), "objects": 1}
    scraped = (await gateway.http.get("/metrics")).text
    assert f'gateway_team_results_bytes{{team="alpha"}} {float(len(original))}' in scraped
    tenant = await tenant_of(gateway, "alpha")
    [copy] = (RESULTS_DIR / tenant).iterdir()
    assert copy.read_bytes() == original

    # Rivya drops its URLs: the team's links still serve the very same bytes, with no header.
    gateway.sim.set_faults(result_url_seconds=0)
    fresh = again["result"]["primary_url"]
    served = await gateway.http.get(fresh)
    assert served.status_code == 200
    assert served.content == original
    assert served.headers["content-type"] == "image/jpeg"  # Rivya's default outputFormat
    assert served.headers["etag"] == f'"{copy.name}"'
    assert served.headers["cache-control"].startswith("private, max-age=")
    unchanged = await gateway.http.get(fresh, headers={"If-None-Match": served.headers["etag"]})
    assert unchanged.status_code == 304
    await assert_books_close(gateway, "alpha")


async def test_a_link_is_the_teams_for_its_file_and_its_time_only(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    other = await gateway.team_with_key("beta")
    task = await succeeded(gateway, key)
    mine = await succeeded(gateway, other, "a blue boat")
    link = task["result"]["primary_url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    beta = {k: v[0] for k, v in parse_qs(urlsplit(mine["result"]["primary_url"]).query).items()}
    altered = [
        with_query(
            link, sig=query["sig"][:-2] + ("AA" if not query["sig"].endswith("AA") else "BB")
        ),
        with_query(link, expires=str(int(query["expires"]) + 3600)),  # a longer life, forged
        with_query(link, team=beta["team"]),  # another team's
        link.replace(f"/{task['id']}/0", f"/{mine['id']}/0"),  # another task, this signature
    ]
    for forged in altered:
        refused = await gateway.http.get(forged)
        assert refused.status_code == 403, forged
        assert refused.json()["error"]["code"] == "result_link_invalid"
    # A link signed for beta's task cannot reach it under alpha's name either.
    crossed = with_query(mine["result"]["primary_url"], team=query["team"])
    assert (await gateway.http.get(crossed)).status_code == 403

    clock.advance(3601)  # RESULT_LINK_SECONDS
    expired = await gateway.http.get(link)
    assert expired.status_code == 403
    assert expired.json()["error"]["code"] == "result_link_expired"
    assert "read the task again" in expired.json()["error"]["message"]
    fresh = (await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))).json()
    assert (await gateway.http.get(fresh["result"]["primary_url"])).status_code == 200
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha", "beta")


async def test_a_link_read_before_the_copy_streams_rivyas_file_and_keeps_it(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    task = await succeeded(gateway, key)
    served = await gateway.http.get(task["result"]["primary_url"])
    assert served.status_code == 200
    assert served.content == await rivya_bytes(gateway, task["id"])
    await gateway.app.state.services.results.aclose()  # the copy kept on the way has landed
    gateway.sim.set_faults(result_url_seconds=0)
    again = (await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))).json()
    assert again["result"]["custody"] == "kept"  # no settler pass was needed
    assert (await gateway.http.get(again["result"]["primary_url"])).content == served.content
    await settle_all(gateway, clock)
    await assert_books_close(gateway, "alpha")


async def test_the_drop_in_surface_answers_with_the_gateways_links(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    made = await gateway.http.post(
        "/api/v1/generations",
        json={"model": "flux-kontext-max", "prompt": "p"},
        headers=bearer(key),
    )
    await settle_all(gateway, clock)
    read = await gateway.http.get(f"/api/v1/generations/{made.json()['id']}", headers=bearer(key))
    result = read.json()["result"]
    assert set(result) == {"primary_url", "urls"}  # Rivya's shape, nothing added
    assert result["primary_url"].startswith("http://gateway/v1/results/")
    assert (await gateway.http.get(result["primary_url"])).status_code == 200
    await assert_books_close(gateway, "alpha")


async def test_a_result_rivya_no_longer_has_and_was_never_copied_is_said_to_be_gone(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    gateway.sim.set_faults(result_url_seconds=0)  # gone as soon as it exists
    task = await succeeded(gateway, key)
    await settle_all(gateway, clock)
    again = (await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))).json()
    assert again["result"]["custody"] == "failed"
    gone = await gateway.http.get(again["result"]["primary_url"])
    assert gone.status_code == 404
    assert "no longer available" in gone.json()["error"]["message"]
    assert await usage(gateway) == {"bytes": 0, "objects": 0}
    await assert_books_close(gateway, "alpha")


async def test_a_copy_failing_for_now_is_tried_again_until_it_lands(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    gateway.sim.set_faults(error_count=100, error_status=503, error_paths="/results/")
    task = await succeeded(gateway, key)
    await settle_all(gateway, clock)
    still = (await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))).json()
    assert still["result"]["custody"] == "copying"
    gateway.sim.set_faults(error_count=0)
    await settle_all(gateway, clock, rounds=12)
    done = (await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))).json()
    assert done["result"]["custody"] == "kept"
    await assert_books_close(gateway, "alpha")


async def test_copies_go_when_the_teams_retention_is_up_and_when_the_team_goes(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha", result_retention_days=2)
    task = await succeeded(gateway, key)
    other = await gateway.team_with_key("beta")
    await succeeded(gateway, other, "kept longer")
    await settle_all(gateway, clock)
    alpha, beta = await tenant_of(gateway, "alpha"), await tenant_of(gateway, "beta")
    assert len(list((RESULTS_DIR / alpha).iterdir())) == 1
    clock.advance(2 * 86_400)
    await settle_all(gateway, clock)
    assert list((RESULTS_DIR / alpha).iterdir()) == []  # its retention is up
    assert len(list((RESULTS_DIR / beta).iterdir())) == 1  # the default's is not
    gateway.sim.set_faults(result_url_seconds=0)
    gone = (await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))).json()
    assert (await gateway.http.get(gone["result"]["primary_url"])).status_code == 404

    deleted = await gateway.http.delete("/admin/teams/beta", headers=admin_headers())
    assert deleted.status_code == 204
    await settle_all(gateway, clock)
    assert list((RESULTS_DIR / beta).iterdir()) == []
    # The books: a deleted team's stay under its tenant, and close there.
    books = [await tenant_spend(gateway, t) for t in (alpha, beta)]
    assert [(b.reserved, b.in_flight) for b in books] == [(0, 0), (0, 0)]
    assert sum(b.spent for b in books) == rivya_charged(gateway.sim) == 16


class RedirectingCdn(httpx.AsyncBaseTransport):
    """Rivya's CDN sending each result to its storage, through ``hops`` redirects (the last
    to ``final_scheme``), where the file is the simulator's."""

    def __init__(self, sim_app: Any, hops: int, final_scheme: str = "https") -> None:
        self.files = httpx.ASGITransport(app=sim_app)
        self.hops, self.final_scheme, self.seen = hops, final_scheme, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hop = int(request.url.params.get("hop", "0"))
        if hop < self.hops:
            self.seen += 1
            scheme = self.final_scheme if hop + 1 == self.hops else "https"
            where = f"{scheme}://storage.example{request.url.path}?hop={hop + 1}"
            return httpx.Response(302, headers={"location": where})
        return await self.files.handle_async_request(
            httpx.Request("GET", f"http://upstream{request.url.path}")
        )


@pytest.mark.parametrize(
    ("hops", "scheme", "custody"),
    [(2, "https", "kept"), (4, "https", "failed"), (1, "ftp", "failed")],
)
async def test_a_result_behind_a_cdn_redirect_is_kept_and_endless_or_odd_ones_are_not(
    redis_url: str, sim_app: Any, clock: FakeClock, hops: int, scheme: str, custody: str
) -> None:
    cdn = RedirectingCdn(sim_app, hops, scheme)
    settings = gateway_settings(redis_url)
    async with running_gateway(settings, sim_app, clock, download_transport=cdn) as gw:
        key = await gw.team_with_key("alpha")
        task = await succeeded(gw, key)
        await settle_all(gw, clock)
        again = await gw.http.get(f"/v1/images/{task['id']}", headers=bearer(key))
        assert again.json()["result"]["custody"] == custody
        assert cdn.seen == min(hops, 4)  # never past the third redirect
        if custody == "kept":
            served = await gw.http.get(again.json()["result"]["primary_url"])
            assert served.content == await rivya_bytes(gw, task["id"])
        await assert_books_close(gw, "alpha")


async def test_a_link_answers_head_as_get_without_the_body(
    gateway: Gateway, clock: FakeClock
) -> None:
    key = await gateway.team_with_key("alpha")
    task = await succeeded(gateway, key)
    await settle_all(gateway, clock)
    again = await gateway.http.get(f"/v1/images/{task['id']}", headers=bearer(key))
    link = again.json()["result"]["primary_url"]
    got, head = await gateway.http.get(link), await gateway.http.head(link)
    assert (head.status_code, head.content) == (200, b"")
    for name in ("content-type", "content-length", "etag", "cache-control"):
        assert head.headers[name] == got.headers[name]
    tampered = await gateway.http.head(with_query(link, sig="A" * 43))
    assert tampered.status_code == 403
    await assert_books_close(gateway, "alpha")
