"""Fault switches of the Zoho Desk emulator, settable from Python or as JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Outage = Literal["503", "reset"]
DuplicatePolicy = Literal["allow", "reject"]
# valid: signed with the published key; bad: signed by another key under its kid; none:
# no X-ZDesk-JWT at all.
WebhookSignature = Literal["valid", "bad", "none"]


# "about 20 MB per file" (facts page, one source); read as MiB, the larger reading
UPLOAD_MAX_BYTES = 20 * 1024 * 1024


class FaultError(ValueError):
    """A fault switch was given a value it cannot take."""


@dataclass(slots=True)
class Faults:
    """All switches; everything is off by default.

    ``rate_limit_until`` is a deadline on the state's monotonic clock; set a window through
    :meth:`EmulatorState.apply_faults` (``{"rate_limit": {"seconds": 5}}``) or compute it yourself.
    ``clock_skew`` (seconds, either sign) sets Zoho's clock apart from the host's: its ``Date``
    header and the times it stamps. ``create_late`` creates are committed ``commit_delay``
    seconds after they arrive (a proxy holding the request), and answered only then.

    Webhook deliveries: at most ``webhook_batch`` events in one delivery, collected for
    ``webhook_batch_window`` seconds; an answer later than ``webhook_timeout`` seconds (Zoho's
    5 s) counts as failed; a failed delivery is sent again ``webhook_redeliveries`` times,
    ``webhook_redelivery_delay`` seconds apart (Zoho documents no retry: 0 by default); a
    delivered one is sent ``webhook_duplicates`` more times (a receiver must not care);
    ``webhook_signature`` is ``valid`` (signed with the key of ``/.well-known/jwks.json``),
    ``bad`` (signed by another key under the same kid) or ``none`` (no ``X-ZDesk-JWT``).

    Attachments (``POST /tickets/{id}/attachments`` and ``/uploads``): the next
    ``upload_fail`` uploads answer 500 and store nothing; the next ``upload_then_fail``
    store the file and answer 500; the next ``upload_then_hang`` store it and answer only
    after ``hang`` seconds (past a client's timeout). ``upload_max_bytes`` is the largest
    file (Zoho's 20 MB; lower it to test the refusal cheaply); ``blocked_file_types`` are
    what an admin blocked: extensions (``exe``) or content types (``image/svg+xml``).
    """

    outage: Outage | None = None
    latency: float = 0.0
    error_rate: float = 0.0
    rate_limit_calls: int = 0
    rate_limit_until: float | None = None
    retry_after: int = 1
    create_then_fail: int = 0
    create_then_hang: int = 0
    comment_then_fail: int = 0  # the next comments are stored, then answered with a 500
    comment_then_hang: int = 0  # ... stored, then not answered for `hang` seconds
    create_late: int = 0
    commit_delay: float = 0.0
    clock_skew: float = 0.0
    hang: float = 30.0
    search_lag: float = 0.0
    token_error_status: int = 400
    accounts_outage: bool = False  # the accounts host (/oauth/*) answers 503; Desk is fine
    expires_in_ms: bool = False
    deny_consent: bool = False
    duplicate_contact_email: DuplicatePolicy = "allow"
    webhook_batch: int = 1
    webhook_batch_window: float = 0.0
    webhook_timeout: float = 5.0
    webhook_redeliveries: int = 0
    webhook_redelivery_delay: float = 0.5
    webhook_duplicates: int = 0
    webhook_signature: WebhookSignature = "valid"
    upload_fail: int = 0
    upload_then_fail: int = 0
    upload_then_hang: int = 0
    upload_max_bytes: int = UPLOAD_MAX_BYTES
    blocked_file_types: tuple[str, ...] = ()

    def clear(self) -> None:
        """Every switch off, in place, so references held by tests stay live."""
        for f in fields(Faults):
            setattr(self, f.name, getattr(_OFF, f.name))

    def as_json(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def apply(self, data: Mapping[str, Any], monotonic_now: float) -> None:
        """Set the switches named in ``data`` (the JSON form); the others keep their values.

        Raises:
            FaultError: an unknown switch or a value out of range; nothing is changed then.
        """
        staged = Faults(**asdict(self))
        if data.get("clear"):
            staged = Faults()
        for name, value in data.items():
            _apply_one(staged, name, value, monotonic_now)
        for f in fields(Faults):
            setattr(self, f.name, getattr(staged, f.name))


_OFF = Faults()
_SIMPLE_FLOATS = {
    "latency",
    "hang",
    "search_lag",
    "commit_delay",
    "webhook_batch_window",
    "webhook_timeout",
    "webhook_redelivery_delay",
}
_SIMPLE_COUNTS = {
    "create_then_fail",
    "create_then_hang",
    "comment_then_fail",
    "comment_then_hang",
    "create_late",
    "retry_after",
    "rate_limit_calls",
    "webhook_redeliveries",
    "webhook_duplicates",
    "upload_fail",
    "upload_then_fail",
    "upload_then_hang",
    "upload_max_bytes",
}


def _apply_one(faults: Faults, name: str, value: Any, monotonic_now: float) -> None:
    if name == "clear":
        return
    if name == "outage":
        faults.outage = _outage(value)
    elif name in _SIMPLE_FLOATS:
        setattr(faults, name, _non_negative_float(name, value))
    elif name in _SIMPLE_COUNTS:
        setattr(faults, name, whole_number(name, value))
    elif name == "webhook_batch":
        if whole_number(name, value) < 1:
            raise FaultError("webhook_batch is a whole number, 1 or more")
        faults.webhook_batch = value
    elif name == "clock_skew":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FaultError("clock_skew is a number of seconds")
        if not math.isfinite(value):
            raise FaultError("clock_skew is a finite number of seconds")
        faults.clock_skew = float(value)
    elif name == "error_rate":
        rate = _non_negative_float(name, value)
        if rate > 1:
            raise FaultError("error_rate is a fraction between 0 and 1")
        faults.error_rate = rate
    elif name == "rate_limit":
        _rate_limit(faults, value, monotonic_now)
    elif name == "token_error_status":
        if value not in (200, 400):
            raise FaultError("token_error_status is 200 or 400")
        faults.token_error_status = int(value)
    elif name in ("expires_in_ms", "deny_consent", "deny", "accounts_outage"):
        if not isinstance(value, bool):
            raise FaultError(f"{name} is true or false")
        setattr(faults, "deny_consent" if name == "deny" else name, value)
    elif name == "blocked_file_types":
        faults.blocked_file_types = _file_types(value)
    elif name == "duplicate_contact_email":
        if value not in ("allow", "reject"):
            raise FaultError('duplicate_contact_email is "allow" or "reject"')
        faults.duplicate_contact_email = value
    elif name == "webhook_signature":
        if value not in ("valid", "bad", "none"):
            raise FaultError('webhook_signature is "valid", "bad" or "none"')
        faults.webhook_signature = value
    else:
        raise FaultError(f"unknown fault switch {name!r}")


def _outage(value: Any) -> Outage | None:
    if value in (None, False, "", "off"):
        return None
    if value is True or value in ("503", 503):
        return "503"
    if value == "reset":
        return "reset"
    raise FaultError('outage is false, true, "503" or "reset"')


def _rate_limit(faults: Faults, value: Any, monotonic_now: float) -> None:
    if value in (None, False, 0):
        faults.rate_limit_calls = 0
        faults.rate_limit_until = None
        return
    if isinstance(value, int) and not isinstance(value, bool):
        faults.rate_limit_calls = whole_number("rate_limit", value)
        return
    if not isinstance(value, Mapping):
        raise FaultError('rate_limit is a count of calls or {"calls", "seconds", "retry_after"}')
    unknown = set(value) - {"calls", "seconds", "retry_after"}
    if unknown:
        raise FaultError(f"rate_limit does not know {sorted(unknown)}")
    if "calls" in value:
        faults.rate_limit_calls = whole_number("rate_limit.calls", value["calls"])
    if "seconds" in value:
        seconds = _non_negative_float("rate_limit.seconds", value["seconds"])
        faults.rate_limit_until = monotonic_now + seconds if seconds else None
    if "retry_after" in value:
        faults.retry_after = whole_number("rate_limit.retry_after", value["retry_after"])


def _file_types(value: Any) -> tuple[str, ...]:
    if value in (None, False):
        return ()
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) and v.strip(" .") for v in value
    ):
        raise FaultError(
            "blocked_file_types is a list of extensions or content types, "
            'e.g. ["exe", "image/svg+xml"]'
        )
    return tuple(v.strip().lstrip(".").lower() for v in value)


def _non_negative_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} is a number")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise FaultError(f"{name} is a finite number, 0 or more")
    return number


def whole_number(name: str, value: Any) -> int:
    """``value`` if it is a whole number, 0 or more; otherwise a ``FaultError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(f"{name} is a whole number, 0 or more")
    return value
