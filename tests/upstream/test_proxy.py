"""Rivya through the egress proxy (``RIVYA_PROXY_URL``): an HTTP CONNECT tunnel with TLS to
Rivya inside it. The proxy learns where, never what: the org key crosses it only encrypted; its
own credentials go to it alone; its refusal means nothing was sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.clock import FakeClock
from app.upstream.failures import UpstreamFailure, Why
from tests.rivya_side import Reply, Request, json_reply
from tests.support import ORG_KEY, bearer, gateway_settings, running_gateway, served
from tests.upstream.certificates import PrivateCA
from tests.upstream.conftest import wired_client
from tests.upstream.loopback import loopback
from tests.upstream.proxy import connect_proxy


async def credits(_: Request) -> Reply:
    return json_reply(200, {"current_credits": 42})


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


async def test_rivya_is_reached_through_the_tunnel_and_the_key_never_crosses_it_in_clear(
    ca: PrivateCA, ca_file: Path
) -> None:
    async with (
        loopback(credits, tls=ca.server_context("rivya.test")) as rivya,
        connect_proxy(port_of(rivya.url)) as proxy,
    ):
        client = wired_client(
            f"https://rivya.test:{port_of(rivya.url)}",  # a name only the proxy resolves
            rivya_ca_file=ca_file,
            rivya_proxy_url=proxy.url,
        )
        try:
            assert [await client.balance() for _ in range(2)] == [42, 42]
        finally:
            await client.aclose()
    assert proxy.asked == [f"rivya.test:{port_of(rivya.url)}"]  # one tunnel, kept alive
    assert [r.headers["authorization"] for r in rivya.requests] == [f"Bearer {ORG_KEY}"] * 2
    carried = bytes(proxy.received)
    for clear in (ORG_KEY.encode(), b"Bearer", b"/api/v1/credits"):
        assert clear not in carried


async def test_the_proxys_own_credentials_go_to_it_and_to_no_one_else(
    ca: PrivateCA, ca_file: Path
) -> None:
    async with (
        loopback(credits, tls=ca.server_context("rivya.test")) as rivya,
        connect_proxy(port_of(rivya.url), credentials="egress:s3cr%t") as proxy,
    ):
        client = wired_client(
            f"https://rivya.test:{port_of(rivya.url)}",
            rivya_ca_file=ca_file,
            rivya_proxy_url=proxy.url.replace("//", "//egress:s3cr%25t@"),
        )
        try:
            assert await client.balance() == 42
        finally:
            await client.aclose()
    assert "proxy-authorization" not in rivya.requests[0].headers


async def test_a_proxy_that_refuses_the_tunnel_means_nothing_was_sent(
    ca: PrivateCA, ca_file: Path
) -> None:
    async with (
        loopback(credits, tls=ca.server_context("rivya.test")) as rivya,
        connect_proxy(port_of(rivya.url), credentials="egress:right") as proxy,
    ):
        client = wired_client(
            f"https://rivya.test:{port_of(rivya.url)}",
            rivya_ca_file=ca_file,
            rivya_proxy_url=proxy.url.replace("//", "//egress:wrong@"),
        )
        try:
            with pytest.raises(UpstreamFailure) as caught:
                await client.create_generation({"model": "m"}, idempotency_key="k")
        finally:
            await client.aclose()
    assert (caught.value.why, caught.value.may_have_acted) == (Why.UNREACHABLE, False)
    assert "407" in str(caught.value.__cause__)
    assert rivya.requests == []


def test_a_proxy_for_a_plain_http_rivya_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="RIVYA_PROXY_URL needs an https RIVYA_BASE_URL"):
        gateway_settings(
            "redis://x", rivya_base_url="http://rivya.test", rivya_proxy_url="http://proxy:3128"
        )
    with pytest.raises(ValidationError, match="RIVYA_PROXY_URL must be http://"):
        gateway_settings(
            "redis://x", rivya_base_url="https://rivya.ai", rivya_proxy_url="socks5://proxy:1080"
        )


async def test_a_create_goes_through_the_proxy_to_the_simulator_over_tls(
    redis_url: str,
    sim_app: FastAPI,
    clock: FakeClock,
    ca: PrivateCA,
    ca_file: Path,
) -> None:
    """The whole gateway, as production runs it: the simulator behind uvicorn with a private
    CA's certificate, reached through the egress proxy."""
    async with (
        served(sim_app, tls=ca.issued["rivya.test"]) as sim_url,
        connect_proxy(port_of(sim_url)) as proxy,
    ):
        settings = gateway_settings(
            redis_url,
            rivya_base_url=f"https://rivya.test:{port_of(sim_url)}",
            rivya_ca_file=ca_file,
            rivya_proxy_url=proxy.url,
        )
        async with running_gateway(settings, sim_app, clock, upstream="network") as gw:
            key_for_alpha = await gw.team_with_key("alpha")
            made = await gw.http.post(
                "/v1/images", json={"prompt": "p"}, headers=bearer(key_for_alpha)
            )
            assert made.status_code == 202, made.text
            assert made.json()["id"] in gw.sim.tasks
            [create] = gw.upstream_requests("/api/v1/generations")
            assert create.header("authorization") == f"Bearer {ORG_KEY}"
    assert ORG_KEY.encode() not in bytes(proxy.received)
