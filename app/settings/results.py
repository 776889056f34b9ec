"""Custody of results: where the copies of Rivya's result files are kept, what one may be, how
many are copied at once, and the signed links the answers give for them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from app.domain.results import CustodyPolicy

MEGABYTE = 1_048_576


class ResultSettings(BaseSettings):
    # The object store the copies go to: an obstore URL (s3://bucket/prefix, gs://…, az://…;
    # the credentials from the usual AWS_*, GOOGLE_*, AZURE_* variables), or empty for a local
    # directory, RESULTS_DIR (a volume in production if not an object store).
    results_store_url: str = ""
    results_dir: Path = Path("results")
    # A result file larger than this is not copied (its task says so); its link then streams
    # it from Rivya while Rivya keeps it.
    result_max_mb: int = Field(default=50, ge=1)
    result_copies_at_once: int = Field(default=4, ge=1)
    # How long copying a task's results is retried before its task says the copy failed.
    result_copy_retry_hours: float = Field(default=24.0, gt=0)
    # Where clients reach the gateway (https://gateway.example.com), for the links answers
    # give; empty: the URL each request came to (the Host it was sent to).
    gateway_public_url: str | None = None
    # The links the answers give: valid this long (every read of the task gives fresh ones),
    # signed with this secret (default: derived from the org key, so every replica agrees).
    result_link_seconds: int = Field(default=3600, ge=60, le=7 * 86_400)
    result_link_secret: SecretStr | None = None
    result_link_secret_file: Path | None = None
    # A team's copies are deleted this many days after its task ended, unless the team says
    # otherwise (its result_retention_days).
    result_retention_days: int = Field(default=30, ge=1)

    @property
    def custody_policy(self) -> CustodyPolicy:
        return CustodyPolicy(
            max_bytes=self.result_max_mb * MEGABYTE,
            at_once=self.result_copies_at_once,
            retry_seconds=self.result_copy_retry_hours * 3600,
            link_seconds=self.result_link_seconds,
            retention_days=self.result_retention_days,
        )
