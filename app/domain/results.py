"""Custody of results, as every layer shares it: a task's result files (each the gateway keeps a
copy of, content addressed), where a copy stands, and the policy that copies them.

Rivya's result URLs live for an undocumented time, so the gateway copies every file of a
succeeded task into the org's object store and answers with links of its own (signed, short
lived: ``services/result_links.py``) that serve the copy, or Rivya's file until it lands."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The types a result file may be (what Rivya's image models give), by their first bytes.
RESULT_TYPES = ("image/jpeg", "image/png", "image/webp")


class Custody(StrEnum):
    """Where a succeeded task's copies stand (its task hash's ``custody``)."""

    COPYING = "copying"  # not all copied yet; links stream Rivya's files meanwhile
    KEPT = "kept"  # every file copied: links serve the copies
    FAILED = "failed"  # given up (too large, not an image, gone at Rivya): links try Rivya's


@dataclass(frozen=True)
class CustodyPolicy:
    max_bytes: int  # a file larger is not copied
    at_once: int  # files copied at once, per process
    retry_seconds: float  # how long copying a task is retried before its custody fails
    link_seconds: int  # how long a link an answer gives is valid
    retention_days: int  # the default: a team's copies are deleted this long after


@dataclass(frozen=True)
class KeptFile:
    """One file's copy: its content's SHA-256 (its name in the store, under the team), size and
    type. Stored as ``sha256|bytes|type`` in the task hash's ``kept:<index>``."""

    sha256: str
    size: int
    content_type: str

    def encode(self) -> str:
        return f"{self.sha256}|{self.size}|{self.content_type}"

    @classmethod
    def decode(cls, text: str) -> KeptFile:
        sha256, size, content_type = text.split("|", 2)
        return cls(sha256, int(size), content_type)

    def object_path(self, tenant: str) -> str:
        """Where the copy lives in the store: per team, so one team's copies are never
        another's, and deleting a team's is a prefix."""
        return f"{tenant}/{self.sha256}"


def result_files(primary_url: str, urls: list[str]) -> list[str]:
    """A result's files, each once: the primary first (index 0), then the others in order. A
    link names a file by its index here."""
    files = [primary_url]
    files += [url for url in urls if url not in files]
    return files
