"""What one team (or one address) may take: uploads and their image checks, reads, revocations,
failed authentications and refused requests. All per process, except a team's uploads."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from app.domain.uploads import ImageCheckLimits, UploadLimits

MEGABYTE = 1_048_576


class LimitSettings(BaseSettings):
    # Request bodies: a JSON body's cap, and the bodies one process holds at once, in all (at
    # least the largest upload).
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    request_bodies_mb: int = Field(default=64, ge=1)

    # Uploads: a team's uploads per minute and burst (all replicas together); how many upload
    # bodies one process holds at once; and the image checks' worker processes (per serving
    # process): how many, what one check may decode (each worker's address space is capped at
    # its base plus this), its deadline, and how long a check waits for a free worker. The k8s
    # memory limit is sized to these (deploy/README.md).
    uploads_per_minute_per_team: int = Field(default=30, ge=1)
    upload_burst_per_team: int = Field(default=10, ge=1)
    uploads_at_once: int = Field(default=4, ge=1)
    image_check_workers: int = Field(default=2, ge=1)
    decode_memory_mb: int = Field(default=160, ge=16)
    image_check_seconds: float = Field(default=5.0, gt=0)
    decode_wait_seconds: float = Field(default=10.0, ge=0)

    # Failed authentications per client address (and per key id) before a credential this
    # process does not know to be good is refused unread (429).
    auth_failures_per_minute: int = Field(default=60, ge=1)
    auth_failure_burst: int = Field(default=30, ge=1)
    # Requests refused as bad input (400, 413, 415) per team (a browser user: a quarter), per
    # process, before the team's requests are refused unread (429).
    refused_requests_per_minute: int = Field(default=60, ge=1)
    refused_request_burst: int = Field(default=30, ge=1)
    # A team's reads per minute and burst, per process.
    reads_per_minute_per_team: int = Field(default=1200, ge=1)
    read_burst_per_team: int = Field(default=120, ge=1)
    # Revocations of browser tokens a team's key may ask (per process; an admin's are not
    # limited): each is a replicated Redis write.
    revocations_per_minute_per_team: int = Field(default=60, ge=1)
    revocation_burst_per_team: int = Field(default=20, ge=1)

    @property
    def upload_limits(self) -> UploadLimits:
        return UploadLimits(
            per_minute=self.uploads_per_minute_per_team,
            burst=self.upload_burst_per_team,
            at_once=self.uploads_at_once,
            wait_seconds=self.decode_wait_seconds,
        )

    @property
    def image_check_limits(self) -> ImageCheckLimits:
        return ImageCheckLimits(
            workers=self.image_check_workers,
            decode_bytes=self.decode_memory_mb * MEGABYTE,
            seconds=self.image_check_seconds,
            wait_seconds=self.decode_wait_seconds,
        )

    @property
    def request_bodies_bytes(self) -> int:
        return self.request_bodies_mb * MEGABYTE
