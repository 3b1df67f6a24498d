"""Correlation ids carried by every log line: which request, incident and ticket key it is about."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# The names log lines carry, in the order they are shown.
FIELDS = ("request_id", "incident_id", "key")

_VARS: dict[str, ContextVar[str | None]] = {
    name: ContextVar(f"ticketing_{name}", default=None) for name in FIELDS
}


@contextmanager
def bind(**ids: str | None) -> Iterator[None]:
    """Set correlation ids for the code run inside (and the tasks it starts).

    ``None`` leaves an id as it is, so an inner scope can add the ticket key without losing
    the request id an outer one set.
    """
    tokens = []
    for name, value in ids.items():
        if name not in _VARS:
            raise TypeError(f"unknown correlation id {name!r}; expected one of {FIELDS}")
        if value is not None:
            tokens.append((_VARS[name], _VARS[name].set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def current() -> dict[str, str]:
    """The correlation ids set here, by name (unset ones left out)."""
    out: dict[str, str] = {}
    for name in FIELDS:
        value = _VARS[name].get()
        if value is not None:
            out[name] = value
    return out


def request_id() -> str | None:
    """The current request id, if one is bound."""
    return _VARS["request_id"].get()
