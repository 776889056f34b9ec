"""An admin's revoke, delete or model change is true the moment it is answered: no paid create
starts after it, on any replica, whatever their key caches hold; and a team made later with a
deleted team's id inherits nothing."""

from __future__ import annotations

import io
from typing import Any

from fastapi import FastAPI
from PIL import Image

from app.clock import FakeClock
from tests.support import (
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


async def create(gw: Gateway, key: str, **body: Any) -> Any:
    return await gw.http.post("/v1/images", json={"prompt": "p", **body}, headers=bearer(key))


async def test_a_revoked_key_starts_no_paid_create_on_any_replica(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    # A long key cache: the replicas would trust the key for a minute if admission did not look.
    settings = gateway_settings(redis_url, key_cache_seconds=60)
    async with (
        running_gateway(settings, sim_app, clock) as a,
        running_gateway(settings, sim_app, clock) as b,
    ):
        key = await a.team_with_key("alpha", budget_period="total")
        assert (await create(a, key)).status_code == 202  # both replicas have the key cached
        assert (await create(b, key)).status_code == 202
        [record] = (await a.http.get("/admin/teams/alpha/keys", headers=admin_headers())).json()[
            "data"
        ]
        revoked = await a.http.delete(f"/admin/keys/{record['key_id']}", headers=admin_headers())
        assert revoked.status_code == 200
        for gw in (a, b):
            refused = await create(gw, key)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "api_key_revoked"
        assert len(a.sim.tasks) == 2  # nothing sent after the revoke
        await settle_all(a, clock)
        await assert_books_close(a, "alpha")


async def test_a_model_taken_away_is_refused_at_once(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, key_cache_seconds=60)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        assert (await create(gw, key)).status_code == 202  # cached with every model allowed
        patched = await gw.http.patch(
            "/admin/teams/alpha",
            json={"allowed_models": ["flux-kontext-pro"]},
            headers=admin_headers(),
        )
        assert patched.status_code == 200
        refused = await create(gw, key, model="flux-kontext-max")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "model_not_allowed"
        assert (await create(gw, key, model="flux-kontext-pro")).status_code == 202
        assert len(gw.sim.tasks) == 2
        await settle_all(gw, clock)
        await assert_books_close(gw, "alpha")


async def test_a_key_of_a_deleted_team_is_invalid_at_once(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, key_cache_seconds=60)
    async with running_gateway(settings, sim_app, clock) as gw:
        key = await gw.team_with_key("alpha", budget_period="total")
        assert (await create(gw, key)).status_code == 202
        deleted = await gw.http.delete("/admin/teams/alpha", headers=admin_headers())
        assert deleted.status_code == 204
        refused = await create(gw, key)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "api_key_invalid"
        clock.advance(61)  # past the cache: the key's team is gone, so is the key
        usage = await gw.http.get("/v1/usage", headers=bearer(key))
        assert (usage.status_code, usage.json()["error"]["code"]) == (401, "api_key_invalid")
        assert len(gw.sim.tasks) == 1


async def test_a_new_team_with_a_deleted_teams_id_inherits_nothing(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, key_cache_seconds=0)
    async with running_gateway(settings, sim_app, clock) as gw:
        old_key = await gw.team_with_key("alpha", budget_period="total", max_in_flight=1)
        old = await create(gw, old_key, client_request_id="order-1")
        assert old.status_code == 202
        upload = await gw.http.post(
            "/v1/files", files={"file": ("a.png", _png(), "image/png")}, headers=bearer(old_key)
        )
        assert upload.status_code == 201
        old_tenant = await tenant_of(gw, "alpha")
        assert (await gw.http.delete("/admin/teams/alpha", headers=admin_headers())).status_code
        new_key = await gw.team_with_key("alpha", budget_period="total", max_in_flight=1)

        seen = await gw.http.get(f"/v1/images/{old.json()['id']}", headers=bearer(new_key))
        assert seen.status_code == 404  # not its task
        file = await gw.http.get(f"/v1/files/{upload.json()['id']}", headers=bearer(new_key))
        assert file.status_code == 404  # not its file
        listed = await gw.http.get("/v1/images", headers=bearer(new_key))
        assert listed.json()["data"] == []
        usage = (await gw.http.get("/v1/usage", headers=bearer(new_key))).json()
        assert (usage["spent_credits"], usage["reserved_credits"], usage["in_flight"]) == (0, 0, 0)
        keys = (await gw.http.get("/admin/teams/alpha/keys", headers=admin_headers())).json()
        assert len(keys["data"]) == 1  # only its own
        mine = await create(gw, new_key, client_request_id="order-1")
        assert mine.status_code == 202  # a new task, not a replay of the old team's
        assert "idempotent-replayed" not in mine.headers
        assert mine.json()["id"] != old.json()["id"]
        assert (await gw.http.get("/v1/usage", headers=bearer(new_key))).json()["in_flight"] == 1

        # The deleted team's task still settles, in the deleted team's books.
        await settle_all(gw, clock)
        usage = (await gw.http.get("/v1/usage", headers=bearer(new_key))).json()
        assert (usage["spent_credits"], usage["reserved_credits"]) == (8, 0)  # its one task
        old_books = await tenant_spend(gw, old_tenant)
        assert (old_books.spent, old_books.reserved, old_books.in_flight) == (8, 0, 0)
        assert old_books.spent + usage["spent_credits"] == rivya_charged(gw.sim)


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()
