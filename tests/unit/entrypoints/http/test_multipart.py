"""`POST /tickets/customer` with multipart/form-data (`curl -F`): the usual fields as text
parts, files as parts named `file`; the files go on the ticket, a file over the limit is
refused before anything is accepted, and a body that is no multipart is a 400 naming why."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory_attachments import InMemoryAttachmentBlobs
from ticketing.container import Container

from tests.support.http import OLD_FORM, app_client, make_container

pytestmark = pytest.mark.anyio

URL = "/tickets/customer"
BOUNDARY = "----ticketing-test-boundary"
LIMIT = 4096  # ATTACHMENT_MAX_BYTES in these tests


@pytest.fixture
def container() -> Container:
    return make_container({"ATTACHMENT_MAX_BYTES": str(LIMIT), "MAX_BODY_BYTES": "2048"})


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with app_client(container) as test_client:
        yield test_client


async def blobs_of(container: Container) -> dict[str, bytes]:
    blobs = (await container.attachments()).blobs
    assert isinstance(blobs, InMemoryAttachmentBlobs)
    return blobs.blobs


def part(name: str, value: bytes, filename: str | None = None, kind: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if kind:
        head += f"Content-Type: {kind}\r\n"
    return head.encode() + b"\r\n" + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def fields(values: dict[str, str]) -> list[bytes]:
    return [part(k, v.encode()) for k, v in values.items()]


HEADERS = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


async def post(client: AsyncTestClient, content: bytes, **headers: str) -> Any:  # type: ignore[type-arg]
    return await client.post(URL, content=content, headers={**HEADERS, **headers})


async def test_two_files_go_on_the_ticket(client: AsyncTestClient, container: Container) -> None:  # type: ignore[type-arg]
    """Fields and two files (httpx's own multipart, as curl -F sends it): 201, both files
    staged before acceptance and queued with the ticket; the worker's pass puts each on the
    ticket once, with its bytes."""
    png, pdf = b"\x89PNG" + b"\x01" * 3000, b"%PDF-1.4 " * 100
    response = await client.post(
        URL,
        data=OLD_FORM,
        files=[
            ("file", ("foto.png", png, "image/png")),
            ("file", ("factura.pdf", pdf, "application/pdf")),
        ],
    )
    assert response.status_code == 201, response.text
    ticket_id = response.json()["ticket_id"]
    store = await container.store()
    [job] = store.attachment_jobs  # type: ignore[attr-defined]
    assert [(a.filename, a.content_type, a.size) for a in job.attachments] == [
        ("foto.png", "image/png", len(png)),
        ("factura.pdf", "application/pdf", len(pdf)),
    ]
    assert sorted((await blobs_of(container)).values()) == sorted([png, pdf])
    report = await (await container.attachments()).put("test")
    assert report.uploaded == 2, report
    on_ticket = container.emulator_state().attachments.of_ticket(ticket_id)
    assert sorted((r.file.name, r.file.sha256) for r in on_ticket) == sorted(
        [
            ("foto.png", hashlib.sha256(png).hexdigest()),
            ("factura.pdf", hashlib.sha256(pdf).hexdigest()),
        ]
    )


async def test_the_same_name_twice_is_made_unique(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """Two files named alike (and a path, which is cut to its last segment) are named as a
    desktop does: foto.jpg and foto (2).jpg."""
    content = body(
        *fields(OLD_FORM),
        part("file", b"one", "foto.jpg", "image/jpeg"),
        part("file", b"two", "C:\\fotos\\FOTO.jpg", "image/jpeg"),
    )
    response = await post(client, content)
    assert response.status_code == 201, response.text
    [job] = (await container.store()).attachment_jobs  # type: ignore[attr-defined]
    assert [a.filename for a in job.attachments] == ["foto.jpg", "FOTO (2).jpg"]
    assert [(await blobs_of(container))[str(a.blob)] for a in job.attachments] == [b"one", b"two"]


async def test_a_repeated_field_is_refused_naming_it(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """A text part sent twice, or a field both in the query and in the body, is a 400
    naming it: no value is picked, nothing is staged or accepted. A field only in the query
    is read as before."""
    twice = body(*fields(OLD_FORM), part("subject", b"Segundo asunto"))
    response = await post(client, twice)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "duplicate_field"
    assert response.json()["field"] == "subject"
    assert "subject is given twice (in the form body)" in response.json()["message"]
    response = await client.post(
        URL, content=body(*fields(OLD_FORM)), headers=HEADERS, params={"priority": "Medium"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "priority"
    assert "in the query and the form body" in response.json()["message"]
    assert container.emulator_state().tickets == {}
    assert (await blobs_of(container)) == {}
    response = await client.post(
        URL, content=body(*fields(OLD_FORM)), headers=HEADERS, params={"channel": "Email"}
    )
    assert response.status_code == 201, response.text
    [ticket] = container.emulator_state().tickets.values()
    assert (ticket.subject, ticket.priority, ticket.channel) == (
        OLD_FORM["subject"],
        "High",
        "Email",
    )


async def test_a_repeated_field_beside_files_stages_nothing(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """Refused before any file is staged; several ``file`` parts are files, not a repeat."""
    content = body(
        *fields(OLD_FORM),
        part("file", b"one", "a.txt", "text/plain"),
        part("customer_email", b"other@example.com"),
        part("file", b"two", "b.txt", "text/plain"),
    )
    response = await post(client, content)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "customer_email"
    assert (await blobs_of(container)) == {}


async def test_no_file_parts_is_a_plain_form_ticket(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """Only text parts (and a file input left empty, as a browser sends it): the same
    ticket a form body makes, with no attachments and nothing staged."""
    content = body(*fields(OLD_FORM), part("file", b"", "", "application/octet-stream"))
    response = await post(client, content)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "created"
    assert (await container.store()).attachment_jobs == []  # type: ignore[attr-defined]
    assert (await blobs_of(container)) == {}


async def test_a_file_over_the_limit_is_413_and_nothing_is_accepted(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """A file one byte over ATTACHMENT_MAX_BYTES: 413 naming the file and the limit; no
    ticket, nothing queued, nothing staged."""
    content = body(
        *fields(OLD_FORM),
        part("file", b"ok", "ok.txt"),
        part("file", b"x" * (LIMIT + 1), "video.mp4", "video/mp4"),
    )
    response = await post(client, content)
    assert response.status_code == 413, response.text
    answer = response.json()
    assert (answer["error"], answer["field"]) == ("too_large", "file")
    assert "'video.mp4'" in answer["message"]
    assert str(LIMIT) in answer["message"]
    assert "ATTACHMENT_MAX_BYTES" in answer["message"]
    assert await (await container.store()).pending_count() == 0
    assert container.emulator_state().calls == []
    assert (await blobs_of(container)) == {}


async def test_a_file_at_the_limit_is_taken(client: AsyncTestClient, container: Container) -> None:  # type: ignore[type-arg]
    content = body(*fields(OLD_FORM), part("file", b"x" * LIMIT, "exact.bin"))
    response = await post(client, content)
    assert response.status_code == 201, response.text
    assert list((await blobs_of(container)).values()) == [b"x" * LIMIT]


async def test_text_over_max_body_bytes_is_413_naming_the_field(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """The text parts together are held to MAX_BODY_BYTES, as any other body is."""
    content = body(*fields({**OLD_FORM, "description": "d" * 3000}))
    response = await post(client, content)
    assert response.status_code == 413, response.text
    answer = response.json()
    assert answer["field"] == "description"
    assert "MAX_BODY_BYTES" in answer["message"]
    assert await (await container.store()).pending_count() == 0


async def test_a_declared_length_over_the_body_cap_is_413_before_reading(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """A Content-Length past ten files at the limit, the text and the envelope: refused at
    once (the body here is short: it was never read)."""
    cap = 10 * LIMIT + 2048 + 1024 * 1024
    response = await post(client, body(*fields(OLD_FORM)), **{"Content-Length": str(cap + 1)})
    assert response.status_code == 413, response.text
    assert response.json()["field"] == "body"
    assert str(cap) in response.json()["message"]
    assert await (await container.store()).pending_count() == 0


async def test_past_the_tenth_file_are_dropped_with_a_note(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """Twelve files: the first ten go on the ticket, the two others are dropped and named in
    the description, as an incident's are; their bytes are never staged."""
    files = [part("file", f"file {n}".encode(), f"f{n}.txt", "text/plain") for n in range(12)]
    response = await post(client, body(*fields(OLD_FORM), *files))
    assert response.status_code == 201, response.text
    [job] = (await container.store()).attachment_jobs  # type: ignore[attr-defined]
    assert [a.filename for a in job.attachments] == [f"f{n}.txt" for n in range(10)]
    assert sorted((await blobs_of(container)).values()) == sorted(
        f"file {n}".encode() for n in range(10)
    )
    [ticket] = container.emulator_state().tickets.values()
    assert "[attachment 'f10.txt' dropped: more than 10 files" in str(ticket.description)
    assert "'f11.txt'" in str(ticket.description)


async def test_a_replayed_key_stages_nothing_again(
    client: AsyncTestClient, container: Container
) -> None:  # type: ignore[type-arg]
    """The same request again with its Idempotency-Key: the first outcome, replayed; its
    files are not staged a second time (the first ones were uploaded and removed)."""
    content = body(*fields(OLD_FORM), part("file", b"abc", "a.txt"))
    first = await post(client, content, **{"Idempotency-Key": "multi-1"})
    assert first.status_code == 201, first.text
    assert (await (await container.attachments()).put("test")).uploaded == 1
    assert (await blobs_of(container)) == {}
    again = await post(client, content, **{"Idempotency-Key": "multi-1"})
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
    assert (await blobs_of(container)) == {}


@pytest.mark.parametrize(
    ("content", "headers", "field", "says"),
    [
        (
            body(*fields(OLD_FORM)),
            {"Content-Type": "multipart/form-data"},
            "Content-Type",
            "boundary",
        ),
        (  # cut short: no closing boundary
            b"".join(fields(OLD_FORM)) + part("file", b"abc", "a.txt")[:-8],
            HEADERS,
            "body",
            "not a valid multipart/form-data body",
        ),
        (
            b"subject=Hola&description=Texto",
            HEADERS,
            "body",
            "not a valid multipart/form-data body",
        ),
        (
            body(*fields(OLD_FORM), part("adjunto", b"abc", "a.txt")),
            HEADERS,
            "adjunto",
            "a part named 'file'",
        ),
        (
            body(*fields({**OLD_FORM, "subject": ""}), part("subject", b"\xff\xfe")),
            HEADERS,
            "subject",
            "not UTF-8",
        ),
    ],
    ids=["no-boundary", "cut-short", "not-multipart", "file-under-another-name", "not-utf8"],
)
async def test_a_bad_multipart_body_is_400_naming_the_problem(
    client: AsyncTestClient,  # type: ignore[type-arg]
    container: Container,
    content: bytes,
    headers: dict[str, str],
    field: str,
    says: str,
) -> None:
    response = await client.post(URL, content=content, headers=headers)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert (answer["error"], answer["field"]) == ("bad_request", field)
    assert says in answer["message"]
    assert await (await container.store()).pending_count() == 0
    assert (await blobs_of(container)) == {}


async def test_too_many_parts_is_413(client: AsyncTestClient, container: Container) -> None:  # type: ignore[type-arg]
    content = body(*fields(OLD_FORM), *[part(f"x{n}", b"") for n in range(70)])
    response = await post(client, content)
    assert response.status_code == 413, response.text
    assert "more than 64 parts" in response.json()["message"]


async def test_other_bodies_keep_max_body_bytes(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    """The route reads multipart under its own cap; a form or JSON body over MAX_BODY_BYTES
    is still 413 (streamed without a Content-Length: tests/integration/test_multipart_serve)."""
    big = {**OLD_FORM, "description": "d" * 3000}
    assert (await client.post(URL, data=big)).status_code == 413
    assert (await client.post(URL, json=big)).status_code == 413
    small = await client.post(URL, data=OLD_FORM)
    assert small.status_code == 201
