"""A create's fingerprint is what idempotency claims compare: it must not change between
versions, or a retry across an upgrade would be refused as a different request."""

from __future__ import annotations

import hashlib
import json

from app.catalog import default_catalog
from app.services.generations import parse_image_create


def test_the_fingerprint_is_the_canonical_json_earlier_versions_hashed() -> None:
    catalog = default_catalog()
    request = parse_image_create(
        {
            "prompt": 'un café "au lait"\nsur la table \u2028 \x01',
            "aspect_ratio": "16:9",
            "safety_tolerance": 4,
            "translate_prompt": False,
            "watermark": "Ünïcödé ✓",
            "client_request_id": "retry-me",
        },
        catalog,
        "flux-kontext-max",
    )
    body = request.rivya_body()
    body.pop("client_request_id")
    body["params"].pop("referenceMediaItems", None)
    body["references"] = []
    # How the fingerprint was computed before orjson (and still must come out).
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert request.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()


def test_requests_that_ask_for_the_same_thing_share_a_fingerprint() -> None:
    catalog = default_catalog()
    explicit = parse_image_create(
        {"prompt": "p", "model": "flux-kontext-max", "client_request_id": "a"},
        catalog,
        "flux-kontext-max",
    )
    defaulted = parse_image_create({"prompt": "p"}, catalog, "flux-kontext-max")
    other = parse_image_create({"prompt": "q"}, catalog, "flux-kontext-max")
    assert explicit.fingerprint() == defaulted.fingerprint() != other.fingerprint()
