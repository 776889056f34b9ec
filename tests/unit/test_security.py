"""Keys, redaction and settings: the pieces that keep secrets secret."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.auth.api_keys import generate_key, hash_key, key_id_of, matches
from app.logging import _CREDENTIALS, JsonFormatter, Redactor, _redacted
from app.settings import SIMULATOR_DEV_KEY, Settings


def test_generated_keys_are_unique_random_and_self_identifying() -> None:
    keys = [generate_key() for _ in range(50)]
    assert len({k.key for k in keys}) == 50
    for new in keys:
        assert key_id_of(new.key) == new.key_id
        assert matches(new.key, new.secret_hash)
        assert new.secret_hash == hash_key(new.key)
        assert new.key not in new.secret_hash
        secret = new.key.split("_", 2)[2]
        assert len(secret) >= 43  # 32 random bytes, url-safe base64


@pytest.mark.parametrize(
    "presented",
    ["", "rgw_", "rgw_zzzz_secret", "rgw_0123456789abcdef", "sk_0123456789abcdef_x", "Bearer x"],
)
def test_malformed_keys_name_no_record(presented: str) -> None:
    assert key_id_of(presented) is None


def test_redaction_covers_configured_secrets_and_credential_shapes() -> None:
    redact = Redactor(["admin-token-123456"])
    line = redact(
        "Authorization: Bearer abc.def key=rvya_sk_live_XYZ team rgw_0123456789abcdef_s3cr-et "
        "admin=admin-token-123456"
    )
    for secret in ("abc.def", "rvya_sk_live_XYZ", "s3cr-et", "admin-token-123456"):
        assert secret not in line
    assert line.count("[REDACTED]") == 4


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("authorization: basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("org key rvya_sk_live_AbC-12_x", "rvya_sk_live_AbC-12_x"),
        ("team key rgw_0123456789abcdef_s3cr-et_X", "s3cr-et_X"),
        ("webhook whsec_AbCdEf012345", "whsec_AbCdEf012345"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl", "eyJzdWIiOiJ1MSJ9"),
        ("GET /x?api_key=k3y-value&x=1", "k3y-value"),
        ("POST token=tok3n_value", "tok3n_value"),
        ("secret=hunter2hunter2", "hunter2hunter2"),
        ("sig signature=ab12cd34", "ab12cd34"),
        ("configured: the-admin-token-value", "the-admin-token-value"),
        ("configured: alert-signing-secret-0123", "alert-signing-secret-0123"),
    ],
)
def test_every_secret_shape_is_redacted(text: str, secret: str) -> None:
    redact = Redactor(["the-admin-token-value", "alert-signing-secret-0123"])
    line = JsonFormatter(redact).format(
        logging.makeLogRecord({"msg": text, "extra_field": {"nested": [text]}})
    )
    assert secret not in line
    assert json.loads(line)["msg"].count("[REDACTED]") == 1


@pytest.mark.parametrize("field", ["path", "client_x_request_id", "subject", "task_id"])
@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("/v1/images?api_key=k3y-value", "k3y-value"),
        ("Bearer rgw_0123456789abcdef_s3cr-et_X", "s3cr-et_X"),
        ("the-admin-token-value", "the-admin-token-value"),
        # One JSON escapes: the line is looked at as written, the secret as JSON writes it.
        ('x"quoted\\secret\tvalue', 'x"quoted\\secret\tvalue'),
    ],
)
def test_a_request_line_with_a_secret_in_any_one_field_is_redacted(
    field: str, text: str, secret: str
) -> None:
    """An access line's values are looked at together first (the common line has nothing to
    redact); a secret in any one of them still sends every value through the redactor."""
    fields: dict[str, object] = {
        "request_id": "req_0123456789abcdef01234567",
        "path": "/v1/images",
        "status": 202,
        "latency_ms": 1.25,
        "client_x_request_id": None,
        "subject": None,
        "task_id": "task_abc",
        "credits_reserved": 8,
    }
    formatter = JsonFormatter(Redactor(["the-admin-token-value", 'x"quoted\\secret\tvalue']))
    clean = json.loads(formatter.format(logging.makeLogRecord({"msg": "request", **fields})))
    assert {k: clean[k] for k in fields} == fields
    line = formatter.format(logging.makeLogRecord({"msg": "request", **fields, field: text}))
    assert secret not in json.loads(line)[field]
    assert "[REDACTED]" in json.loads(line)[field]


def test_every_configured_secret_is_redacted() -> None:
    settings = Settings(
        _env_file=None,
        rivya_api_key="an-org-key-without-its-usual-prefix",
        gateway_admin_token="admin-token-0123456789",
        gateway_token_secret="token-secret-0123456789abcdef0123456789",
        alert_webhook_url="https://hooks.example/x",
        alert_webhook_secret="webhook-secret-0123456789",
        gateway_token_previous_secret="previous-secret-0123456789abcdef01234",
        metrics_token="metrics-token-0123456789",
    )
    redact = Redactor(settings.secrets)
    for secret in (
        "an-org-key-without-its-usual-prefix",
        "admin-token-0123456789",
        "token-secret-0123456789abcdef0123456789",
        "webhook-secret-0123456789",
        "previous-secret-0123456789abcdef01234",
        "metrics-token-0123456789",
    ):
        assert secret not in redact(f"oops: {secret}")


def test_redaction_keeps_every_line_valid_json() -> None:
    formatter = JsonFormatter(Redactor(['se"cr\\et']))
    record = logging.LogRecord(
        "app", logging.INFO, __file__, 1, 'header Bearer abc\\"def and se"cr\\et', None, None
    )
    line = formatter.format(record)
    entry = json.loads(line)  # still JSON
    assert "abc" not in line
    assert 'se"cr' not in entry["msg"]


def test_log_lines_are_json_and_redacted_even_in_tracebacks() -> None:
    formatter = JsonFormatter(Redactor(["rvya_sk_topsecret_1"]))
    try:
        raise RuntimeError("upstream said rvya_sk_topsecret_1")
    except RuntimeError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "boom", None, None)
        import sys

        record.exc_info = sys.exc_info()
    record.team = "alpha"
    entry = json.loads(formatter.format(record))
    assert entry["msg"] == "boom"
    assert entry["team"] == "alpha"
    assert entry["level"] == "error"
    assert "rvya_sk_topsecret_1" not in json.dumps(entry)
    assert "RuntimeError" in entry["exc"]


def test_the_gateway_refuses_to_start_without_an_org_key() -> None:
    with pytest.raises(ValidationError, match="RIVYA_API_KEY"):
        Settings(_env_file=None, rivya_base_url="https://rivya.ai")


def test_only_an_explicit_simulator_upstream_needs_no_org_key() -> None:
    # A loopback URL alone is not enough: it could be an egress proxy to the real Rivya.
    with pytest.raises(ValidationError, match="RIVYA_SIMULATOR"):
        Settings(_env_file=None, rivya_base_url="http://127.0.0.1:8081")
    settings = Settings(
        _env_file=None, rivya_base_url="http://simulator:8081", rivya_simulator=True
    )
    assert settings.org_key == SIMULATOR_DEV_KEY


@pytest.mark.parametrize(
    "url", ["https://rivya.ai", "https://api.rivya.ai", "http://10.0.0.5:8081", "http://sim.corp"]
)
def test_simulator_mode_never_sends_its_dev_key_to_a_public_host(url: str) -> None:
    with pytest.raises(ValidationError, match="not a local simulator"):
        Settings(_env_file=None, rivya_base_url=url, rivya_simulator=True)


def test_a_settings_error_never_echoes_a_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(
            _env_file=None,
            rivya_api_key="rvya_sk_must_not_leak",
            gateway_admin_token="admin-must-not-leak-0",
            rivya_base_url="ftp://nowhere",
        )
    assert "must_not_leak" not in str(caught.value)
    assert "must-not-leak" not in str(caught.value)


def test_a_short_admin_token_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="at least 16"):
        Settings(_env_file=None, rivya_api_key="rvya_sk_x", gateway_admin_token="short")


def test_secrets_can_come_from_files(tmp_path: Path) -> None:
    (tmp_path / "org").write_text("rvya_sk_from_file\n")
    (tmp_path / "admin").write_text("admin-token-from-file")
    settings = Settings(
        _env_file=None,
        RIVYA_API_KEY_FILE=str(tmp_path / "org"),
        GATEWAY_ADMIN_TOKEN_FILE=str(tmp_path / "admin"),
    )
    assert settings.org_key == "rvya_sk_from_file"
    assert settings.admin_token == "admin-token-from-file"
    assert "rvya_sk_from_file" not in repr(settings)


def test_an_unreadable_secret_file_is_a_clear_startup_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="RIVYA_API_KEY_FILE"):
        Settings(_env_file=None, RIVYA_API_KEY_FILE=str(tmp_path / "nope"))


def test_the_quick_check_never_skips_what_the_pattern_would_redact() -> None:
    """Redaction skips the pattern for text that cannot hold a credential; for any text, the
    result must be what the full pattern gives."""
    rng = random.Random(7)
    pieces = [
        "Bearer ",
        "BASIC ",
        "bearer\t",
        "rvya_sk_",
        "rgw_0123456789abcdef_",
        "whsec_",
        "eyJ",
        ".",
        "=",
        "Token=",
        "API-KEY=",
        "access_token=",
        "x",
        "_",
        " ",
        '"',
        ";",
        "/",
        "é",
        "9",
    ]
    redact = Redactor()
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert redact(text) == _CREDENTIALS.sub(_redacted, text), text
