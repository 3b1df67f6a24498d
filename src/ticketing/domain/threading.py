"""Follow-ups (THREAD_WINDOW): which customer a message threads by, and the comment a
follow-up becomes on the customer's open ticket."""

from __future__ import annotations

import re
from typing import Final

from ticketing.domain.model import (
    DESCRIPTION_LIMIT,
    REFERENCE_PREFIX,
    TicketDraft,
    reference_line,
    ticket_reference,
)

# Zoho's limit for a comment's content (TicketComment.json addCommentPayload.content).
COMMENT_LIMIT: Final = DESCRIPTION_LIMIT
_REFERENCE_AT_END = re.compile(rf"{re.escape(REFERENCE_PREFIX)}tk[a-z2-7]{{20}}\s*\Z")


def thread_identities(draft: TicketDraft) -> tuple[str, ...]:
    """The names a customer's messages are threaded by: the phone (WhatsApp's own identity)
    and the email, each that is known. A message matching either joins the thread."""
    who = draft.customer
    names = []
    if who.phone:
        names.append(f"phone:{who.phone}")
    if who.email:
        names.append(f"email:{who.email.lower()}")
    return tuple(names)


def follow_up_comment(draft: TicketDraft) -> str:
    """A follow-up as a public comment: marked as the customer's message, the text whole as far
    as Zoho's 32,000 characters allow, and the key's reference line at the end (how an
    ambiguous post is found again, and how the two-way sync knows the comment is its own)."""
    who = draft.customer
    names = [n for n in (who.name, who.phone, who.email) if n]
    heading = f"Message from the customer ({', '.join(names)}) on {draft.channel or 'chat'}:"
    ending = reference_line(draft.key)
    room = COMMENT_LIMIT - len(heading) - 2 - len(ending)
    text = draft.description
    if len(text) > room:
        text = text[: room - 1] + "…"
    return f"{heading}\n\n{text}{ending}"


def carries_reference(text: str | None) -> bool:
    """True for text the service wrote: it ends with a reference line (``Ref: tk…``)."""
    return bool(text) and _REFERENCE_AT_END.search(text or "") is not None


def is_comment_for(text: str | None, key: str) -> bool:
    """True when ``text`` is the comment written for idempotency key ``key``."""
    return bool(text) and (text or "").rstrip().endswith(
        f"{REFERENCE_PREFIX}{ticket_reference(key)}"
    )
