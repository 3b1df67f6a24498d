"""Attachments after the ticket: each file put on the ticket exactly once whatever fails;
one that never can be is dead-lettered on its own and named in one note on the ticket."""

from __future__ import annotations

import base64
import json
import logging

import anyio
import anyio.lowlevel
import pytest

from ticketing.application.attachments import AttachmentPolicy, PutAttachments
from ticketing.application.intake import IncomingFile
from ticketing.domain.attachments import AttachmentFetchError
from ticketing.domain.errors import BreakerOpen, HelpdeskUnavailable
from ticketing.domain.threading import carries_reference

from tests.support.attachments import Files, make_files
from tests.support.clock import ManualClock
from tests.support.metrics import parse, sample

pytestmark = pytest.mark.anyio

PASS = b"%PDF boarding pass"
PHOTO = b"\x89PNG" + b"x" * 200


def inline(name: str, data: bytes, kind: str = "image/png") -> IncomingFile:
    return IncomingFile(filename=name, content_type=kind, data=base64.b64encode(data).decode())


def link(url: str, name: str | None = None, kind: str | None = None) -> IncomingFile:
    return IncomingFile(url=url, filename=name, content_type=kind)


@pytest.fixture
def f(clock: ManualClock) -> Files:
    files = make_files(clock)
    files.fetcher.add("https://media.example/pass.pdf", PASS, "application/pdf")
    files.fetcher.add("https://media.example/huge.mp4", b"v" * 5000, "video/mp4")
    return files


def counted(f: Files, name: str, **labels: str) -> float:
    from prometheus_client import generate_latest

    return sample(parse(generate_latest(f.metrics.registry).decode()), name, **labels) or 0


async def test_good_files_go_on_once_and_the_one_too_large_is_noted(f: Files) -> None:
    await f.request(
        "wa-1",
        [
            link("https://media.example/pass.pdf", kind="application/pdf"),
            inline("photo.png", PHOTO),
            link("https://media.example/huge.mp4", "video.mp4"),
        ],
    )
    report = await f.passes()
    assert (report.jobs, report.done, report.uploaded, report.dead) == (1, 1, 2, 1)
    assert f.names() == ["pass.pdf", "photo.png"]
    [note] = f.notes()
    assert "video.mp4: larger than the helpdesk takes" in note
    assert carries_reference(note)  # never sent back to the customer as an agent's comment
    [letter] = await f.store.list_dead()
    assert "video.mp4" in letter.reason
    assert "too_large" in letter.reason
    assert json.loads(letter.payload)["index"] == 2
    assert f.blobs.blobs == {}  # the uploaded file's bytes are gone from the store
    assert await f.work.backlog() == 0
    assert (await f.passes(3)).jobs == 0
    assert len(f.desk.files["500"]) == 2
    assert len(f.notes()) == 1
    assert counted(f, "ticketing_attachments_uploaded_total") == 2
    assert counted(f, "ticketing_attachment_bytes_total") == len(PASS) + len(PHOTO)
    assert counted(f, "ticketing_attachments_refused_total", reason="too_large") == 1


async def test_the_same_file_twice_gives_two_files(f: Files) -> None:
    await f.request("wa-1", [inline("photo.png", PHOTO), inline("photo.png", PHOTO)])
    await f.passes()
    assert f.names() == ["photo.png", "photo (2).png"]


async def test_an_upload_whose_answer_was_lost_is_found_not_sent_again(f: Files) -> None:
    await f.request("wa-1", [inline("photo.png", PHOTO)])
    f.desk.upload_then_fail = 1
    first = await f.passes()
    assert (first.done, first.uploaded) == (0, 0)
    second = await f.passes()
    assert (second.done, second.uploaded) == (1, 1)
    assert f.desk.calls.count("upload_attachment") == 1
    assert f.names() == ["photo.png"]


async def test_an_upload_that_never_landed_is_sent_again_after_the_grace(f: Files) -> None:
    await f.request("wa-1", [inline("photo.png", PHOTO)])
    f.desk.fail_next(HelpdeskUnavailable("read timeout", sent=True))
    await f.passes()
    f.clock.advance(10)
    assert (await f.passes()).done == 0  # inside the grace: a miss is not trusted
    assert f.desk.calls.count("upload_attachment") == 1
    f.clock.advance(30)
    assert (await f.passes()).done == 1
    assert f.desk.calls.count("upload_attachment") == 2
    assert f.names() == ["photo.png"]


async def test_on_a_joined_ticket_a_file_it_had_before_is_not_taken_for_ours(
    f: Files,
) -> None:
    """The open ticket a follow-up joined has a photo.png of the same size already; our
    upload's answer is lost and it did not land: it is sent again, not taken as done."""
    await f.request("wa-1", [inline("photo.png", PHOTO)])
    await f.passes()
    await f.request("wa-2", [inline("photo.png", PHOTO)], joined=True)
    f.desk.fail_next(HelpdeskUnavailable("read timeout", sent=True))
    await f.passes()
    f.clock.advance(31)
    await f.passes()
    assert f.names() == ["photo.png", "photo.png"]
    assert f.desk.calls.count("list_attachments") >= 2  # the baseline, then the look-up


async def test_zoho_down_keeps_every_file_waiting_then_they_go_on_once(f: Files) -> None:
    await f.request("wa-1", [inline("a.png", PHOTO), inline("b.png", PHOTO)])
    f.desk.fail_next(BreakerOpen("the breaker is open"), times=3)
    for _ in range(3):
        report = await f.passes()
        assert report.waiting is not None
        assert report.dead == 0
    assert (await f.passes()).done == 1
    assert f.names() == ["a.png", "b.png"]
    assert await f.store.dead_count() == 0


async def test_a_source_failing_for_now_is_fetched_again_later(f: Files) -> None:
    url = "https://media.example/pass.pdf"
    f.fetcher.fail(url, AttachmentFetchError("timeout", "slow", retryable=True), times=2)
    await f.request("wa-1", [link(url)])
    assert (await f.passes(2)).done == 0
    assert (await f.passes()).done == 1
    assert f.names() == ["pass.pdf"]


async def test_a_host_not_allowed_or_gone_is_refused_with_its_reason(f: Files) -> None:
    f.fetcher.fail(
        "https://evil.example/x.png", AttachmentFetchError("host_not_allowed", "not allowed")
    )
    await f.request(
        "wa-1", [link("https://evil.example/x.png"), link("https://media.example/nothing.png")]
    )
    report = await f.passes()
    assert (report.done, report.dead) == (1, 2)
    [note] = f.notes()
    assert "x.png: from a host the service may not fetch from" in note
    assert "nothing.png: no longer at its source" in note
    reasons = sorted(letter.reason.split(": ")[1] for letter in await f.store.list_dead())
    assert reasons == ["gone", "host_not_allowed"]


async def test_a_note_whose_answer_was_lost_is_found_not_posted_twice(
    f: Files, clock: ManualClock
) -> None:
    await f.request("wa-1", [link("https://media.example/nothing.png")])
    real = f.comments.post_comment

    async def post_then_fail(ticket_id: str, text: str):  # type: ignore[no-untyped-def]
        await real(ticket_id, text)
        raise HelpdeskUnavailable("read timeout", sent=True)

    f.comments.post_comment = post_then_fail  # type: ignore[method-assign]
    assert (await f.passes()).done == 0
    f.comments.post_comment = real  # type: ignore[method-assign]
    assert (await f.passes()).done == 1
    assert len(f.notes()) == 1


async def test_staged_bytes_that_expired_are_refused_as_gone(f: Files) -> None:
    await f.request("wa-1", [inline("photo.png", PHOTO)])
    f.blobs.blobs.clear()
    report = await f.passes()
    assert (report.done, report.dead) == (1, 1)
    assert "photo.png: no longer at its source" in f.notes()[0]


async def test_a_known_request_stages_nothing_again(f: Files) -> None:
    await f.request("wa-1", [inline("photo.png", PHOTO)])
    await f.passes()
    assert f.blobs.blobs == {}
    await f.stage("wa-1", {"wa-1#0": PHOTO})  # redelivered after it was done
    assert f.blobs.blobs == {}


async def test_two_workers_on_one_job_put_each_file_on_once(f: Files) -> None:
    """A job taken over while its first worker still works on it (idle past the hand-over):
    the file leases keep the two apart."""
    await f.request("wa-1", [inline(f"p{n}.png", PHOTO + bytes([n])) for n in range(4)])
    real_progress = f.work.progress

    async def slow_progress(key: str) -> dict[str, str]:
        found = await real_progress(key)
        await anyio.lowlevel.checkpoint()  # the other worker runs between read and use
        return found

    f.work.progress = slow_progress  # type: ignore[method-assign]
    other = PutAttachments(
        f.work,
        f.blobs,
        f.desk,
        f.fetcher,
        f.comments,
        f.store,
        f.store,
        f.clock,
        policy=AttachmentPolicy(idle=0.0),
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(f.put, "worker")
        tg.start_soon(other, "other")
    await f.passes(2)
    assert sorted(f.names()) == [f"p{n}.png" for n in range(4)]
    assert f.desk.calls.count("upload_attachment") == 4
    assert await f.work.backlog() == 0


async def test_files_waiting_through_an_outage_say_so_once_not_every_pass(
    f: Files, caplog: pytest.LogCaptureFixture
) -> None:
    """Passes that keep waiting on the same failure log one info line, the rest at debug."""
    caplog.set_level(logging.DEBUG, logger="ticketing")
    await f.request("wa-1", [inline("a.png", PHOTO)])
    for n in range(4):
        f.desk.fail_next(BreakerOpen(f"circuit breaker open; next trial in {30 - n}s"))
        assert (await f.passes()).waiting is not None
    assert (await f.passes()).done == 1

    def waits(level: int) -> int:
        return sum(1 for r in caplog.records if r.levelno == level and "wait:" in r.getMessage())

    assert (waits(logging.INFO), waits(logging.DEBUG)) == (1, 3)
