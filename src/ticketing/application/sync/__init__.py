"""The two-way sync: agents' public replies and comments and status changes of the tickets
the service created, published once each (:mod:`.publish`), learnt from webhook deliveries
(:mod:`.inbox`) or by polling (:mod:`.poll`); the events themselves in :mod:`.events`; how
far behind it is in :mod:`.lag`."""

from ticketing.application.sync.events import TicketOrigin
from ticketing.application.sync.inbox import HandleDeliveries, InboxReport, ReceiveDelivery
from ticketing.application.sync.lag import MeasureLag, SyncLag
from ticketing.application.sync.poll import PollChanges, PollReport
from ticketing.application.sync.publish import Handled, SyncPublisher

__all__ = [
    "HandleDeliveries",
    "Handled",
    "InboxReport",
    "MeasureLag",
    "PollChanges",
    "PollReport",
    "ReceiveDelivery",
    "SyncLag",
    "SyncPublisher",
    "TicketOrigin",
]
