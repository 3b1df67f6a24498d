"""The emulated Zoho account as one object: the accounts server, the Desk data, the credit meter,
the call log and the fault switches they share, in plain Python with no HTTP in it."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import httpx

from zoho_desk_emulator.attachments import Attachments
from zoho_desk_emulator.calls import CallLog
from zoho_desk_emulator.clock import Clock, SystemClock
from zoho_desk_emulator.conversations import Conversations
from zoho_desk_emulator.credits import CreditMeter
from zoho_desk_emulator.desk import Desk
from zoho_desk_emulator.faults import Faults, whole_number
from zoho_desk_emulator.oauth import ACCESS_TOKEN_SECONDS, OAuthServer
from zoho_desk_emulator.records import (
    AccessTokenRecord,
    CallRecord,
    ContactRecord,
    DepartmentRecord,
    IssuedCode,
    OAuthClient,
    OrganizationRecord,
    RefreshTokenRecord,
    TicketRecord,
)
from zoho_desk_emulator.sandbox import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_REDIRECT_URI,
    SANDBOX_REFRESH_TOKEN,
    SANDBOX_SCOPE,
)
from zoho_desk_emulator.signing import WebhookSigner
from zoho_desk_emulator.webhooks import Webhooks

T = TypeVar("T")
Search = tuple[list[dict[str, Any]], int]  # one page of results, and the total


class _Part(Generic[T]):
    """An attribute of :class:`EmulatorState` that is an attribute of one of its parts (the
    same name unless ``name`` is given): reading and setting it reach the part."""

    def __init__(self, part: str, name: str | None = None) -> None:
        self.part = part
        self.name = name or ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    def __get__(self, state: Any, owner: type | None = None) -> T:
        return cast(T, getattr(getattr(state, self.part), self.name))

    def __set__(self, state: Any, value: T) -> None:
        setattr(getattr(state, self.part), self.name, value)


class EmulatorState:
    """Everything the emulated Zoho account holds, and the rules it enforces.

    A façade over the parts, each with its own state: ``oauth`` (:class:`OAuthServer`),
    ``desk`` (:class:`Desk`, searches included), ``credits`` (:class:`CreditMeter`) and
    ``call_log`` (:class:`CallLog`), ``conversations`` (:class:`Conversations`: threads and
    comments), ``attachments`` (:class:`Attachments`: files on tickets, temporary uploads)
    and ``webhooks`` (:class:`Webhooks`: subscriptions and deliveries, over
    ``webhook_transport`` when given). ``faults`` is one object shared by all of them, cleared
    in place so references held by tests stay live. :meth:`reset` replaces every part; the
    attributes listed under "the parts' surface" read (and set) the current part's.
    """

    oauth: OAuthServer
    desk: Desk
    conversations: Conversations
    attachments: Attachments
    webhooks: Webhooks
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
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.webhook_transport = webhook_transport
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
        # Where people open the emulator's pages, the root of each new ticket's webUrl (a
        # service serving them under its own address sets it); None: the root the create was
        # sent to. Kept across reset(), like the address it names.
        self.web_url_base: str | None = None
        self.faults = Faults()
        # the Desk host's webhook signing key: kept across resets (Zoho's keys are not a
        # portal's data)
        self.signer = WebhookSigner()
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
        self.conversations = Conversations(self.desk)
        self.attachments = Attachments(self.desk)
        self.webhooks = Webhooks(
            self.clock,
            self.faults,
            self.desk,
            transport=self.webhook_transport,
            lenient=self.lenient,
            signer=self.signer,
        )
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
            "threads": len(self.conversations.threads),
            "comments": len(self.conversations.comments),
            "attachments": len(self.attachments.records),
            "uploads": len(self.attachments.uploads),
            "webhooks": len(self.webhooks.subscriptions),
            "webhook_deliveries": len(self.webhooks.deliveries),
            "webhook_events_pending": self.webhooks.pending(),
            "token_refreshes": self.token_refreshes,
            "access_tokens_issued": self.access_tokens_issued,
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

    # ------------------------------------------------------------------ the parts' surface

    # accounts server
    clients: _Part[dict[str, OAuthClient]] = _Part("oauth")
    codes: _Part[dict[str, IssuedCode]] = _Part("oauth")
    refresh_tokens: _Part[dict[str, RefreshTokenRecord]] = _Part("oauth")
    access_tokens: _Part[dict[str, AccessTokenRecord]] = _Part("oauth")
    token_refreshes: _Part[int] = _Part("oauth")
    access_tokens_issued: _Part[int] = _Part("oauth")
    register_client: _Part[Callable[[str, str, str], None]] = _Part("oauth")
    authorize: _Part[Callable[..., dict[str, str]]] = _Part("oauth")
    token: _Part[Callable[[Mapping[str, str]], dict[str, Any]]] = _Part("oauth")
    revoke: _Part[Callable[[str], None]] = _Part("oauth")
    # Desk data
    organizations: _Part[dict[str, OrganizationRecord]] = _Part("desk")
    departments: _Part[dict[str, DepartmentRecord]] = _Part("desk")
    picklists: _Part[dict[str, dict[str, list[str]]]] = _Part("desk")
    contacts: _Part[dict[str, ContactRecord]] = _Part("desk")
    tickets: _Part[dict[str, TicketRecord]] = _Part("desk")
    contacts_created: _Part[int] = _Part("desk")
    tickets_created: _Part[int] = _Part("desk")
    create_contact: _Part[Callable[[str, Any], ContactRecord]] = _Part("desk")
    create_ticket: _Part[Callable[[str, Any, str], TicketRecord]] = _Part("desk")
    get_ticket: _Part[Callable[[str, str], TicketRecord]] = _Part("desk")
    search_contacts: _Part[Callable[[str, Mapping[str, str]], Search]] = _Part("desk")
    search_tickets: _Part[Callable[[str, Mapping[str, str]], Search]] = _Part("desk")
    settle: _Part[Callable[[], None]] = _Part("desk")
    set_picklist: _Part[Callable[..., list[str]]] = _Part("desk")
    tickets_by_key: _Part[Callable[[str], dict[str, list[TicketRecord]]]] = _Part("desk")
    # credits and the call log
    credits_remaining: _Part[int] = _Part("credits", "remaining")
    credits_left: _Part[Callable[[], int]] = _Part("credits", "left")
    calls: _Part[list[CallRecord]] = _Part("call_log")

    def record_call(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], status: int
    ) -> None:
        self.call_log.record(method, path, query, headers, status, self.clock.now())
