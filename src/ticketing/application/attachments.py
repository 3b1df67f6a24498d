"""Attachments: the files a request brings go on its ticket after the ticket exists, as their
own durable work (one job per request, queued in the same step as the ticket's completion),
each file uploaded once whatever crashes and retries happen, and refused on its own.

A file is marked ``sending`` (with the name and size it is sent as) before its upload; an
upload whose answer is lost (a timeout, a 5xx, a process killed) is looked up on the ticket by
name and size before it is sent again, counting only files the ticket did not have before
(``baseline``, read once for a ticket the request joined; a new ticket has none). A file that
can never be attached (too large, a blocked type, gone at its source, a host not allowed) is
dead-lettered with its reason, without touching the ticket or the other files, and once the
job's files are all settled one public note on the ticket names what is missing, so the
agent knows. A job waits, and is tried again, while Zoho or Redis is down.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from ticketing.application.guard import GuardedHelpdesk
from ticketing.application.tickets.follow_ups import find_comment
from ticketing.domain.attachments import (
    AttachmentFetchError,
    AttachmentJob,
    AttachmentRejected,
    AttachmentSpec,
    FileSource,
    TicketAttachment,
    same_file,
)
from ticketing.domain.errors import (
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    StoreUnavailable,
)
from ticketing.domain.model import reference_line
from ticketing.domain.ports import (
    AttachmentBlobs,
    AttachmentDesk,
    AttachmentFetcher,
    AttachmentMetrics,
    AttachmentWork,
    Clock,
    DeadLetters,
    FollowUpDesk,
    TicketLedger,
    lease_owner,
)

log = logging.getLogger(__name__)

SENDING: Final = "sending"
UPLOADED: Final = "uploaded"
DEAD: Final = "dead"
POSTED: Final = "posted"
# What the note says of each reason a file was refused.
_REASONS: Final = {
    "too_large": "larger than the helpdesk takes",
    "blocked_type": "a file type this helpdesk blocks",
    "empty": "an empty file",
    "gone": "no longer at its source",
    "host_not_allowed": "from a host the service may not fetch from",
    "private_address": "from a private address the service may not fetch from",
    "bad_content_type": "not of the type it was sent as",
    "source_error": "its source failed",
    "timeout": "its source took too long",
    "ticket_gone": "the ticket cannot take files",
}


@dataclass(frozen=True, slots=True)
class AttachmentPolicy:
    """``grace``: seconds after an ambiguous upload during which a miss on the ticket is not
    trusted (an upload cut off may still land); ``idle``: seconds a job held by a process
    stays with it before another takes it (it died); ``origin``: the jobs stream, where a
    replayed dead letter goes back to."""

    grace: float = 30.0
    idle: float = 10.0
    batch: int = 5
    # A file's lease: taken over at once when its holder's heartbeat is gone (a killed
    # process), else after this long (a living process stuck on it).
    lease_ttl: float = 300.0
    origin: str = "ticketing:attachments"
    is_public: bool = False


@dataclass(slots=True)
class AttachmentsReport:
    jobs: int = 0
    done: int = 0
    uploaded: int = 0
    dead: int = 0
    waiting: str | None = None  # why a job waits (Zoho or Redis failing)
    errors: list[str] = field(default_factory=list)


class GuardedAttachments:
    """An :class:`AttachmentDesk` whose calls go through the ticket calls' breaker and call
    gate: one budget of Zoho calls in flight, one 429 pause."""

    def __init__(self, inner: AttachmentDesk, guard: GuardedHelpdesk) -> None:
        self._inner = inner
        self._guard = guard

    async def upload_attachment(
        self,
        ticket_id: str,
        filename: str,
        content_type: str,
        source: FileSource,
        *,
        is_public: bool = False,
    ) -> TicketAttachment:
        return await self._guard.guarded(
            lambda: self._inner.upload_attachment(
                ticket_id, filename, content_type, source, is_public=is_public
            ),
            "upload_attachment",
        )

    async def list_attachments(self, ticket_id: str) -> list[TicketAttachment]:
        return await self._guard.guarded(
            lambda: self._inner.list_attachments(ticket_id), "list_attachments"
        )


class StageFiles:
    """Stage a request's inline files (the bytes its draft names by blob id) before the
    request is accepted: an acceptance never names bytes that are not there. A request whose
    key is known already (a redelivery) stages nothing: its files are staged (or done)."""

    def __init__(self, blobs: AttachmentBlobs, ledger: TicketLedger, ttl: float) -> None:
        self._blobs = blobs
        self._ledger = ledger
        self._ttl = ttl

    async def __call__(self, key: str, staged: Mapping[str, bytes]) -> None:
        if not staged or await self._ledger.get(key) is not None:
            return
        for blob, data in staged.items():
            await self._blobs.put(blob, _one(data), self._ttl)

    async def stream(self, key: str, sources: Mapping[str, FileSource]) -> None:
        """Stage files read in chunks (blob id → its bytes, e.g. a multipart part spooled
        to disk): never whole in memory. A known key stages nothing, as above."""
        if not sources or await self._ledger.get(key) is not None:
            return
        for blob, source in sources.items():
            await self._blobs.put(blob, source.chunks(), self._ttl)


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _Later(Exception):
    """A file (or the note) waits: an ambiguous send inside its grace, or a source that may
    answer later."""


class PutAttachments:
    """One pass over the attachment jobs (``__call__``): each job's files uploaded, refused
    or left waiting; a job is acknowledged only when all are settled and the note is on."""

    def __init__(
        self,
        work: AttachmentWork,
        blobs: AttachmentBlobs,
        desk: AttachmentDesk,
        fetcher: AttachmentFetcher,
        comments: FollowUpDesk,
        dead: DeadLetters,
        leases: TicketLedger,
        clock: Clock,
        metrics: AttachmentMetrics | None = None,
        policy: AttachmentPolicy | None = None,
        *,
        new_owner: Callable[[], str] = lease_owner,
    ) -> None:
        self._work = work
        self._blobs = blobs
        self._desk = desk
        self._fetcher = fetcher
        self._comments = comments
        self._dead = dead
        self._leases = leases
        self._new_owner = new_owner
        self._clock = clock
        self._metrics = metrics
        self.policy = policy or AttachmentPolicy()
        self._waiting: str | None = None  # the kind of failure the last pass waited on

    async def __call__(self, consumer: str) -> AttachmentsReport:
        policy = self.policy
        report = AttachmentsReport()
        jobs = await self._work.claim(consumer, policy.batch, policy.idle)
        report.jobs = len(jobs)
        for job in jobs:
            try:
                done = await self._job(job, report)
            except (HelpdeskUnavailable, HelpdeskAuthError, StoreUnavailable) as exc:
                report.waiting = exc.message
                # Once per reason, not on every pass while Zoho or Redis stays down.
                why = (
                    f"{type(exc).__name__} {getattr(exc, 'status', '')} {getattr(exc, 'code', '')}"
                )
                level = logging.DEBUG if why == self._waiting else logging.INFO
                self._waiting = why
                log.log(level, "attachments of %s wait: %s", job.key, exc.message)
                break  # Zoho or Redis is down: the other jobs wait too
            if done:
                await self._work.ack(job.entry_id)
                report.done += 1
        if report.waiting is None:
            self._waiting = None
        return report

    async def _job(self, job: AttachmentJob, report: AttachmentsReport) -> bool:
        progress = await self._work.progress(job.key)
        if job.only is not None and progress.get(f"{job.only}:state") == DEAD:
            # A replayed dead letter: that file is tried again.
            cleared = {f"{job.only}:state": "", f"{job.only}:reason": ""}
            await self._work.record(job.key, cleared)
            progress = await self._work.progress(job.key)
        baseline = await self._baseline(job, progress)
        settled = True
        indexes = [job.only] if job.only is not None else range(len(job.attachments))
        for n in indexes:
            try:
                async with self._lease(f"{job.key}#attachment-{n}"):
                    progress = await self._work.progress(job.key)  # as left by whoever held it
                    await self._file(job, n, progress, baseline, report)
            except _Later:
                settled = False
        if not settled:
            return False
        progress = await self._work.progress(job.key)
        missing = [n for n in range(len(job.attachments)) if progress.get(f"{n}:state") == DEAD]
        if missing and job.only is None:
            try:
                async with self._lease(f"{job.key}#attachment-note"):
                    await self._note(job, missing, await self._work.progress(job.key))
            except _Later:
                return False
        uploaded = [
            spec.blob
            for n, spec in enumerate(job.attachments)
            if spec.blob and progress.get(f"{n}:state") == UPLOADED
        ]
        await self._blobs.delete(uploaded)
        return True

    @contextlib.asynccontextmanager
    async def _lease(self, name: str) -> AsyncIterator[None]:
        """One process at a time on a file (or the note), fleet-wide: the lease of the
        ticket store, taken over at once from a process whose heartbeat is gone. _Later when
        another holds it."""
        owner = self._new_owner()
        if not (await self._leases.lease(name, owner, self.policy.lease_ttl)).held:
            raise _Later
        try:
            yield
        finally:
            with contextlib.suppress(StoreUnavailable):
                await self._leases.release(name, owner)

    async def _baseline(self, job: AttachmentJob, progress: dict[str, str]) -> dict[str, int]:
        """How many of each (name, size) the ticket had before this job's first upload: none
        on a ticket the request created; read once, before any upload, on one it joined."""
        if not job.joined:
            return {}
        if "baseline" not in progress:
            files = await self._desk.list_attachments(job.ticket_id)
            counts: dict[str, int] = {}
            for a in files:
                counts[_file_key(a.name, a.size)] = counts.get(_file_key(a.name, a.size), 0) + 1
            progress["baseline"] = json.dumps(counts)
            await self._work.record(job.key, {"baseline": progress["baseline"]})
        loaded: dict[str, int] = json.loads(progress["baseline"])
        return loaded

    async def _file(
        self,
        job: AttachmentJob,
        n: int,
        progress: dict[str, str],
        baseline: dict[str, int],
        report: AttachmentsReport,
    ) -> str:
        """Settle file ``n``: its state afterwards (UPLOADED or DEAD), or _Later."""
        state = progress.get(f"{n}:state")
        if state in (UPLOADED, DEAD):
            return state
        spec = job.attachments[n]
        if state == SENDING:
            name, size = progress.get(f"{n}:name", spec.filename), int(progress[f"{n}:size"])
            files = await self._desk.list_attachments(job.ticket_id)
            if len(same_file(files, name, size)) > baseline.get(_file_key(name, size), 0):
                log.info("attachment %s of %s had been uploaded", name, job.key)
                await self._work.record(job.key, {f"{n}:state": UPLOADED})
                report.uploaded += 1
                return UPLOADED
            if self._since(progress.get(f"{n}:at")) < self.policy.grace:
                raise _Later
        try:
            async with self._source(spec) as (source, content_type):
                return await self._upload(job, n, spec, source, content_type, report)
        except AttachmentFetchError as exc:
            if exc.retryable:
                log.info("attachment %s of %s: %s; tried again later", n, job.key, exc)
                raise _Later from None
            why = exc.message.removeprefix(f"{exc.reason}: ")
            return await self._refuse(job, n, spec, exc.reason, why, report)
        except AttachmentRejected as exc:
            return await self._refuse(job, n, spec, exc.reason, exc.message, report)
        except HelpdeskRejected as exc:
            return await self._refuse(job, n, spec, "ticket_gone", exc.message, report)

    async def _upload(
        self,
        job: AttachmentJob,
        n: int,
        spec: AttachmentSpec,
        source: FileSource,
        content_type: str,
        report: AttachmentsReport,
    ) -> str:
        name = spec.filename
        sending = {
            f"{n}:state": SENDING,
            f"{n}:name": name,
            f"{n}:size": str(source.size),
            f"{n}:at": self._clock.now().isoformat(),
        }
        await self._work.record(job.key, sending)
        started = self._clock.monotonic()
        try:
            uploaded = await self._desk.upload_attachment(
                job.ticket_id, name, content_type, source, is_public=self.policy.is_public
            )
        except HelpdeskUnavailable as exc:
            if exc.sent:
                log.warning("upload of %s for %s is ambiguous: %s", name, job.key, exc.message)
                await self._work.record(job.key, {f"{n}:at": self._clock.now().isoformat()})
                raise _Later from None
            await self._work.record(job.key, {f"{n}:state": ""})
            raise
        seconds = self._clock.monotonic() - started
        await self._work.record(job.key, {f"{n}:state": UPLOADED, f"{n}:id": uploaded.id})
        log.info(
            "attached %s (%d bytes) to ticket %s for %s as %s",
            name,
            source.size,
            job.ticket_id,
            job.key,
            uploaded.id,
        )
        report.uploaded += 1
        if self._metrics is not None:
            self._metrics.attachment_uploaded(source.size, seconds)
        return UPLOADED

    @contextlib.asynccontextmanager
    async def _source(self, spec: AttachmentSpec) -> AsyncIterator[tuple[FileSource, str]]:
        declared = spec.content_type or "application/octet-stream"
        if spec.url:
            async with self._fetcher.fetch(spec.url, content_type=spec.content_type) as fetched:
                yield fetched, fetched.content_type or declared
            return
        staged = await self._blobs.open(spec.blob or "")
        if staged is None:
            raise AttachmentFetchError("gone", f"{spec.filename}: its bytes are gone")
        yield staged, declared

    async def _refuse(
        self,
        job: AttachmentJob,
        n: int,
        spec: AttachmentSpec,
        reason: str,
        message: str,
        report: AttachmentsReport,
    ) -> str:
        """File ``n`` will never be attached: a dead letter of its own (replayable onto the
        jobs stream), its state DEAD; the ticket and the other files are not touched."""
        letter = {
            "key": job.key,
            "ticket_id": job.ticket_id,
            "joined": job.joined,
            "index": n,
            "attachments": [_spec_json(s) for s in job.attachments],
        }
        why = f"attachment {spec.filename!r} of {job.key}: {reason}: {message}"
        await self._dead.bury_raw(json.dumps(letter), why, self.policy.origin)
        await self._work.record(job.key, {f"{n}:state": DEAD, f"{n}:reason": reason})
        log.warning("not attaching to ticket %s: %s", job.ticket_id, why)
        report.dead += 1
        if self._metrics is not None:
            self._metrics.attachment_refused(reason)
        return DEAD

    async def _note(self, job: AttachmentJob, missing: list[int], progress: dict[str, str]) -> None:
        """One public note on the ticket naming the files that could not be attached."""
        if progress.get("note") == POSTED:
            return
        marker = f"{job.key}/attachments"
        if progress.get("note") == SENDING:
            sent_at = _parse(progress.get("note_at"))
            if await find_comment(self._comments, job.ticket_id, marker, sent_at) is not None:
                await self._work.record(job.key, {"note": POSTED})
                return
            if self._since(progress.get("note_at")) < self.policy.grace:
                raise _Later
        lines = [
            f"- {job.attachments[n].filename}: "
            + _REASONS.get(progress.get(f"{n}:reason", ""), "it could not be added")
            for n in missing
        ]
        text = (
            "The customer's message came with files that could not be added to this ticket:\n"
            + "\n".join(lines)
            + "\nAsk the customer to send them again another way."
            + reference_line(marker)
        )
        await self._work.record(job.key, {"note": SENDING, "note_at": self._now()})
        try:
            await self._comments.post_comment(job.ticket_id, text)
        except HelpdeskUnavailable as exc:
            if exc.sent:
                await self._work.record(job.key, {"note_at": self._now()})
                raise _Later from None
            await self._work.record(job.key, {"note": ""})
            raise
        await self._work.record(job.key, {"note": POSTED})

    def _now(self) -> str:
        return self._clock.now().isoformat()

    def _since(self, stamp: str | None) -> float:
        at = _parse(stamp)
        return 1e9 if at is None else (self._clock.now() - at).total_seconds()


def _parse(stamp: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None


def _file_key(name: str, size: int) -> str:
    return f"{size}:{name}"


def _spec_json(spec: AttachmentSpec) -> dict[str, object]:
    data: dict[str, object] = {"filename": spec.filename}
    for name in ("content_type", "size", "url", "blob"):
        value = getattr(spec, name)
        if value is not None:
            data[name] = value
    return data
