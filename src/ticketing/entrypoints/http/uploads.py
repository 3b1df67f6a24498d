"""A ``multipart/form-data`` body read as it arrives (issue 15, ``curl -F``): text parts
become fields, parts named ``file`` are spooled (up to 1 MiB in memory, then a temporary
file) and never held whole. A file over its limit, text fields over theirs or a body over
its cap is refused (413) as soon as it passes it: nothing more is read."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any, Final

import anyio.to_thread
import multipart
from litestar import Request

from ticketing.adapters.attachments.sources import FileObjectSource
from ticketing.application.intake import MAX_ATTACHMENTS, UploadedFile
from ticketing.entrypoints.http.errors import BadRequest, BodyTooLarge

# Bytes of each file kept in memory before it goes to a temporary file.
SPOOL_IN_MEMORY: Final = 1024 * 1024
# More parts than this is no form a person filled in: refused before reading them all.
MAX_PARTS: Final = 64
# The part headers and boundaries around the fields and files.
ENVELOPE: Final = 1024 * 1024
FILE_PART: Final = "file"


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """``file``: the largest file (ATTACHMENT_MAX_BYTES); ``text``: the text fields together
    (MAX_BODY_BYTES, what any other body may hold); ``files``: how many files are read (the
    rest are counted, not kept: intake drops them with a note)."""

    file: int
    text: int
    files: int = MAX_ATTACHMENTS

    @property
    def body(self) -> int:
        """The whole body: every file at its largest, the text and the envelope."""
        return self.files * self.file + self.text + ENVELOPE


@dataclass(slots=True)
class Upload:
    """One ``file`` part: its name, type and size as sent, and its bytes (spooled; None for a
    file past the ones kept, whose bytes were not read aside)."""

    filename: str | None
    content_type: str | None
    size: int = 0
    spool: IO[bytes] | None = None

    def uploaded(self) -> UploadedFile:
        return UploadedFile(self.filename, self.content_type, self.size)

    def source(self) -> FileObjectSource:
        """The bytes, read back in chunks from the start (off the event loop)."""
        assert self.spool is not None, "a file that was not kept has no bytes"
        return FileObjectSource(self.spool, self.size)

    async def write(self, data: bytes) -> None:
        if self.spool is None:
            return
        if self.size + len(data) <= SPOOL_IN_MEMORY:
            self.spool.write(data)  # in memory: no disk to wait for
        else:
            await anyio.to_thread.run_sync(self.spool.write, data)
        self.size += len(data)


@dataclass(slots=True)
class MultipartForm:
    """The fields (in order, repeats included) and the files of a body. Close it (``with``)
    to remove the spooled files."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[Upload] = field(default_factory=list)

    def close(self) -> None:
        for upload in self.files:
            if upload.spool is not None:
                upload.spool.close()

    def __enter__(self) -> MultipartForm:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def is_multipart(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "multipart/form-data"


def boundary_of(content_type: str | None) -> str:
    """The boundary the ``Content-Type`` names.

    Raises:
        BadRequest: none (``curl -F`` always sends one; a hand-written header may not).
    """
    _, options = multipart.parse_options_header(content_type or "")
    boundary = str(options.get("boundary") or "")
    if not boundary:
        raise BadRequest("Content-Type", "multipart/form-data needs its boundary (…; boundary=…)")
    return boundary


async def read_multipart(request: Request[Any, Any, Any], limits: UploadLimits) -> MultipartForm:
    """The body's fields and files, read as it arrives.

    Raises:
        BodyTooLarge: a file over ``limits.file``, the text over ``limits.text``, the body
            over ``limits.body`` (a ``Content-Length`` over it: before reading anything), or
            more than ``MAX_PARTS`` parts; the files spooled so far are removed.
        BadRequest: no boundary, a malformed body, a part that is not UTF-8 text, a file
            under another name than ``file``.
    """
    boundary = boundary_of(request.headers.get("content-type"))
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.body:
        raise _body_too_large(limits)
    form = MultipartForm()
    try:
        await _parse(request.stream(), boundary, limits, form)
    except BaseException:
        form.close()
        raise
    return form


async def _parse(
    chunks: AsyncIterator[bytes], boundary: str, limits: UploadLimits, form: MultipartForm
) -> None:
    parser = multipart.PushMultipartParser(boundary, max_segment_count=MAX_PARTS)
    text_size = received = 0
    part: multipart.MultipartSegment | None = None
    upload: Upload | None = None
    text = bytearray()
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            received += len(chunk)
            if received > limits.body:
                raise _body_too_large(limits)
            for event in parser.parse(chunk):
                if isinstance(event, multipart.MultipartSegment):
                    part, upload = event, _start(event, form, limits)
                elif event is None:
                    assert part is not None
                    if upload is None:
                        form.fields.append((str(part.name), _decoded(part, bytes(text))))
                        text.clear()
                    elif not upload.filename and upload.size == 0:
                        # A form's file input left empty sends a nameless, empty part.
                        form.files.remove(upload)
                        if upload.spool is not None:
                            upload.spool.close()
                    part = upload = None
                elif upload is not None:
                    if upload.size + len(event) > limits.file:
                        raise BodyTooLarge(
                            FILE_PART,
                            f"{upload.filename or 'a file'!r} is over the limit of "
                            f"{limits.file} bytes per file (ATTACHMENT_MAX_BYTES)",
                        )
                    if upload.spool is None:
                        upload.size += len(event)  # past the files kept: counted only
                    else:
                        await upload.write(bytes(event))
                else:
                    text_size += len(event)
                    if text_size > limits.text:
                        raise BodyTooLarge(
                            str(part.name if part else "body")[:60],
                            f"the text fields are over {limits.text} bytes together "
                            "(MAX_BODY_BYTES)",
                        )
                    text += event
        for _ in parser.parse(b""):  # the end: a body cut short is refused here
            pass
    except multipart.ParserLimitReached:
        raise BodyTooLarge("body", f"more than {MAX_PARTS} parts in one body") from None
    except multipart.ParserError as exc:
        raise BadRequest("body", f"not a valid multipart/form-data body: {exc}") from None


def _start(
    part: multipart.MultipartSegment, form: MultipartForm, limits: UploadLimits
) -> Upload | None:
    """A new part: a file to read aside (None for a text field)."""
    name = str(part.name)
    if name != FILE_PART:
        if part.filename is not None:
            raise BadRequest(
                name[:60], f"a file must be sent in a part named {FILE_PART!r} (curl -F file=@…)"
            )
        return None
    kept = sum(1 for f in form.files if f.spool is not None)
    spool: IO[bytes] | None = None
    if kept < limits.files:
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    upload = Upload(part.filename, part.content_type, spool=spool)
    form.files.append(upload)
    return upload


def _decoded(part: multipart.MultipartSegment, data: bytes) -> str:
    try:
        return data.decode(part.charset or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise BadRequest(str(part.name)[:60], "the field is not UTF-8 text") from None


def _body_too_large(limits: UploadLimits) -> BodyTooLarge:
    return BodyTooLarge(
        "body",
        f"the multipart body is over {limits.body} bytes ({limits.files} files of at most "
        f"{limits.file} bytes, the text fields and their envelope)",
    )
