"""Custody on an S3-compatible store, as production runs it (RESULTS_STORE_URL=s3://…, the
credentials and endpoint from the AWS_* variables). No MinIO binary is published to the package
registries this project installs from; moto's server, run here in-process on a free port, is the
most faithful S3 they offer (it honours conditional writes, If-None-Match, as S3 does)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import obstore
import pytest
from fastapi import FastAPI
from moto.server import ThreadedMotoServer
from obstore.store import S3Store

from app.clock import FakeClock
from tests.support import (
    Gateway,
    assert_books_close,
    bearer,
    gateway_settings,
    running_gateway,
    settle_all,
    tenant_of,
)

BUCKET = "rivya-results"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    assert httpx.put(f"{url}/{BUCKET}").status_code == 200  # S3's CreateBucket
    yield url
    server.stop()


def bucket(url: str) -> S3Store:
    """The bucket, read as any S3 client would (not through the gateway)."""
    return S3Store(
        BUCKET,
        endpoint=url,
        access_key_id="test",
        secret_access_key="test",
        region="us-east-1",
        client_options={"allow_http": True},
        virtual_hosted_style_request=False,
    )


@pytest.fixture
async def s3_gateway(
    s3_url: str,
    redis_url: str,
    sim_app: FastAPI,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Gateway]:
    for name, value in {
        "AWS_ENDPOINT_URL": s3_url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",  # moto speaks plain HTTP on loopback
    }.items():
        monkeypatch.setenv(name, value)
    settings = gateway_settings(redis_url, results_store_url=f"s3://{BUCKET}/copies")
    async with running_gateway(settings, sim_app, clock) as gateway:
        yield gateway


async def test_copies_land_in_s3_and_are_served_from_there(
    s3_gateway: Gateway, s3_url: str, clock: FakeClock
) -> None:
    gateway = s3_gateway
    key = await gateway.team_with_key("alpha")
    made = await gateway.http.post(
        "/v1/images", params={"wait": 30}, json={"prompt": "p"}, headers=bearer(key)
    )
    await settle_all(gateway, clock)
    tenant = await tenant_of(gateway, "alpha")
    store = bucket(s3_url)
    [stored] = [meta async for batch in obstore.list(store, f"copies/{tenant}/") for meta in batch]
    body = bytes(await (await obstore.get_async(store, stored["path"])).bytes_async())
    gateway.sim.set_faults(result_url_seconds=0)  # Rivya forgets it
    task = (await gateway.http.get(f"/v1/images/{made.json()['id']}", headers=bearer(key))).json()
    assert task["result"]["custody"] == "kept"
    served = await gateway.http.get(task["result"]["primary_url"])
    assert served.status_code == 200
    assert served.content == body
    await assert_books_close(gateway, "alpha")
