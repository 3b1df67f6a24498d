"""The ticket-created event as consumers read it."""

from __future__ import annotations

# The fields of a ticket-created event, in the order the contract writes them.
EVENT_FIELDS = (
    "request_id",
    "incident_id",
    "ticket_id",
    "ticket_number",
    "contact_id",
    "web_url",
    "created_at",
    "source",
)
