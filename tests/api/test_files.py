"""Reference images: validated uploads, ownership, references, and one-shot edits."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from PIL import Image

from app.clock import FakeClock
from tests.support import Gateway, bearer, project_root


def picture(
    fmt: str = "PNG", colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)
) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


async def upload(
    gateway: Gateway,
    key: str,
    data: bytes,
    name: str = "photo.png",
    content_type: str = "image/png",
) -> httpx.Response:
    return await gateway.http.post(
        "/v1/files", files={"file": (name, data, content_type)}, headers=bearer(key)
    )


def uploads_upstream(gateway: Gateway) -> list[Any]:
    return [r for r in gateway.upstream_requests("/api/v1/files") if r.method == "POST"]


@pytest.mark.parametrize(
    ("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
)
async def test_each_accepted_type_uploads(gateway: Gateway, fmt: str, mime: str) -> None:
    key = await gateway.team_with_key("alpha")
    data = picture(fmt)
    response = await upload(gateway, key, data, name=f"photo.{fmt.lower()}", content_type=mime)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "kind", "mime_type", "size_bytes", "created_at"}
    assert (body["kind"], body["mime_type"], body["size_bytes"]) == ("image", mime, len(data))
    [sent] = uploads_upstream(gateway)
    assert sent.form["kind"] == "image"
    assert sent.form["file"]["size"] == len(data)
    read = await gateway.http.get(f"/v1/files/{body['id']}", headers=bearer(key))
    assert read.json() == body


async def test_the_type_comes_from_the_bytes_not_the_name_or_declared_type(
    gateway: Gateway,
) -> None:
    key = await gateway.team_with_key("alpha")
    png_as_jpeg = await upload(
        gateway, key, picture("PNG"), name="x.jpg", content_type="image/jpeg"
    )
    assert png_as_jpeg.status_code == 201
    assert png_as_jpeg.json()["mime_type"] == "image/png"
    text = await upload(gateway, key, b"just some text, not an image\n" * 10, name="fake.png")
    assert text.status_code == 415
    assert text.json()["error"]["code"] == "unsupported_media_type"
    gif = await upload(gateway, key, picture("GIF"), name="anim.gif", content_type="image/gif")
    assert gif.status_code == 415
    assert len(uploads_upstream(gateway)) == 1


async def test_a_truncated_image_is_refused(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    whole = picture("PNG", size=(400, 300))
    response = await upload(gateway, key, whole[: len(whole) // 2])
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["field"] == "file"
    assert uploads_upstream(gateway) == []


async def test_an_eleven_megabyte_file_is_too_large(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    big = picture("PNG") + b"\0" * (11 * 1024 * 1024)
    response = await upload(gateway, key, big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert uploads_upstream(gateway) == []


async def test_a_two_gigabyte_stream_is_cut_off_at_the_limit(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    produced = 0
    chunk = b"\0" * (1024 * 1024)

    async def endless() -> AsyncIterator[bytes]:
        nonlocal produced
        yield (
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        for _ in range(2048):  # 2 GiB, generated on the fly, never held
            produced += len(chunk)
            yield chunk

    response = await gateway.http.post(
        "/v1/files",
        content=endless(),
        headers={**bearer(key), "content-type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413
    assert produced <= 12 * 1024 * 1024  # read up to the 10 MiB limit and a little past, no more
    assert uploads_upstream(gateway) == []


async def test_files_belong_to_their_team(gateway: Gateway) -> None:
    alpha = await gateway.team_with_key("alpha")
    beta = await gateway.team_with_key("beta")
    file_id = (await upload(gateway, alpha, picture())).json()["id"]
    assert (await gateway.http.get(f"/v1/files/{file_id}", headers=bearer(beta))).status_code == 404
    compat = await gateway.http.get(f"/api/v1/files/{file_id}", headers=bearer(beta))
    assert compat.status_code == 404
    used = await gateway.http.post(
        "/v1/images", json={"prompt": "p", "reference_file_id": file_id}, headers=bearer(beta)
    )
    assert used.status_code == 400
    assert used.json()["error"]["details"][0]["field"] == "reference_file_id"
    assert gateway.upstream_requests("/api/v1/generations") == []


async def test_a_reference_becomes_rivyas_media_item(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    file_id = (await upload(gateway, key, picture(), name="shoe.png")).json()["id"]
    created = await gateway.http.post(
        "/v1/images",
        json={"prompt": "on a beach", "reference_file_id": file_id},
        headers=bearer(key),
    )
    assert created.status_code == 202
    [sent] = [r for r in gateway.upstream_requests("/api/v1/generations") if r.method == "POST"]
    [item] = sent.body["params"]["referenceMediaItems"]
    stored = gateway.sim.get_file(file_id)
    assert stored is not None
    assert item == {"url": stored.url, "kind": "image", "name": "shoe.png", "mimeType": "image/png"}


async def test_drop_in_uploads_and_references_are_checked(gateway: Gateway) -> None:
    alpha = await gateway.team_with_key("alpha")
    beta = await gateway.team_with_key("beta")
    uploaded = await gateway.http.post(
        "/api/v1/files",
        files={"file": ("a.png", picture(), "image/png")},
        data={"kind": "image", "model": "flux-kontext-max"},
        headers=bearer(alpha),
    )
    assert uploaded.status_code == 201
    rivya_file = uploaded.json()
    assert rivya_file["url"]
    assert rivya_file["id"].startswith("file_")
    again = await gateway.http.get(f"/api/v1/files/{rivya_file['id']}", headers=bearer(alpha))
    assert again.json() == rivya_file

    def generation(*urls: str) -> dict[str, Any]:
        return {
            "model": "flux-kontext-max",
            "prompt": "p",
            "params": {"referenceMediaItems": [{"url": u, "kind": "image"} for u in urls]},
        }

    ok = await gateway.http.post(
        "/api/v1/generations", json=generation(rivya_file["url"]), headers=bearer(alpha)
    )
    assert ok.status_code == 201
    for headers, body in [
        (bearer(beta), generation(rivya_file["url"])),  # another team's upload
        (bearer(alpha), generation("http://169.254.169.254/latest/meta-data")),  # no SSRF
        (bearer(alpha), generation(rivya_file["url"], rivya_file["url"])),  # max 1 image
    ]:
        refused = await gateway.http.post("/api/v1/generations", json=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "validation_failed"
    creates = [r for r in gateway.upstream_requests("/api/v1/generations") if r.method == "POST"]
    assert len(creates) == 1
    no_kind = await gateway.http.post(
        "/api/v1/files", files={"file": ("a.png", picture(), "image/png")}, headers=bearer(alpha)
    )
    assert no_kind.status_code == 400
    video = await gateway.http.post(
        "/api/v1/files",
        files={"file": ("a.png", picture(), "image/png")},
        data={"kind": "video"},
        headers=bearer(alpha),
    )
    assert video.status_code == 415  # no model of the catalogue takes video yet


async def edit(
    gateway: Gateway,
    key: str,
    image: bytes,
    fields: dict[str, str] | None = None,
    *,
    wait: int = 0,
) -> httpx.Response:
    return await gateway.http.post(
        "/v1/images/edits",
        params={"wait": wait} if wait else None,
        files={"image": ("product.png", image, "image/png")},
        data={"prompt": "on a marble table", **(fields or {})},
        headers=bearer(key),
    )


async def test_an_edit_uploads_and_creates_in_one_call(gateway: Gateway, clock: FakeClock) -> None:
    key = await gateway.team_with_key("alpha")
    reference = picture("PNG", (220, 20, 20), size=(300, 300))
    fields = {
        "aspect_ratio": "1:1",
        "translate_prompt": "false",
        "safety_tolerance": "3",
        "output_format": "png",
    }
    response = await edit(gateway, key, reference, fields, wait=30)
    assert response.status_code == 200, response.text
    task = response.json()
    assert task["status"] == "succeeded"
    assert len(uploads_upstream(gateway)) == 1
    [sent] = [r for r in gateway.upstream_requests("/api/v1/generations") if r.method == "POST"]
    assert sent.body["params"]["enableTranslation"] == "false"
    assert sent.body["params"]["safetyTolerance"] == 3
    [item] = sent.body["params"]["referenceMediaItems"]
    [sim_file] = gateway.sim.files.values()
    assert item["url"] == sim_file.url
    # The simulator's result visibly derives from the upload: its corner is the reference's red
    # (read by the link the gateway answered with, as a browser would: no header).
    image_response = await gateway.http.get(task["result"]["primary_url"])
    assert image_response.status_code == 200, image_response.text
    result = Image.open(io.BytesIO(image_response.content)).convert("RGB")
    pixel = result.getpixel((2, 2))
    assert isinstance(pixel, tuple)
    red, green, blue = (int(channel) for channel in pixel[:3])
    assert red > 150
    assert max(green, blue) < 90


async def test_an_edit_replays_with_one_upload_and_one_task(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    image = picture()
    first = await edit(gateway, key, image, {"client_request_id": "edit-1"})
    again = await edit(gateway, key, image, {"client_request_id": "edit-1"})
    assert first.status_code == 202
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(uploads_upstream(gateway)) == 1
    creates = [r for r in gateway.upstream_requests("/api/v1/generations") if r.method == "POST"]
    assert len(creates) == 1
    other = await edit(gateway, key, picture(colour=(0, 0, 255)), {"client_request_id": "edit-1"})
    assert other.status_code == 409  # another image is another request


async def test_an_edit_refused_by_budget_costs_nothing(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha", budget_credits=4)
    response = await edit(gateway, key, picture())
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exceeded"
    usage = (await gateway.http.get("/v1/usage", headers=bearer(key))).json()
    assert (usage["reserved_credits"], usage["spent_credits"]) == (0, 0)
    assert gateway.upstream_requests("/api/v1/generations") == []


async def test_a_bad_edit_field_stops_before_any_upload(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    for fields in (
        {"aspect_ratio": "2:1"},
        {"translate_prompt": "maybe"},
        {"safety_tolerance": "lots"},
    ):
        response = await edit(gateway, key, picture(), fields)
        assert response.status_code == 400, fields
    missing = await gateway.http.post("/v1/images/edits", data={"prompt": "p"}, headers=bearer(key))
    assert missing.status_code == 400
    assert uploads_upstream(gateway) == []


async def test_an_edit_with_a_model_the_team_may_not_use_uploads_nothing(
    gateway: Gateway,
) -> None:
    key = await gateway.team_with_key("alpha", allowed_models=["flux-kontext-pro"])
    response = await edit(gateway, key, picture(), {"model": "flux-kontext-max"})
    assert response.status_code == 403
    assert uploads_upstream(gateway) == []


async def test_edit_form_fields_are_read_strictly(gateway: Gateway) -> None:
    key = await gateway.team_with_key("alpha")
    for fields in (
        {"safety_tolerance": "+3"},
        {"safety_tolerance": " 3"},
        {"safety_tolerance": "\u0663"},
        {"safety_tolerance": "1_0"},
    ):
        response = await edit(gateway, key, picture(), fields)
        assert response.status_code == 400, fields
    repeated = await gateway.http.post(
        "/v1/images/edits",
        files=[
            ("image", ("p.png", picture(), "image/png")),
            ("prompt", (None, "first")),
            ("prompt", (None, "second")),
        ],
        headers=bearer(key),
    )
    assert repeated.status_code == 400
    assert repeated.json()["error"]["details"][0]["field"] == "prompt"
    assert uploads_upstream(gateway) == []
    ok = await edit(gateway, key, picture(), {"safety_tolerance": "3.0", "model": ""})
    assert ok.status_code == 202, ok.text
    assert ok.json()["model"] == "flux-kontext-max"


async def test_the_readmes_sample_image_is_accepted(gateway: Gateway) -> None:
    key = await gateway.team_with_key("web")
    sample = (project_root() / "examples" / "shoe.jpg").read_bytes()
    answer = await gateway.http.post(
        "/v1/files", files={"file": ("shoe.jpg", sample, "image/jpeg")}, headers=bearer(key)
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["mime_type"] == "image/jpeg"
