"""The built-in Zoho Desk emulator: stateful, faithful to the facts page, with fault switches."""

from zoho_desk_emulator.app import EmulatorApp, create_emulator_app
from zoho_desk_emulator.faults import FaultError, Faults
from zoho_desk_emulator.standalone import main, run_standalone
from zoho_desk_emulator.state import (
    API_DOMAIN,
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
    CallRecord,
    ContactRecord,
    DeskError,
    EmulatorState,
    OAuthError,
    TicketRecord,
)

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
    "CallRecord",
    "ContactRecord",
    "DeskError",
    "EmulatorApp",
    "EmulatorState",
    "FaultError",
    "Faults",
    "OAuthError",
    "TicketRecord",
    "create_emulator_app",
    "main",
    "run_standalone",
]
