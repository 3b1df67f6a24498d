"""The files a request carries in its body (multipart parts): accepted by the incident
path's rules (the same code) and staged streaming, skipped for a key already known."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from ticketing.adapters.memory_attachments import InMemoryAttachmentBlobs
from ticketing.application import intake
from ticketing.application.attachments import StageFiles
from ticketing.application.intake import IntakePolicy, Notes, UploadedFile, uploaded_specs

from tests.support.harness import Harness

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


class Chunked:
    """A file source that yields its bytes in chunks and counts how often it was read."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks
        self.reads = 0

    @property
    def size(self) -> int:
        return sum(len(c) for c in self._chunks)

    async def chunks(self) -> AsyncIterator[bytes]:
        self.reads += 1
        for chunk in self._chunks:
            yield chunk


def test_uploaded_files_are_named_and_staged_like_inline_ones() -> None:
    """Names fit and unique (as attachment_specs makes them), each file staged under
    blob_id(key, n), past the tenth dropped with a note; ``staged`` maps each blob to the
    file's place in the request."""
    files = [
        UploadedFile("../../etc/foto.jpg", " image/jpeg ", 10),
        UploadedFile("foto.jpg", None, 20),
        UploadedFile(None, "text/plain", 3),
        *[UploadedFile(f"n{i}.txt", "text/plain", 1) for i in range(9)],
    ]
    notes = Notes()
    staged: dict[str, int] = {}
    specs = uploaded_specs(files, "api/c/k1", notes, staged=staged)
    assert [s.filename for s in specs[:3]] == ["foto.jpg", "foto (2).jpg", "attachment"]
    assert [(s.content_type, s.size, s.url) for s in specs[:3]] == [
        ("image/jpeg", 10, None),
        (None, 20, None),
        ("text/plain", 3, None),
    ]
    assert len(specs) == intake.MAX_ATTACHMENTS
    assert [s.blob for s in specs] == [intake.blob_id("api/c/k1", n) for n in range(10)]
    assert staged == {intake.blob_id("api/c/k1", n): n for n in range(10)}
    assert notes.dropped == [
        "[attachment 'n7.txt' dropped: more than 10 files in one message]",
        "[attachment 'n8.txt' dropped: more than 10 files in one message]",
    ]


def test_a_customer_ticket_carries_its_uploads() -> None:
    """customer_ticket: the files in the draft, their blobs in the caller's key namespace,
    a drop noted in the description; without uploads, no attachments (as before)."""
    staged: dict[str, int] = {}
    fields = {
        "customer_name": "Ana",
        "customer_email": "ana@example.com",
        "customer_phone": None,
        "subject": "Pago",
        "description": "Adjunto la factura",
        "priority": None,
        "category": None,
        "channel": None,
        "key": "k-1",
        "received_at": NOW,
        "policy": IntakePolicy(),
        "client": "c1",
    }
    files = [UploadedFile("factura.pdf", "application/pdf", 100)] * 11
    draft = intake.customer_ticket(**fields, uploads=files, staged=staged)  # type: ignore[arg-type]
    assert draft.key == "api/c1/k-1"
    assert [a.filename for a in draft.attachments][:3] == [
        "factura.pdf",
        "factura (2).pdf",
        "factura (3).pdf",
    ]
    assert staged[intake.blob_id("api/c1/k-1", 0)] == 0
    assert draft.description.startswith("[attachment 'factura.pdf' dropped: more than 10 files")
    plain = intake.customer_ticket(**fields)  # type: ignore[arg-type]
    assert plain.attachments == ()
    assert plain.description == "Adjunto la factura"


async def test_stream_stages_chunks_and_skips_a_known_key(h: Harness) -> None:
    """StageFiles.stream writes each source chunk by chunk; for a key the ledger knows (a
    replay) it reads nothing and writes nothing."""
    blobs = InMemoryAttachmentBlobs()
    stage = StageFiles(blobs, h.store, ttl=60)
    one, two = Chunked(b"ab", b"cd"), Chunked(b"e")
    await stage.stream("k1", {"k1#0": one, "k1#1": two})
    assert blobs.blobs == {"k1#0": b"abcd", "k1#1": b"e"}
    draft = intake.customer_ticket(
        customer_name=None,
        customer_email="ana@example.com",
        customer_phone=None,
        subject="s",
        description="d",
        priority=None,
        category=None,
        channel=None,
        key="k2",
        received_at=NOW,
        policy=IntakePolicy(),
    )
    await h.store.accept(draft)
    again = Chunked(b"zz")
    await stage.stream("k2", {"k2#0": again})
    assert again.reads == 0
    assert "k2#0" not in blobs.blobs
    await stage.stream("k3", {})
    assert set(blobs.blobs) == {"k1#0", "k1#1"}
