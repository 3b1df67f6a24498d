"""Ports: what the core needs from the outside world, as Protocols named after what they are,
grouped by who needs them.

- :mod:`.clock`: time, for everyone.
- :mod:`.pipeline`: the ticket pipeline (helpdesk, ledger, pending queue, leases, contacts,
  call gate, metrics).
- :mod:`.credentials`: OAuth tokens and their administration.
- :mod:`.attachments`: files on helpdesk tickets, and the fetcher of attachment URLs.
- :mod:`.sync`: the two-way sync (conversations, its log and output streams, the inbox).
- :mod:`.threads`: follow-ups joining a customer's open ticket (THREAD_WINDOW).
- :mod:`.operations`: monitoring, the doctor and the dead-letter tools; and the whole
  :class:`TicketStore` an adapter implements.

Everything is re-exported here, so ``from ticketing.domain.ports import X`` keeps working.
"""

from ticketing.domain.ports.attachments import (
    AttachmentBlobs,
    AttachmentDesk,
    AttachmentFetcher,
    AttachmentMetrics,
    AttachmentWork,
)
from ticketing.domain.ports.clock import Clock
from ticketing.domain.ports.credentials import (
    AuthorizationServer,
    Browser,
    CallbackInbox,
    CallbackServer,
    Credentials,
    RefreshAllowance,
    RefreshBudget,
    TokenSet,
    TokenStatus,
    TokenStore,
    backoff_delay,
)
from ticketing.domain.ports.operations import (
    DeadLetters,
    QueueMonitor,
    QuotaMeter,
    RedisFacts,
    RequestIndex,
    StoreFacts,
    TicketStore,
)
from ticketing.domain.ports.pipeline import (
    Accepted,
    Admission,
    CallGate,
    ContactCache,
    Helpdesk,
    Leased,
    Leases,
    Metrics,
    PendingQueue,
    ProcessLiveness,
    TicketLedger,
    TicketProbe,
    lease_owner,
)
from ticketing.domain.ports.sync import (
    Conversations,
    DeliverySignatures,
    EventStream,
    InboxEntry,
    StatusMark,
    SyncInbox,
    SyncLog,
    SyncMetrics,
    WebhookRegistry,
)
from ticketing.domain.ports.threads import FollowUpDesk, ThreadIndex

__all__ = [
    "Accepted",
    "Admission",
    "AttachmentBlobs",
    "AttachmentDesk",
    "AttachmentFetcher",
    "AttachmentMetrics",
    "AttachmentWork",
    "AuthorizationServer",
    "Browser",
    "CallGate",
    "CallbackInbox",
    "CallbackServer",
    "Clock",
    "ContactCache",
    "Conversations",
    "Credentials",
    "DeadLetters",
    "DeliverySignatures",
    "EventStream",
    "FollowUpDesk",
    "Helpdesk",
    "InboxEntry",
    "Leased",
    "Leases",
    "Metrics",
    "PendingQueue",
    "ProcessLiveness",
    "QueueMonitor",
    "QuotaMeter",
    "RedisFacts",
    "RefreshAllowance",
    "RefreshBudget",
    "RequestIndex",
    "StatusMark",
    "StoreFacts",
    "SyncInbox",
    "SyncLog",
    "SyncMetrics",
    "ThreadIndex",
    "TicketLedger",
    "TicketProbe",
    "TicketStore",
    "TokenSet",
    "TokenStatus",
    "TokenStore",
    "WebhookRegistry",
    "backoff_delay",
    "lease_owner",
]
