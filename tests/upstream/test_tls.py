"""The engine speaks TLS to Rivya on a real loopback socket, trusting what it is told to trust:
a private CA through ``RIVYA_CA_FILE``, else the system's store; a certificate nobody vouches
for, or one for another name, is refused before a byte of the request is sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.upstream.failures import UpstreamFailure, Why
from tests.rivya_side import Reply, Request, json_reply
from tests.support import ORG_KEY
from tests.upstream.certificates import PrivateCA
from tests.upstream.conftest import wired_client
from tests.upstream.loopback import loopback


async def credits(_: Request) -> Reply:
    return json_reply(200, {"current_credits": 42})


async def test_a_rivya_behind_a_private_ca_is_trusted_through_its_ca_file(
    ca: PrivateCA, ca_file: Path
) -> None:
    async with loopback(credits, tls=ca.server_context("localhost"), host="localhost") as server:
        rivya = wired_client(server.url, rivya_ca_file=ca_file)
        try:
            assert [await rivya.balance() for _ in range(3)] == [42, 42, 42]
        finally:
            await rivya.aclose()
    assert server.connections == 1  # one TLS handshake, kept alive
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {ORG_KEY}"}


async def test_a_certificate_nobody_vouches_for_is_refused_with_nothing_sent(
    ca: PrivateCA,
) -> None:
    async with loopback(credits, tls=ca.server_context("localhost"), host="localhost") as server:
        rivya = wired_client(server.url)  # the system's trust: the private CA is not in it
        try:
            with pytest.raises(UpstreamFailure) as caught:
                await rivya.create_generation({"model": "m"}, idempotency_key="k")
        finally:
            await rivya.aclose()
    assert (caught.value.why, caught.value.may_have_acted) == (Why.UNREACHABLE, False)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value.__cause__)
    assert server.requests == []


async def test_a_certificate_for_another_name_is_refused_with_nothing_sent(
    ca: PrivateCA, ca_file: Path
) -> None:
    async with loopback(credits, tls=ca.server_context("rivya.test"), host="localhost") as server:
        rivya = wired_client(server.url, rivya_ca_file=ca_file)
        try:
            with pytest.raises(UpstreamFailure) as caught:
                await rivya.create_generation({"model": "m"}, idempotency_key="k")
        finally:
            await rivya.aclose()
    assert (caught.value.why, caught.value.may_have_acted) == (Why.UNREACHABLE, False)
    assert "localhost" in str(caught.value.__cause__)  # the name that did not match
    assert server.requests == []


def test_a_ca_file_that_cannot_be_read_stops_startup(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    with pytest.raises(ValidationError, match="RIVYA_CA_FILE: cannot load"):
        wired_client("https://rivya.ai", rivya_ca_file=missing)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(ValidationError, match="RIVYA_CA_FILE: cannot load"):
        wired_client("https://rivya.ai", rivya_ca_file=garbage)
