"""Zoho data centres: which accounts (OAuth) host and which Desk host each one uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from ticketing.domain.errors import ConfigurationError


class DcHosts(NamedTuple):
    """The two roots of one data centre, without a trailing slash."""

    accounts_url: str
    desk_url: str


DC_HOSTS: Mapping[str, DcHosts] = {
    "us": DcHosts("https://accounts.zoho.com", "https://desk.zoho.com"),
    "eu": DcHosts("https://accounts.zoho.eu", "https://desk.zoho.eu"),
    "in": DcHosts("https://accounts.zoho.in", "https://desk.zoho.in"),
    "au": DcHosts("https://accounts.zoho.com.au", "https://desk.zoho.com.au"),
    "jp": DcHosts("https://accounts.zoho.jp", "https://desk.zoho.jp"),
    "ca": DcHosts("https://accounts.zohocloud.ca", "https://desk.zohocloud.ca"),
    "sa": DcHosts("https://accounts.zoho.sa", "https://desk.zoho.sa"),
    "cn": DcHosts("https://accounts.zoho.com.cn", "https://desk.zoho.com.cn"),
    # UK: Zoho's multi-DC OAuth page lists accounts.zoho.uk; the Desk host desk.zoho.uk is
    # UNCONFIRMED (by analogy, not documented): if it is wrong, set ZOHO_DESK_URL.
    "uk": DcHosts("https://accounts.zoho.uk", "https://desk.zoho.uk"),
    "sg": DcHosts("https://accounts.zoho.sg", "https://desk.zoho.sg"),
    "ae": DcHosts("https://accounts.zoho.ae", "https://desk.zoho.ae"),
}


def _clean(url: str) -> str:
    return url.strip().rstrip("/")


def resolve_hosts(dc: str, accounts_url: str | None, desk_url: str | None) -> tuple[str, str]:
    """The (accounts URL, Desk URL) to use.

    Explicit URLs (``ZOHO_ACCOUNTS_URL``, ``ZOHO_DESK_URL``) win over the data centre; the data
    centre is only looked up for a URL that is not given, so a local emulator needs no DC.
    The Desk host never comes from the token response's ``api_domain`` (a ``zohoapis`` host).

    Raises:
        ConfigurationError: ``dc`` is not a known data centre and a URL must come from it.
    """
    accounts = _clean(accounts_url) if accounts_url and accounts_url.strip() else None
    desk = _clean(desk_url) if desk_url and desk_url.strip() else None
    if accounts is None or desk is None:
        key = dc.strip().lower()
        hosts = DC_HOSTS.get(key)
        if hosts is None:
            known = " ".join(DC_HOSTS)
            raise ConfigurationError(
                f"ZOHO_DC={dc!r} is not a Zoho data centre; use one of: {known} "
                "(or set ZOHO_ACCOUNTS_URL and ZOHO_DESK_URL explicitly)"
            )
        accounts = accounts or hosts.accounts_url
        desk = desk or hosts.desk_url
    return accounts, desk


def dc_for_accounts_url(url: str) -> str | None:
    """The data centre whose accounts host ``url`` points at (e.g. a callback's
    ``accounts-server``), or None when it is not a known Zoho accounts host."""
    text = url.strip()
    if "://" not in text:
        text = "https://" + text
    host = (urlsplit(text).hostname or "").lower()
    if not host:
        return None
    for dc, hosts in DC_HOSTS.items():
        if urlsplit(hosts.accounts_url).hostname == host:
            return dc
    return None
