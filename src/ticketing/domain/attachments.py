"""Attachments: a file on a helpdesk ticket, the bytes handed over for one, the refusals with
the reasons dead letters and metrics carry, and the rules for names and URL hosts."""

from __future__ import annotations

import posixpath
import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, Protocol

from ticketing.domain.errors import HelpdeskRejected, TicketingError

# Zoho: "about 20 MB" per file (facts page), read as MiB; ATTACHMENT_MAX_BYTES's default
ZOHO_MAX_BYTES: Final = 20 * 1024 * 1024
# TicketAttachment.json attachmentResponse.name: at most 100 characters
NAME_MAX: Final = 100
DEFAULT_NAME: Final = "attachment"

# Why a helpdesk refused a file for good (the upload's side).
RefusalReason = Literal["too_large", "blocked_type", "empty"]
# Why a file could not be fetched from its URL (the fetcher's side).
FetchReason = Literal[
    "host_not_allowed",
    "private_address",
    "too_large",
    "timeout",
    "gone",
    "bad_content_type",
    "source_error",
]
FETCH_REASONS: Final[tuple[FetchReason, ...]] = (
    "host_not_allowed",
    "private_address",
    "too_large",
    "timeout",
    "gone",
    "bad_content_type",
    "source_error",
)


@dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """One file a request brings, as accepted: fetched from ``url`` when its upload runs, or
    read from the bytes staged under ``blob`` (inline data, a multipart part). ``filename``
    is already fit for the helpdesk and unique among the request's files."""

    filename: str
    content_type: str | None = None
    size: int | None = None
    url: str | None = None
    blob: str | None = None


@dataclass(frozen=True, slots=True)
class AttachmentJob:
    """The files of one request, to put on its ticket once the ticket exists: one job per
    request (``key``), queued in the same step as the ticket's completion. ``joined``: the
    ticket was an open one the request joined (files may already be on it). ``only``: a
    replayed dead letter, one file of the request to try again."""

    entry_id: str
    key: str
    ticket_id: str
    attachments: tuple[AttachmentSpec, ...]
    joined: bool = False
    only: int | None = None


def unique_names(names: Sequence[str]) -> list[str]:
    """The names, each made unique among them as a desktop does: ``photo.jpg``, ``photo (2).jpg``
    (so an upload whose answer was lost is found again by its name and size)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            stem, dot, extension = name.rpartition(".")
            candidate = f"{stem} ({n}).{extension}" if dot and stem else f"{name} ({n})"
            candidate = attachment_name(candidate)
        seen.add(candidate.lower())
        out.append(candidate)
    return out


@dataclass(frozen=True, slots=True)
class TicketAttachment:
    """A file attached to a helpdesk ticket."""

    id: str
    ticket_id: str
    name: str
    size: int
    is_public: bool
    href: str | None = None
    created_time: datetime | None = None


class FileSource(Protocol):
    """Bytes to upload, readable from the start as many times as asked (a retry after a
    refreshed token sends them again), in chunks: a large file never sits whole in memory."""

    @property
    def size(self) -> int:
        """The number of bytes ``chunks`` yields."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The bytes from the first, in chunks."""
        ...


class FetchedFile(FileSource, Protocol):
    """A file fetched from a URL and held (spooled to disk when large) until closed."""

    @property
    def content_type(self) -> str:
        """The media type the source answered, without parameters (``image/png``)."""
        ...

    @property
    def filename(self) -> str | None:
        """The name the source gave (``Content-Disposition``) or the URL's last segment."""
        ...

    @property
    def sha256(self) -> str:
        """The hex digest of the bytes."""
        ...


class AttachmentRejected(HelpdeskRejected):
    """The helpdesk refused the file for good (too large, a blocked type, empty): retrying
    the same bytes can never work. ``reason`` is what a dead letter and a metric carry."""

    def __init__(
        self,
        message: str,
        *,
        reason: RefusalReason,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, field="file")
        self.reason: RefusalReason = reason


class AttachmentFetchError(TicketingError):
    """A file could not be fetched from its URL. ``reason`` names why (``FETCH_REASONS``);
    ``retryable`` says whether the same fetch may work later (a timeout, the source's 5xx
    or a dropped connection) or never will (a refused host, 404, too large)."""

    def __init__(self, reason: FetchReason, message: str, *, retryable: bool = False) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason: FetchReason = reason
        self.retryable = retryable


_UNSAFE: Final = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')


def attachment_name(name: str | None, *, limit: int = NAME_MAX) -> str:
    """A file name fit for the helpdesk: the last path segment, no control or reserved
    characters, NFC, at most ``limit`` characters with its extension kept; ``attachment``
    when nothing is left."""
    raw = unicodedata.normalize("NFC", (name or "").replace("\\", "/"))
    base = posixpath.basename(raw.rstrip("/"))
    cleaned = _UNSAFE.sub("_", base).strip(" .")
    if not cleaned:
        return DEFAULT_NAME
    if len(cleaned) <= limit:
        return cleaned
    stem, dot, extension = cleaned.rpartition(".")
    if not dot or not stem or len(extension) > 16:
        return cleaned[:limit]
    return stem[: limit - len(extension) - 1] + "." + extension


def same_file(
    attachments: Sequence[TicketAttachment], name: str, size: int
) -> list[TicketAttachment]:
    """The attachments that are this file as the helpdesk shows it (name and size): how an
    upload whose answer was lost is looked up. Count them before the first try when the
    same file may be attached twice on purpose."""
    return [a for a in attachments if a.name == name and a.size == size]


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether ``host`` is in ``allowed``: an exact name, or ``*.suffix`` for any name
    under the suffix (not the suffix itself). Case and a trailing dot do not count."""
    wanted = host.lower().rstrip(".")
    if not wanted:
        return False
    for entry in allowed:
        rule = entry.strip().lower().rstrip(".")
        if not rule:
            continue
        if rule.startswith("*."):
            suffix = rule[1:]
            if wanted.endswith(suffix) and len(wanted) > len(suffix):
                return True
        elif wanted == rule:
            return True
    return False
