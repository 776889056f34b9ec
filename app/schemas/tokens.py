"""Browser tokens: one issued for an end user, and revoking a user's tokens or the team's."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.clock import Timestamp

SUBJECT_PATTERN = r"^[A-Za-z0-9._:@|-]{1,128}$"


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    subject: str = Field(
        pattern=SUBJECT_PATTERN,
        description="The end user the token acts for (your own id for them): 1-128 characters "
        "of A-Z a-z 0-9 . _ : @ | -. Its tasks and files are visible only to it.",
    )
    ttl_seconds: int = Field(default=900, ge=1, le=3600, description="At most an hour.")
    max_credits: int | None = Field(
        default=None, ge=0, description="A credit cap of the token's own (reserved like a budget)."
    )


class TokensRevoked(BaseModel):
    team: str
    subject: str | None = Field(description="null: every browser token of the team")
    revoked_before: str = Field(description="Tokens issued before this moment no longer work.")


class TokenOut(BaseModel):
    token: str = Field(description="Give it to the browser: Authorization: Bearer <token>.")
    token_id: str
    subject: str
    expires_at: Timestamp
    max_credits: int | None


class TokenRevoke(BaseModel):
    """One user's tokens, or (``all``, explicitly) every token of the team."""

    model_config = ConfigDict(extra="forbid", strict=True)

    subject: str | None = Field(default=None, pattern=SUBJECT_PATTERN)
    all: bool = Field(default=False, description="true: every browser token of the team.")

    @model_validator(mode="after")
    def _one_of(self) -> TokenRevoke:
        if (self.subject is None) == (not self.all):
            raise ValueError("give a subject, or all: true (not both)")
        return self
