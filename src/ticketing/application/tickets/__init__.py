"""The ticket use cases: process one (:mod:`.processor`), submit (:mod:`.submit`), drain the
queue (:mod:`.drain`)."""

from ticketing.application.tickets.drain import DrainQueue, DrainState
from ticketing.application.tickets.processor import ProcessingPolicy, TicketProcessor
from ticketing.application.tickets.submit import SubmitTicket

__all__ = ["DrainQueue", "DrainState", "ProcessingPolicy", "SubmitTicket", "TicketProcessor"]
