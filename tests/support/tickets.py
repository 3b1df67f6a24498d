"""A customer's ticket as the intake builds it, for tests that submit one directly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ticketing.application.intake import IntakePolicy, customer_ticket
from ticketing.domain.model import TicketDraft

# Ana's billing question, as the tests send it unless they say otherwise.
ANA: dict[str, Any] = {
    "customer_name": "Ana López",
    "customer_email": "ana@example.com",
    "customer_phone": None,
    "subject": "Pago no reflejado",
    "description": "Pagué ayer y no me llega la confirmación",
    "priority": "alta",
    "category": "billing",
    "channel": None,
    "key": None,
}


def customer_draft(received_at: datetime, **fields: Any) -> TicketDraft:
    """Ana's ticket (with ``fields`` changed), received at ``received_at``, default policy."""
    return customer_ticket(**{**ANA, **fields}, received_at=received_at, policy=IntakePolicy())
