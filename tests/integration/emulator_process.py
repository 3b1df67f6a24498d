"""A standalone Zoho emulator for subprocess tests: registers a client of the test's own, and
can make the token endpoint slow so that processes refreshing at once really overlap.

    python -m tests.integration.emulator_process PORT CLIENT_ID SECRET REDIRECT_URI [DELAY]
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import uvicorn

from zoho_desk_emulator import EmulatorState, create_emulator_app


def build(client_id: str, secret: str, redirect_uri: str, delay: float) -> Any:
    state = EmulatorState()
    state.register_client(client_id, secret, redirect_uri)
    app = create_emulator_app(state)

    async def slow_tokens(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/oauth/v2/token" and delay:
            await anyio.sleep(delay)
        await app(scope, receive, send)

    return slow_tokens


def main(argv: list[str]) -> None:
    port, client_id, secret, redirect_uri = argv[:4]
    delay = float(argv[4]) if len(argv) > 4 else 0.0
    config = uvicorn.Config(
        build(client_id, secret, redirect_uri, delay),
        host="127.0.0.1",
        port=int(port),
        access_log=False,
        log_level="warning",
        lifespan="off",
        date_header=False,  # the emulator sends Zoho's own Date (its clock may be skewed)
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main(sys.argv[1:])
