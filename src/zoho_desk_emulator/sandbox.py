"""The published fake account every fresh emulator holds: its OAuth client, portals, departments.

All of these are fakes printed in the README; none is a secret.
"""

from __future__ import annotations

SANDBOX_CLIENT_ID = "1000.fake-sandbox-client-id"
SANDBOX_CLIENT_SECRET = "sandbox-client-secret"  # noqa: S105 - a published fake, not a secret
SANDBOX_REFRESH_TOKEN = "1000.sandbox-refresh-token"  # noqa: S105 - a published fake
SANDBOX_REDIRECT_URI = "http://localhost:8888/callback"
# Desk.events.ALL: the webhook subscriptions (any of Desk.events, .settings, .webhooks)
SANDBOX_SCOPE = "Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ,Desk.events.ALL"
SANDBOX_ORG_ID = "900000001"
SECOND_ORG_ID = "900000002"
SANDBOX_DEPARTMENT_ID = "900000000000010001"
BILLING_DEPARTMENT_ID = "900000000000010002"
ARCHIVE_DEPARTMENT_ID = "900000000000010003"
SECOND_ORG_DEPARTMENT_ID = "900000000000020001"
SANDBOX_AGENT_ID = "900000000000000001"
