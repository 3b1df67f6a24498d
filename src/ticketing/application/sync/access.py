"""What the two-way sync may do with the token it has: the scopes each mode needs, and the
state ``/health``, ``doctor`` and the log report when they are missing. Ticket creation does
not wait on any of it: a token without the sync's scopes keeps creating tickets."""

from __future__ import annotations

import logging
import re
from typing import Final

log = logging.getLogger(__name__)

REAUTHORIZE: Final = "add them to ZOHO_SCOPE and run `ticketing auth setup` again"

# (scope, the names any of which grants it): a webhook needs one of Desk.events,
# Desk.settings or Desk.webhooks (Zoho's Webhook.json); reading a ticket's threads,
# comments and state needs Desk.tickets.READ; polling also searches the changed tickets.
_TICKETS_READ: Final = ("Desk.tickets.READ", ("desk.tickets.all", "desk.tickets.read"))
_SEARCH_READ: Final = ("Desk.search.READ", ("desk.search.all", "desk.search.read"))
_EVENTS: Final = ("Desk.events.ALL", ("desk.events.", "desk.settings.", "desk.webhooks."))
SYNC_SCOPES: Final = {
    "webhook": (_EVENTS, _TICKETS_READ),
    "poll": (_TICKETS_READ, _SEARCH_READ),
}


def missing_sync_scopes(granted: str, mode: str) -> list[str]:
    """The scopes ``mode`` (webhook or poll) needs that ``granted`` (Zoho's comma- or
    space-separated list) does not give."""
    have = {s.strip().lower() for s in re.split(r"[,\s]+", granted) if s.strip()}
    missing = []
    for name, grants in SYNC_SCOPES.get(mode, ()):
        if not any(h == g or (g.endswith(".") and h.startswith(g)) for h in have for g in grants):
            missing.append(name)
    return missing


class SyncAccess:
    """Whether the sync lacks scopes, as last seen: from the scopes Zoho granted the token,
    and from a call Zoho refused for its scope (``SCOPE_MISMATCH``). A warning when scopes go
    missing and an info line when they come back, never one per poll."""

    def __init__(self) -> None:
        self.missing: tuple[str, ...] = ()
        self.detail: str | None = None

    @property
    def reauthorize(self) -> str | None:
        """What to re-authorize (for ``/health``); None when nothing is missing."""
        if not self.missing:
            return None
        return f"the sync needs {', '.join(self.missing)}: {REAUTHORIZE}"

    def update(self, missing: list[str] | tuple[str, ...], detail: str | None = None) -> None:
        """The scopes found missing now (empty: none). Logs only when that changes."""
        now = tuple(dict.fromkeys(missing))
        if now == self.missing:
            return
        self.missing, self.detail = now, detail if now else None
        if now:
            log.warning(
                "two-way sync: the Zoho token lacks %s, so agents' replies and status "
                "changes may not be published (tickets are still created): %s%s",
                ", ".join(now),
                REAUTHORIZE,
                f" ({detail})" if detail else "",
            )
        else:
            log.info("two-way sync: the Zoho token has the scopes it needs again")
