"""What an attachment costs in memory: a 20 MiB file fetched from a URL and uploaded to Zoho
(the emulator in-process) is streamed, never held whole; Python's allocations are measured
(tracemalloc) around each step."""

from __future__ import annotations

import tempfile
import tracemalloc
from collections.abc import Iterator

import pytest

from ticketing.adapters.attachments.fetch import FetchRules, SafeFetcher
from ticketing.adapters.attachments.sources import FileObjectSource
from zoho_desk_emulator import SANDBOX_DEPARTMENT_ID, SANDBOX_ORG_ID, EmulatorState

from tests.support.clock import ManualClock
from tests.support.listener import LoopbackOnly, Script, listening
from tests.support.sync import EMULATOR, emulator_client

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

SIZE = 20 * 1024 * 1024
# measured peaks: about 1.6 MiB (upload: client and emulator in one process) and 1.9 MiB
# (fetch: listener, fetcher and its 1 MiB spool)
BOUND = 4 * 1024 * 1024


@pytest.fixture
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


async def test_a_20_mib_upload_is_streamed(clock: ManualClock, traced: None) -> None:
    """The client reads the file in chunks and the emulator hashes them as they come: the
    peak of Python allocations stays under 4 MiB for a 20 MiB file."""
    state = EmulatorState(clock)
    body = {
        "subject": "Video del daño",
        "departmentId": SANDBOX_DEPARTMENT_ID,
        "contact": {"lastName": "López", "email": "ana@example.com"},
    }
    ticket = state.desk.create_ticket(SANDBOX_ORG_ID, body, EMULATOR).id
    with tempfile.TemporaryFile() as file:
        block = b"\x01" * 65536
        for _ in range(SIZE // len(block)):
            file.write(block)
        async with emulator_client(state, clock) as zoho:
            await zoho.list_attachments(ticket)  # the token and the organization first
            tracemalloc.reset_peak()
            got = await zoho.upload_attachment(
                ticket, "video.mp4", "video/mp4", FileObjectSource(file, SIZE)
            )
            peak = tracemalloc.get_traced_memory()[1]
    assert got.size == SIZE
    assert peak < BOUND, f"{peak / 2**20:.1f} MiB"


async def test_a_20_mib_fetch_is_spooled(traced: None) -> None:
    """The fetcher writes the body to a spooled file (memory up to 1 MiB, then disk): the
    peak of Python allocations stays under 4 MiB for a 20 MiB file."""
    async with listening() as server:
        server.routes["/v.mp4"] = Script(
            headers={"Content-Type": "video/mp4"}, chunks=SIZE // 65536, chunk=b"\x02" * 65536
        )

        async def dns(host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

        fetcher = SafeFetcher(
            FetchRules(
                allowed_hosts=("files.test",),
                private_hosts=("files.test",),
                allow_http=True,
                max_bytes=SIZE,
            ),
            resolver=dns,
            transport=LoopbackOnly(),
        )
        tracemalloc.reset_peak()
        async with fetcher.fetch(f"http://files.test:{server.port}/v.mp4") as got:
            peak = tracemalloc.get_traced_memory()[1]
            assert got.size == SIZE
    assert peak < BOUND, f"{peak / 2**20:.1f} MiB"
