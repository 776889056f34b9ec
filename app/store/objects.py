"""The object store that keeps the copies of results, through obstore (one API for a local
directory, S3 and what speaks its API, GCS and Azure). Objects are named by the services
(``KeptFile.object_path``: the team, then the content's SHA-256); this module only moves bytes.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError
from obstore.store import LocalStore, ObjectStore, from_url

from app.errors import StoreUnavailable

CHUNK_BYTES = 256 * 1024  # what a copy is served in


def open_store(url: str, directory: Path) -> ObjectStore:
    """The store ``url`` names (``s3://bucket/prefix`` and the like, its credentials from the
    environment), or the local ``directory`` when no URL is given."""
    if url:
        return from_url(url)
    return LocalStore(directory.resolve(), mkdir=True)


@dataclass(frozen=True)
class StoredObject:
    size: int
    chunks: AsyncGenerator[bytes]


class ResultObjects:
    def __init__(self, store: ObjectStore) -> None:
        self._store = store

    async def put(self, path: str, file: Path) -> None:
        """Write ``file`` at ``path``, streamed from disk (multipart when large). Content
        addressed: an object already there holds these very bytes, so it is left as it is."""
        with _unavailable("writing a result's copy"), suppress(AlreadyExistsError):
            await obstore.put_async(self._store, path, file, mode="create")

    async def open(self, path: str) -> StoredObject | None:
        """The object at ``path``, to stream; None if there is none."""
        with _unavailable("reading a result's copy"):
            try:
                found = await obstore.get_async(self._store, path)
            except FileNotFoundError:
                return None
        return StoredObject(found.meta["size"], _chunks(found))

    async def delete(self, paths: list[str]) -> None:
        """Delete the objects at ``paths`` (one missing is no error)."""
        if paths:
            with _unavailable("deleting results' copies"):
                await obstore.delete_async(self._store, paths)

    async def paths_under(self, prefix: str) -> list[str]:
        """Every object's path under ``prefix`` (a team's, when the team is deleted)."""
        found: list[str] = []
        with _unavailable("listing results' copies"):
            async for batch in obstore.list(self._store, prefix=prefix):
                found += [meta["path"] for meta in batch]
        return found


async def _chunks(found: obstore.GetResult) -> AsyncGenerator[bytes]:
    with _unavailable("reading a result's copy"):
        async for chunk in found.stream(min_chunk_size=CHUNK_BYTES):
            yield bytes(chunk)


@contextmanager
def _unavailable(doing: str) -> Iterator[None]:
    """The object store's failures, as the gateway's: a 503 that says what failed (its own
    message names the store's path, never a credential)."""
    try:
        yield
    except (BaseError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise StoreUnavailable(f"The results store failed {doing}: retry soon.") from exc
