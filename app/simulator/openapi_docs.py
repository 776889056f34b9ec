"""OpenAPI fragments for the simulated API (routes parse bodies themselves, as Rivya's
tolerant parser does, so FastAPI cannot infer these)."""

from __future__ import annotations

from typing import Any

_ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "requestId"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "requestId": {"type": "string", "pattern": "^req_"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                    },
                },
            },
        }
    },
}

_TASK: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status", "model", "reserved_credits", "final_credits"],
    "properties": {
        "id": {"type": "string", "pattern": "^task_"},
        "status": {"enum": ["queued", "processing", "succeeded", "failed"]},
        "model": {"type": "string"},
        "reserved_credits": {"type": "integer"},
        "final_credits": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "result": {
            "type": ["object", "null"],
            "properties": {
                "primary_url": {"type": "string"},
                "urls": {"type": "array", "items": {"type": "string"}},
            },
        },
        "error": {
            "type": ["object", "null"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
    },
}

_FILE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "url"],
    "properties": {
        "id": {"type": "string", "pattern": "^file_"},
        "file_id": {"type": "string"},
        "object": {"const": "file"},
        "kind": {"enum": ["image", "video", "audio"]},
        "mime_type": {"type": "string"},
        "size_bytes": {"type": "integer"},
        "name": {"type": "string"},
        "url": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "durationToken": {"type": "string"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    "4XX": _json(_ERROR, "Error (branch on error.code)"),
    "5XX": _json(_ERROR, "Error (branch on error.code)"),
}

MODELS: dict[int | str, dict[str, Any]] = {
    200: _json({"type": "object", "properties": {"object": {"const": "list"}}}, "Models"),
}
TASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _json(_TASK, "The task (also an idempotent replay)"),
    201: _json(_TASK, "The task was created"),
    **_ERRORS,
}
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: _json(_FILE, "File metadata"),
    201: _json(_FILE, "The file was stored"),
    **_ERRORS,
}
CREDITS: dict[int | str, dict[str, Any]] = {
    200: _json(
        {"type": "object", "properties": {"current_credits": {"type": "integer"}}}, "Credits"
    ),
    **_ERRORS,
}

CREATE_GENERATION: dict[str, Any] = {
    "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["model"],
                    "properties": {
                        "model": {"type": "string"},
                        "prompt": {"type": "string"},
                        "params": {
                            "type": "object",
                            "properties": {
                                "referenceMediaItems": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["url", "kind"],
                                        "properties": {
                                            "url": {"type": "string"},
                                            "kind": {"enum": ["image", "video", "audio"]},
                                        },
                                    },
                                }
                            },
                        },
                        "client_request_id": {"type": "string", "maxLength": 128},
                    },
                }
            }
        },
    },
}

UPLOAD_FILE: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "kind": {"enum": ["image", "video", "audio"]},
                        "model": {"type": "string"},
                        "client_request_id": {"type": "string", "maxLength": 128},
                    },
                }
            }
        },
    },
}
