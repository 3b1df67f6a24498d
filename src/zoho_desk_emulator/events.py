"""What happens in the emulated Desk that a webhook subscription can be told about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DeskEvent:
    """One event (``Ticket_Add``, ``Ticket_Update``, ``Ticket_Thread_Add``,
    ``Ticket_Comment_Add``) with what the subscriptions' filters look at."""

    event_type: str
    org_id: str
    department_id: str
    payload: dict[str, Any]
    at: datetime
    prev_state: dict[str, Any] | None = None
    direction: str | None = None  # threads: in | out
    changed: tuple[str, ...] = ()  # updates: the API names of the fields that changed

    def as_zoho(self, *, prev_state: bool) -> dict[str, Any]:
        """One element of a delivery's JSON array. ``eventTime`` is epoch milliseconds (the
        facts page); sent as a string like Zoho's other numbers (unconfirmed)."""
        body: dict[str, Any] = {
            "eventType": self.event_type,
            "eventTime": str(int(self.at.timestamp() * 1000)),
            "orgId": self.org_id,
            "payload": self.payload,
        }
        if prev_state and self.prev_state is not None:
            body["prevState"] = self.prev_state
        return body


Listener = Callable[[DeskEvent], None]
