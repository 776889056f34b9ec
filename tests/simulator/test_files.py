"""The Files API: type judged from the bytes, size limits, metadata and content."""

from __future__ import annotations

import httpx
import pytest

from app.simulator.state import SimState
from tests.simulator.helpers import FLUX_MAX, image_bytes, upload

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("fmt", "mime", "name"),
    [
        ("PNG", "image/png", "a.png"),
        ("JPEG", "image/jpeg", "b.jpg"),
        ("WEBP", "image/webp", "c.webp"),
    ],
)
async def test_image_uploads_are_stored(
    client: httpx.AsyncClient, fmt: str, mime: str, name: str
) -> None:
    data = image_bytes(fmt)

    response = await upload(client, data, name=name, content_type=mime)

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("file_")
    assert len(body["id"]) == len("file_") + 24
    assert body["file_id"] == body["id"]
    assert body["object"] == "file"
    assert body["kind"] == "image"
    assert body["mime_type"] == mime
    assert body["size_bytes"] == len(data)
    assert body["name"] == name
    assert body["url"] == f"http://sim/files/{body['id']}/content"
    assert body["created_at"].endswith("Z")
    assert "durationToken" not in body


async def test_content_is_served_without_a_key(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    data = image_bytes("PNG")
    url = (await upload(client, data)).json()["url"]

    content = await anon.get(url)

    assert content.status_code == 200
    assert content.headers["content-type"] == "image/png"
    assert content.content == data


async def test_metadata_can_be_read_back(client: httpx.AsyncClient) -> None:
    created = (await upload(client, image_bytes("JPEG"), name="r.jpg")).json()

    response = await client.get(f"/api/v1/files/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created


async def test_unknown_file_is_not_found(
    client: httpx.AsyncClient, anon: httpx.AsyncClient
) -> None:
    missing = "file_ffffffffffffffffffffffff"

    meta = await client.get(f"/api/v1/files/{missing}")
    content = await anon.get(f"/files/{missing}/content")

    assert meta.status_code == content.status_code == 404
    assert meta.json()["error"]["code"] == content.json()["error"]["code"] == "not_found"


async def test_text_named_png_is_rejected(client: httpx.AsyncClient, state: SimState) -> None:
    response = await upload(client, b"just some text, honest", name="cat.png")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["field"] == "file"
    assert "not a recognised image" in error["details"][0]["message"]
    assert state.files == {}


async def test_png_declared_as_jpeg_is_stored_as_png(client: httpx.AsyncClient) -> None:
    response = await upload(client, image_bytes("PNG"), name="x.jpg", content_type="image/jpeg")

    assert response.status_code == 201
    assert response.json()["mime_type"] == "image/png"


async def test_gif_is_recognised_but_not_accepted(client: httpx.AsyncClient) -> None:
    response = await upload(client, image_bytes("GIF"), name="x.gif", content_type="image/gif")

    assert response.status_code == 400
    assert "image/gif" in response.json()["error"]["details"][0]["message"]


async def test_image_over_10_mb_is_rejected(client: httpx.AsyncClient) -> None:
    too_big = image_bytes("PNG") + b"\0" * (10 * MB)
    just_fits = too_big[: 10 * MB]

    rejected = await upload(client, too_big)
    accepted = await upload(client, just_fits)

    assert rejected.status_code == 400
    assert rejected.json()["error"]["details"][0]["field"] == "file"
    assert "at most 10485760 bytes" in rejected.json()["error"]["details"][0]["message"]
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    ("kind", "data", "mime"),
    [
        ("audio", b"ID3\x04\x00" + b"\0" * 64, "audio/mpeg"),
        ("audio", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\0" * 32, "audio/wav"),
        ("video", b"\x00\x00\x00\x18ftypisom" + b"\0" * 32, "video/mp4"),
        ("video", b"\x1a\x45\xdf\xa3" + b"\0" * 32, "video/webm"),
    ],
)
async def test_audio_and_video_get_a_duration_token(
    client: httpx.AsyncClient, kind: str, data: bytes, mime: str
) -> None:
    response = await upload(client, data, kind=kind, name="clip", content_type="text/plain")

    assert response.status_code == 201
    body = response.json()
    assert body["mime_type"] == mime
    assert body["kind"] == kind
    assert isinstance(body["durationToken"], str)
    assert len(body["durationToken"]) >= 16


async def test_image_bytes_are_not_audio(client: httpx.AsyncClient) -> None:
    response = await upload(client, image_bytes("PNG"), kind="audio")

    assert response.status_code == 400
    assert "image/png" in response.json()["error"]["details"][0]["message"]


async def test_model_rules_apply_when_a_model_is_named(client: httpx.AsyncClient) -> None:
    video = b"\x00\x00\x00\x18ftypisom" + b"\0" * 32

    without_model = await upload(client, video, kind="video")
    with_flux = await upload(client, video, kind="video", model=FLUX_MAX)
    image_with_flux = await upload(client, image_bytes("PNG"), model=FLUX_MAX)
    unknown_model = await upload(client, image_bytes("PNG"), model="nope")

    assert without_model.status_code == 201
    assert with_flux.status_code == 400
    assert with_flux.json()["error"]["details"] == [
        {"field": "kind", "message": f"{FLUX_MAX} does not take video files"}
    ]
    assert image_with_flux.status_code == 201
    assert unknown_model.status_code == 400
    assert unknown_model.json()["error"]["details"][0]["field"] == "model"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "kind"),
        ({"kind": "document"}, "kind"),
        ({"kind": "image", "client_request_id": "x" * 129}, "client_request_id"),
    ],
)
async def test_bad_form_fields(
    client: httpx.AsyncClient, fields: dict[str, str], field: str
) -> None:
    response = await client.post(
        "/api/v1/files", files={"file": ("a.png", image_bytes("PNG"), "image/png")}, data=fields
    )

    assert response.status_code == 400
    assert field in {d["field"] for d in response.json()["error"]["details"]}


async def test_missing_file_part(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/files", data={"kind": "image"})

    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "file"


async def test_upload_is_described_in_the_request_log(
    client: httpx.AsyncClient, state: SimState
) -> None:
    data = image_bytes("PNG")
    await upload(client, data, name="r.png", model=FLUX_MAX)

    record = state.requests[-1]
    assert record.body is None
    assert record.form == {
        "kind": "image",
        "model": FLUX_MAX,
        "file": {"filename": "r.png", "content_type": "image/png", "size": len(data)},
    }
