"""One service instance for the multi-process token test: the production container from the
environment, 20 callers wanting a token at once when the go-file appears, then a Desk call.

    python -m tests.integration.token_process GO_FILE

Prints ``ready`` once started, then ``done <distinct tokens> <token fingerprint> <refreshes>
<departments>``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any, cast

import anyio

from ticketing.container import start, stop
from ticketing.entrypoints.cli import build_container

from tests.support.concurrency import concurrently


async def main(go_file: str) -> None:
    container = build_container()
    services = await start(container)
    try:
        tokens = cast(Any, await container.tokens())  # type: ignore[misc]
        print("ready", flush=True)
        # A barrier across processes: poll the go-file so that all start at once.
        while not os.path.exists(go_file):  # noqa: ASYNC110, ASYNC240
            await anyio.sleep(0.002)
        got = await concurrently(20, tokens.access_token)
        departments = await services.departments()
        mark = hashlib.sha256(got[0].encode()).hexdigest()[:12]
        print(f"done {len(set(got))} {mark} {tokens.refreshes} {len(departments)}", flush=True)
    finally:
        await stop(container)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
