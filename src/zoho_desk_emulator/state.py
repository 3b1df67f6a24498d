"""The emulated Zoho account as one object: the accounts server, the Desk data, the credit meter,
the call log and the fault switches they share, in plain Python with no HTTP in it."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from zoho_desk_emulator.calls import CallLog, CallRecord
from zoho_desk_emulator.clock import Clock, SystemClock
from zoho_desk_emulator.credits import CreditMeter
from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.faults import Faults, whole_number
from zoho_desk_emulator.oauth import (
    ACCESS_TOKEN_SECONDS,
    AccessTokenRecord,
    IssuedCode,
    OAuthClient,
    OAuthServer,
    RefreshTokenRecord,
)
from zoho_desk_emulator.records import (
    ContactRecord,
    DepartmentRecord,
    OrganizationRecord,
    TicketRecord,
)
from zoho_desk_emulator.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
    SANDBOX_SCOPE,
)


class EmulatorState:
    """Everything the emulated Zoho account holds, and the rules it enforces.

    A façade over the parts, each with its own state: ``oauth`` (:class:`OAuthServer`),
    ``desk`` (:class:`Desk`, searches included), ``credits`` (:class:`CreditMeter`) and
    ``call_log`` (:class:`CallLog`). ``faults`` is one object shared by all of them, cleared in
    place so references held by tests stay live. The properties and methods below are the
    surface tests and the HTTP app use; :meth:`reset` replaces every part.
    """

    oauth: OAuthServer
    desk: Desk
    credits: CreditMeter
    call_log: CallLog

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        credits_per_day: int = 100_000,
        max_concurrency: int = 25,
        edition: str = "Enterprise",
        access_token_seconds: int = ACCESS_TOKEN_SECONDS,
        lenient: bool = False,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.access_token_seconds = access_token_seconds  # Zoho's are 3600; shorter for tests
        # lenient: the old, forgiving emulator (for demos only): no checks against Zoho's
        # published constraints (constraints.py), any picklist value of the default lists
        self.lenient = lenient
        self.seed = seed
        self.credits_per_day = credits_per_day
        self.max_concurrency = max_concurrency
        self.edition = edition
        # requests being answered right now; survives reset() because they are still running
        self.in_flight = 0
        self.faults = Faults()
        self.reset()

    def __repr__(self) -> str:
        return (
            f"EmulatorState(tickets={len(self.tickets)}, contacts={len(self.contacts)}, "
            f"calls={len(self.calls)})"
        )

    def now(self) -> datetime:
        """Zoho's clock: the host's, set apart by the ``clock_skew`` fault."""
        return self.desk.now()

    def reset(self) -> None:
        """Back to a fresh account: seed data, sandbox credentials, no faults, full credits."""
        self.faults.clear()
        self.rng = random.Random(self.seed)  # noqa: S311 - drives fault injection, not security
        self.desk = Desk(self.clock, self.faults, edition=self.edition, lenient=self.lenient)
        self.oauth = OAuthServer(self.clock, self.faults, self.access_token_seconds)
        self.oauth.register_client(SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET, SANDBOX_REDIRECT_URI)
        self.oauth.add_refresh_token(SANDBOX_CLIENT_ID, SANDBOX_SCOPE, SANDBOX_REFRESH_TOKEN)
        self.credits = CreditMeter(self.clock, self.credits_per_day)
        self.call_log = CallLog()

    def apply_faults(self, data: Mapping[str, Any]) -> None:
        """Set fault switches from their JSON form, plus ``credits_remaining`` and
        ``max_concurrency``. Raises ``FaultError`` (a ``ValueError``) on a bad value."""
        rest = dict(data)
        credits = rest.pop("credits_remaining", None)
        concurrency = rest.pop("max_concurrency", None)
        if credits is not None:
            whole_number("credits_remaining", credits)
        if concurrency is not None:
            whole_number("max_concurrency", concurrency)
        self.faults.apply(rest, self.clock.monotonic())
        if credits is not None:
            self.credits.set_remaining(credits)
        if concurrency is not None:
            self.max_concurrency = concurrency

    def summary(self) -> dict[str, Any]:
        """``GET /_emulator/state``: counts, credits, limits and the fault switches."""
        return {
            "organizations": len(self.organizations),
            "departments": len(self.departments),
            "contacts": len(self.contacts),
            "tickets": len(self.tickets),
            "contacts_created": self.contacts_created,
            "tickets_created": self.tickets_created,
            "token_refreshes": self.token_refreshes,
            "access_tokens_issued": self.oauth.access_tokens_issued,
            "access_tokens_live": self.oauth.live_access_tokens(),
            "refresh_tokens": len(self.refresh_tokens),
            "calls": len(self.calls),
            "in_flight": self.in_flight,
            "max_concurrency": self.max_concurrency,
            "credits_remaining": self.credits_left(),
            "credits_per_day": self.credits_per_day,
            "edition": self.edition,
            "faults": self.faults.as_json(),
        }

    # ------------------------------------------------------------------ accounts (oauth)

    @property
    def clients(self) -> dict[str, OAuthClient]:
        return self.oauth.clients

    @property
    def codes(self) -> dict[str, IssuedCode]:
        return self.oauth.codes

    @property
    def refresh_tokens(self) -> dict[str, RefreshTokenRecord]:
        return self.oauth.refresh_tokens

    @property
    def access_tokens(self) -> dict[str, AccessTokenRecord]:
        return self.oauth.access_tokens

    @property
    def token_refreshes(self) -> int:
        return self.oauth.token_refreshes

    @property
    def access_tokens_issued(self) -> int:
        return self.oauth.access_tokens_issued

    def register_client(self, client_id: str, secret: str, redirect_uri: str) -> None:
        """Register (or replace) an OAuth client with its one exact redirect URI."""
        self.oauth.register_client(client_id, secret, redirect_uri)

    def authorize(
        self,
        *,
        client_id: str | None,
        redirect_uri: str | None,
        response_type: str | None,
        scope: str | None,
        access_type: str | None,
    ) -> dict[str, str]:
        """The consent step: see :meth:`OAuthServer.authorize`."""
        return self.oauth.authorize(
            client_id=client_id,
            redirect_uri=redirect_uri,
            response_type=response_type,
            scope=scope,
            access_type=access_type,
        )

    def token(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``POST /oauth/v2/token``: see :meth:`OAuthServer.token`."""
        return self.oauth.token(params)

    def revoke(self, token: str) -> None:
        """Revoke a refresh token (and every access token it issued) or one access token."""
        self.oauth.revoke(token)

    # ------------------------------------------------------------------ Desk data

    @property
    def organizations(self) -> dict[str, OrganizationRecord]:
        return self.desk.organizations

    @property
    def departments(self) -> dict[str, DepartmentRecord]:
        return self.desk.departments

    @property
    def picklists(self) -> dict[str, dict[str, list[str]]]:
        return self.desk.picklists

    @property
    def contacts(self) -> dict[str, ContactRecord]:
        return self.desk.contacts

    @property
    def tickets(self) -> dict[str, TicketRecord]:
        return self.desk.tickets

    @property
    def contacts_created(self) -> int:
        return self.desk.contacts_created

    @property
    def tickets_created(self) -> int:
        return self.desk.tickets_created

    def create_contact(self, org_id: str, body: Any) -> ContactRecord:
        """``POST /contacts``: see :meth:`Desk.create_contact`."""
        return self.desk.create_contact(org_id, body)

    def create_ticket(self, org_id: str, body: Any, web_base: str) -> TicketRecord:
        """``POST /tickets``: see :meth:`Desk.create_ticket`."""
        return self.desk.create_ticket(org_id, body, web_base)

    def get_ticket(self, org_id: str, ticket_id: str) -> TicketRecord:
        return self.desk.get_ticket(org_id, ticket_id)

    def search_contacts(
        self, org_id: str, params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        return self.desk.search_contacts(org_id, params)

    def search_tickets(
        self, org_id: str, params: Mapping[str, str]
    ) -> tuple[list[dict[str, Any]], int]:
        return self.desk.search_tickets(org_id, params)

    def settle(self) -> None:
        """Commit the late creates that are due (the ``create_late`` fault)."""
        self.desk.settle()

    def set_picklist(
        self,
        name: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        org_id: str | None = None,
    ) -> list[str]:
        """Change one picklist of one portal: see :meth:`Desk.set_picklist`."""
        return self.desk.set_picklist(name, add=add, remove=remove, org_id=org_id)

    def tickets_by_key(self, field_name: str) -> dict[str, list[TicketRecord]]:
        """Tickets grouped by the value of one custom field (e.g. the idempotency key)."""
        return self.desk.tickets_by_key(field_name)

    # ------------------------------------------------------------------ credits and calls

    @property
    def credits_remaining(self) -> int:
        return self.credits.remaining

    @credits_remaining.setter
    def credits_remaining(self, credits: int) -> None:
        self.credits.remaining = credits

    def credits_left(self) -> int:
        """Today's remaining API credits; the budget refills at UTC midnight."""
        return self.credits.left()

    @property
    def calls(self) -> list[CallRecord]:
        return self.call_log.calls

    def record_call(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], status: int
    ) -> None:
        self.call_log.record(method, path, query, headers, status, self.clock.now())
