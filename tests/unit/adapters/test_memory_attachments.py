"""The in-memory fetcher unit tests use in place of the safe fetcher: files by URL, the
refusals with their reasons, failures scripted per URL."""

from __future__ import annotations

import hashlib

import pytest

from ticketing.adapters.attachments.sources import BytesSource
from ticketing.adapters.memory_attachments import InMemoryAttachments, InMemoryFetcher
from ticketing.domain.attachments import AttachmentFetchError
from ticketing.domain.errors import HelpdeskRejected

pytestmark = pytest.mark.anyio

URL = "https://lookaside.example/media/1"


async def reason(fetcher: InMemoryFetcher, url: str, declared: str | None = None) -> str:
    with pytest.raises(AttachmentFetchError) as info:
        async with fetcher.fetch(url, content_type=declared):
            pass
    return info.value.reason


async def test_a_file_is_served_with_its_facts() -> None:
    """The bytes, size, digest, type and name given; every URL asked for is recorded."""
    fetcher = InMemoryFetcher()
    fetcher.add(URL, b"jpeg", "image/jpeg", "pase.jpg")
    async with fetcher.fetch(URL, content_type="image/jpeg; q=1") as got:
        data = b"".join([c async for c in got.chunks()])
    assert (data, got.size, got.content_type, got.filename) == (
        b"jpeg",
        4,
        "image/jpeg",
        "pase.jpg",
    )
    assert got.sha256 == hashlib.sha256(b"jpeg").hexdigest()
    assert fetcher.fetched == [URL]


async def test_refusals_have_their_reasons() -> None:
    """Unknown URL: gone; over max_bytes: too_large; another declared type: bad_content_type."""
    fetcher = InMemoryFetcher(max_bytes=3)
    fetcher.add(URL, b"abc", "image/png")
    fetcher.add(URL + "big", b"abcd", "image/png")
    assert await reason(fetcher, URL + "nothing") == "gone"
    assert await reason(fetcher, URL + "big") == "too_large"
    assert await reason(fetcher, URL, "image/jpeg") == "bad_content_type"


async def test_scripted_failures_come_first_then_the_file() -> None:
    """fail(url, error, 2): two fetches raise it, the third gets the file."""
    fetcher = InMemoryFetcher()
    fetcher.add(URL, b"ok")
    fetcher.fail(URL, AttachmentFetchError("timeout", "slow", retryable=True), times=2)
    assert [await reason(fetcher, URL), await reason(fetcher, URL)] == ["timeout", "timeout"]
    async with fetcher.fetch(URL) as got:
        assert got.size == 2


async def test_the_fake_desk_records_calls_and_unknown_tickets() -> None:
    """Calls are recorded in order; an unknown ticket is a 404 and stores nothing."""
    desk = InMemoryAttachments(lambda ticket: ticket == "1")
    await desk.upload_attachment("1", "a.txt", "text/plain", BytesSource(b"x"))
    with pytest.raises(HelpdeskRejected, match="no ticket 2"):
        await desk.list_attachments("2")
    assert desk.calls == ["upload_attachment", "list_attachments"]
    assert list(desk.files) == ["1"]
    assert "files=1" in repr(desk)
