"""The call log: every request the emulator answered, with secrets redacted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from zoho_desk_emulator.records import CallRecord

_SECRET_PARAMS = frozenset({"token", "code", "client_secret", "refresh_token"})
_LOGGED_HEADERS = ("orgid", "authorization", "content-type", "idempotency-key")


class CallLog:
    """The requests answered since the last reset, oldest first."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []

    def __len__(self) -> int:
        return len(self.calls)

    def record(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        status: int,
        at: datetime,
    ) -> None:
        self.calls.append(CallRecord(method, path, query, headers, status, at))

    def as_json(self) -> dict[str, Any]:
        """``GET /_emulator/calls``: the count, tallies by endpoint and status, every call."""
        return {
            "count": len(self.calls),
            "by_endpoint": dict(Counter(f"{c.method} {c.path}" for c in self.calls)),
            "by_status": {str(k): v for k, v in Counter(c.status for c in self.calls).items()},
            "calls": [c.as_json() for c in self.calls],
        }


def redacted_query(raw: bytes) -> dict[str, str]:
    """A query string as the log keeps it: tokens, codes and secrets as ``***``."""
    return {
        name: ("***" if name in _SECRET_PARAMS else value)
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    }


def logged_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers the log keeps; of ``Authorization`` only the scheme."""
    headers: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key not in _LOGGED_HEADERS:
            continue
        text = value.decode("latin-1")
        if key == "authorization":
            # keep the scheme, which clients get wrong, and never the token
            text = f"{text.partition(' ')[0]} ***"
        headers["orgId" if key == "orgid" else key] = text
    return headers
