"""A create's idempotency key and trace id, as each surface reads them from the request.

On the gateway's own surface (``POST /v1/images``) the ``Idempotency-Key`` header and the body's
``client_request_id`` are synonyms. On the drop-in surface they mean what they mean at Rivya: the
header, when sent, alone keys the create, and ``client_request_id`` is the caller's trace id."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.catalog import FieldError
from app.errors import ValidationFailed

CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # the gateway's own surface
# Rivya's own rule for its trace id: at most 128 characters. The drop-in surface keeps it, so a
# Rivya client's ids work unchanged; they are idempotency keys all the same.
RIVYA_CLIENT_REQUEST_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


@dataclass(frozen=True)
class CreateKeys:
    key: str | None  # what keys the create's idempotency claim (None: one is assigned)
    trace_id: str | None = None  # the caller's trace id, when the header keys the create
    keyed_by_header: bool = False


def gateway_keys(
    data: Mapping[str, Any], header: str | None, errors: list[FieldError]
) -> CreateKeys:
    """``POST /v1/images``: the header and ``client_request_id`` are one key (both sent and
    different: refused)."""
    body_key = data.get("client_request_id")
    if header is None:
        return CreateKeys(
            client_request_id(body_key, errors, CLIENT_REQUEST_ID, "client_request_id")
        )
    key = header_key(header)
    if body_key is not None and body_key != key:
        raise ValidationFailed(
            "Idempotency-Key and client_request_id differ; send one, or the same in both.",
            details=[FieldError("Idempotency-Key", "differs from client_request_id")],
        )
    return CreateKeys(client_request_id(key, errors, CLIENT_REQUEST_ID, "Idempotency-Key"))


def rivya_keys(data: Mapping[str, Any], header: str | None, errors: list[FieldError]) -> CreateKeys:
    """``POST /api/v1/generations``: the header alone keys the create, ``client_request_id`` is
    the trace id passed on to Rivya; without the header, ``client_request_id`` is the key."""
    crid = client_request_id(
        data.get("client_request_id"), errors, RIVYA_CLIENT_REQUEST_ID, "client_request_id"
    )
    if header is None:
        return CreateKeys(crid)
    key = client_request_id(header_key(header), errors, RIVYA_CLIENT_REQUEST_ID, "Idempotency-Key")
    return CreateKeys(key, trace_id=crid, keyed_by_header=True)


def header_key(header: str) -> str:
    """The ``Idempotency-Key`` header's key: a plain token, or an RFC 8941 sf-string as the IETF
    Idempotency-Key draft sends it."""
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key:
        raise ValidationFailed(details=[FieldError("Idempotency-Key", "must not be empty")])
    return key


def client_request_id(
    value: object, errors: list[FieldError], rule: re.Pattern[str], field: str
) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not rule.fullmatch(value):
        allowed = (
            "1-128 characters of A-Z a-z 0-9 . _ : -"
            if rule is CLIENT_REQUEST_ID
            else "1-128 printable characters"
        )
        errors.append(FieldError(field, f"must be {allowed}"))
        return None
    return value
