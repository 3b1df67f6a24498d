"""A strict, stateful Zoho Desk emulator (accounts + Desk API) with fault switches; standalone."""

from zoho_desk_emulator.app import EmulatorApp, create_emulator_app
from zoho_desk_emulator.calls import CallLog
from zoho_desk_emulator.clock import Clock, SystemClock
from zoho_desk_emulator.conversations import Conversations
from zoho_desk_emulator.credits import CreditMeter
from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.errors import DeskError, OAuthError
from zoho_desk_emulator.events import DeskEvent
from zoho_desk_emulator.faults import FaultError, Faults
from zoho_desk_emulator.oauth import API_DOMAIN, OAuthServer
from zoho_desk_emulator.pages import create_pages_app
from zoho_desk_emulator.records import (
    CallRecord,
    CommentRecord,
    ContactRecord,
    ThreadRecord,
    TicketRecord,
    WebhookRecord,
)
from zoho_desk_emulator.sandbox import (
    ARCHIVE_DEPARTMENT_ID,
    BILLING_DEPARTMENT_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_DEPARTMENT_ID,
    SANDBOX_ORG_ID,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
    SANDBOX_SCOPE,
    SECOND_ORG_ID,
)
from zoho_desk_emulator.standalone import main, run_standalone
from zoho_desk_emulator.state import EmulatorState
from zoho_desk_emulator.webhooks import Delivery, Webhooks

__all__ = [
    "API_DOMAIN",
    "ARCHIVE_DEPARTMENT_ID",
    "BILLING_DEPARTMENT_ID",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_DEPARTMENT_ID",
    "SANDBOX_ORG_ID",
    "SANDBOX_REDIRECT_URI",
    "SANDBOX_REFRESH_TOKEN",
    "SANDBOX_SCOPE",
    "SECOND_ORG_ID",
    "CallLog",
    "CallRecord",
    "Clock",
    "CommentRecord",
    "ContactRecord",
    "Conversations",
    "CreditMeter",
    "Delivery",
    "Desk",
    "DeskError",
    "DeskEvent",
    "EmulatorApp",
    "EmulatorState",
    "FaultError",
    "Faults",
    "OAuthError",
    "OAuthServer",
    "SystemClock",
    "ThreadRecord",
    "TicketRecord",
    "WebhookRecord",
    "Webhooks",
    "create_emulator_app",
    "create_pages_app",
    "main",
    "run_standalone",
]
