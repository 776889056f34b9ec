"""Uploads and references: checking a file, forwarding it to Rivya's Files API, recording it
for its team, and turning a team's references into Rivya's ``referenceMediaItems``."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from contextlib import AbstractAsyncContextManager

from app.catalog import Catalog, FieldError, ModelSpec
from app.clock import Clock, iso_timestamp
from app.domain.files import FileRecord
from app.domain.teams import Team
from app.domain.uploads import UploadLimits
from app.errors import NotFound, RateLimited, UpstreamError, ValidationFailed
from app.services.generations import GenerationRequest
from app.services.image_checks import ImageChecks
from app.services.limits import AtOnce
from app.services.uploads import Prechecked, file_rule, precheck
from app.store.files import FileStore
from app.upstream.client import RivyaClient


class FileService:
    def __init__(
        self,
        store: FileStore,
        upstream: RivyaClient,
        catalog: Catalog,
        clock: Clock,
        *,
        images: ImageChecks,
        limits: UploadLimits,
    ) -> None:
        self._store, self._upstream, self._catalog, self._clock = store, upstream, catalog, clock
        self._images, self._limits = images, limits
        self._bodies = AtOnce(limits.at_once, wait_seconds=limits.wait_seconds, what="uploads")

    def receiving(self, team: Team) -> AbstractAsyncContextManager[None]:
        """Room for one upload's body in this process's memory, taken before the body is read:
        however many uploads arrive at once, at most ``at_once`` bodies are held."""
        return self._bodies.hold(team.tenant)

    def close(self) -> None:
        self._images.close()

    async def upload(
        self,
        team: Team,
        data: bytes,
        *,
        name: str,
        kind: str,
        model_id: str | None = None,
        subject: str | None = None,
    ) -> FileRecord:
        """Check and upload a file for the team (for one end user: ``subject``, a browser
        token's, whose files no other user of the team may reference)."""
        rule = file_rule(self._catalog, kind, self._model(model_id))
        # In a thread: hashing 10 MB would hold the event loop for ~20 ms.
        checked = await asyncio.to_thread(precheck, data, name=name, kind=kind, rule=rule)
        # The same content uploaded again by the same team is the same file: no second upload
        # and no second decode, and a repeated edit references the very same URL.
        existing = await self._store.find_by_content(team.tenant, checked.sha256, subject)
        if existing is not None and existing.kind == kind:
            return existing
        await self._admit(team, subject)
        if kind == "image":
            # In a worker process, under a hard memory cap and a deadline: nothing a file makes
            # a parser or decoder do reaches this process's memory or event loop.
            await self._images.check(data, checked.mime_type, team=team.tenant)
        record = await self._send(team, data, checked, model_id=model_id, subject=subject)
        await self._store.record(record)
        return record

    def _model(self, model_id: str | None) -> ModelSpec | None:
        """The model an upload names, whose file rules it must meet; None if it names none."""
        if model_id is None:
            return None
        model = self._catalog.get(model_id)
        if model is None:
            raise ValidationFailed(details=[FieldError("model", f"unknown model {model_id!r}")])
        return model

    async def _admit(self, team: Team, subject: str | None) -> None:
        """A place in the team's upload rate (and its user's), or a 429 saying when to retry."""
        wait_ms = await self._store.admit_upload(
            team.tenant,
            per_minute=self._limits.per_minute,
            burst=self._limits.burst,
            subject=subject,
        )
        if wait_ms:
            retry = max(1, -(-wait_ms // 1000))
            raise RateLimited(
                f"Team {team.id!r} may upload {self._limits.per_minute} files a minute; retry "
                f"in {retry} s.",
                headers={"Retry-After": str(retry)},
            )

    async def _send(
        self,
        team: Team,
        data: bytes,
        checked: Prechecked,
        *,
        model_id: str | None,
        subject: str | None,
    ) -> FileRecord:
        """Upload the checked file to Rivya's Files API: the team's record of what Rivya made."""
        rivya = await self._upstream.upload_file(
            data, name=checked.name, mime_type=checked.mime_type, kind=checked.kind, model=model_id
        )
        if not rivya.url:
            raise UpstreamError("Rivya's answer to the upload carried no file URL.")
        wire = rivya.model_dump(mode="json", exclude_none=True)
        return FileRecord(
            id=rivya.id,
            team=team.tenant,
            kind=checked.kind,
            mime_type=checked.mime_type,
            size_bytes=checked.size_bytes,
            name=checked.name,
            url=rivya.url,
            sha256=checked.sha256,
            created_at=str(wire.get("created_at") or iso_timestamp(self._clock.now())),
            duration_token=rivya.duration,
            upstream=wire,
            subject=subject,
        )

    async def get(self, team: Team, file_id: str) -> FileRecord:
        record = await self._store.get(team.tenant, file_id)
        if record is None:
            raise NotFound(f"No file {file_id!r}.")
        return record

    async def resolve(
        self, team: Team, request: GenerationRequest, subject: str | None = None
    ) -> GenerationRequest:
        """Replace the request's references by the team's files, as Rivya's media items. A file
        the team does not own (or, for a browser token, its subject did not upload), or any
        other URL, is refused: no cross-team or cross-user use, no SSRF."""
        if not request.reference_file_ids and not request.reference_urls:
            return request
        files: list[FileRecord] = []
        errors: list[FieldError] = []
        for field, file_id in request.reference_file_ids:
            found = await self._store.get(team.tenant, file_id)
            if found is None or (subject is not None and found.subject != subject):
                errors.append(FieldError(field, f"no file {file_id!r} uploaded by this team"))
            else:
                files.append(found)
        for field, url in request.reference_urls:
            found = await self._store.find_by_url(team.tenant, url)
            if found is None or (subject is not None and found.subject != subject):
                errors.append(FieldError(field, "is not the URL of one of this team's uploads"))
            else:
                files.append(found)
        for kind, count in Counter(f.kind for f in files).items():
            rule = request.model.file_kinds.get(kind)
            if rule is None:
                errors.append(FieldError("reference", f"{request.model.id} takes no {kind} files"))
            elif count > rule.max_files:
                errors.append(
                    FieldError(
                        "reference",
                        f"{request.model.id} takes at most {rule.max_files} "
                        f"{kind} file(s); {count} given",
                    )
                )
        if errors:
            raise ValidationFailed(details=errors)
        return dataclasses.replace(
            request,
            references=tuple(f.media_item() for f in files),
            reference_digests=tuple(f.sha256 for f in files),
        )
