"""A team's uploads are limited across replicas; content it uploaded before costs nothing."""

from __future__ import annotations

import io

from fastapi import FastAPI
from PIL import Image

from app.clock import FakeClock
from tests.support import bearer, gateway_settings, running_gateway


def png(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (shade, 0, 0)).save(out, "PNG")
    return out.getvalue()


async def test_uploads_past_the_teams_rate_are_refused_on_any_replica(
    redis_url: str, sim_app: FastAPI, clock: FakeClock
) -> None:
    settings = gateway_settings(redis_url, uploads_per_minute_per_team=60, upload_burst_per_team=2)
    async with (
        running_gateway(settings, sim_app, clock) as a,
        running_gateway(settings, sim_app, clock) as b,
    ):
        key = await a.team_with_key("alpha")

        async def upload(gw: object, data: bytes) -> int:
            http = a.http if gw is a else b.http
            response = await http.post(
                "/v1/files", files={"file": ("x.png", data, "image/png")}, headers=bearer(key)
            )
            return response.status_code

        assert [await upload(a, png(1)), await upload(b, png(2))] == [201, 201]
        refused = await b.http.post(
            "/v1/files", files={"file": ("x.png", png(3), "image/png")}, headers=bearer(key)
        )
        assert (refused.status_code, refused.json()["error"]["code"]) == (429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
        assert await upload(a, png(1)) == 201  # the same content again: that file, for free
        uploads_to_rivya = len(a.upstream_requests("/api/v1/files"))
        assert uploads_to_rivya == 2
        clock.advance(1)  # one upload a second refills
        assert await upload(b, png(3)) == 201
