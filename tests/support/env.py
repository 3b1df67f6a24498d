"""Service settings for tests that point the service at a Zoho (the emulator) by URL."""

from __future__ import annotations

from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REFRESH_TOKEN,
)

# The emulator's registered client, and the refresh token it issued to it, as the service's
# settings (published fakes of the emulator's own).
SANDBOX_CLIENT = {"ZOHO_CLIENT_ID": SANDBOX_CLIENT_ID, "ZOHO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET}
SANDBOX_GRANT = {"ZOHO_REFRESH_TOKEN": SANDBOX_REFRESH_TOKEN}


def zoho_at(url: str, **extra: str) -> dict[str, str]:
    """Settings with both Zoho hosts (accounts and Desk) at ``url``, plus ``extra``."""
    return {"ZOHO_ACCOUNTS_URL": url, "ZOHO_DESK_URL": url, **extra}


def sandbox_client_at(url: str, **extra: str) -> dict[str, str]:
    """Zoho mode (not sandbox) against an emulator at ``url``: the emulator's registered
    client and its refresh token, plus ``extra``."""
    return zoho_at(url, **SANDBOX_CLIENT, **SANDBOX_GRANT, **extra)
