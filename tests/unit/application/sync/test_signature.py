"""ZOHO_WEBHOOK_SIGNATURE's rules: a signature that is there is checked (verify, require), a
missing one is refused only under require, off ignores it; a check that cannot be made in
time stores the delivery unverified; a signed delivery may not carry another
organization's events; the registered webhook is the audience; each result is counted."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import pytest

from ticketing.adapters.memory import InMemorySyncLog
from ticketing.adapters.prometheus import PrometheusMetrics
from ticketing.application.sync.signature import CheckSignature, SignatureMode, SignatureRefused
from ticketing.domain.conversation import WebhookEvent
from ticketing.domain.errors import (
    HelpdeskUnavailable,
    SignatureInvalid,
    SignatureUnverifiable,
    StoreUnavailable,
)
from ticketing.domain.ports import Conversations

pytestmark = pytest.mark.anyio

ORG = "20090000001"


@dataclass
class FakeSignatures:
    """Tokens it knows by value: ``good`` (for ``webhook``), ``bad``, ``down`` (the keys
    cannot be had); records each check's arguments."""

    webhook: str = "600001"
    checked: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    async def verify(self, token: str, *, org_id: str, webhook_ids: Collection[str]) -> str:
        self.checked.append((token, org_id, tuple(webhook_ids)))
        if token == "down":
            raise SignatureUnverifiable("no Zoho signing keys: the host could not be read")
        if token != "good" or org_id != ORG or (webhook_ids and self.webhook not in webhook_ids):
            raise SignatureInvalid("the JWT's signature does not match Zoho's key")
        return self.webhook


@dataclass
class FakeDesk:
    """Only what the check asks the helpdesk: our organization id (or a failure, or a hang)."""

    failure: Exception | None = None
    hang: float = 0.0

    async def org_id(self) -> str:
        if self.hang:
            await anyio.sleep(self.hang)
        if self.failure is not None:
            raise self.failure
        return ORG


class DownLog(InMemorySyncLog):
    async def registered_webhook(self) -> str | None:
        raise StoreUnavailable("Redis is down")


def event(org_id: str | None = ORG) -> WebhookEvent:
    return WebhookEvent("Ticket_Thread_Add", org_id, "1", "2")


class World:
    def __init__(
        self, mode: SignatureMode = "verify", log: InMemorySyncLog | None = None, **desk: Any
    ) -> None:
        self.signatures = FakeSignatures()
        self.log = log or InMemorySyncLog()
        self.metrics = PrometheusMetrics()
        self.check = CheckSignature(
            self.signatures,
            cast(Conversations, FakeDesk(**desk)),
            self.log,
            self.metrics,
            mode,
            deadline=0.2,
        )

    def counted(self, check: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "ticketing_webhook_signatures_total", {"check": check}
        )
        return value or 0.0

    def refused(self, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "ticketing_webhook_deliveries_total", {"outcome": outcome}
        )
        return value or 0.0


@pytest.mark.parametrize("mode", ["verify", "require"])
async def test_a_good_signature_is_verified_in_both_checking_modes(mode: SignatureMode) -> None:
    """Checked against our organization id; counted verified."""
    w = World(mode)
    assert await w.check("good", [event()]) == "verified"
    assert w.signatures.checked == [("good", ORG, ())]
    assert w.counted("verified") == 1


@pytest.mark.parametrize("mode", ["verify", "require"])
async def test_a_bad_signature_is_refused_and_counted(mode: SignatureMode) -> None:
    """Refused with the reason; counted as a bad check and a bad_signature delivery."""
    w = World(mode)
    with pytest.raises(SignatureRefused, match="does not match") as refused:
        await w.check("forged", [event()])
    assert refused.value.outcome == "bad_signature"
    assert (w.counted("bad"), w.refused("bad_signature")) == (1, 1)


async def test_an_unsigned_delivery_is_taken_under_verify_and_refused_under_require() -> None:
    """No header: verify takes it (counted unsigned), require refuses it (a 401, counted)."""
    w = World("verify")
    assert await w.check(None, [event()]) == "unsigned"
    assert await w.check("", [event()]) == "unsigned"
    assert w.counted("unsigned") == 2
    assert w.refused("unsigned") == 0
    w = World("require")
    with pytest.raises(SignatureRefused, match="one is required") as refused:
        await w.check(None, [event()])
    assert refused.value.outcome == "unsigned"
    assert (w.counted("unsigned"), w.refused("unsigned")) == (1, 1)
    assert w.signatures.checked == []


async def test_off_ignores_the_header_even_a_forged_one() -> None:
    """off: nothing is checked or counted."""
    w = World("off")
    assert await w.check("forged", [event()]) == "off"
    assert await w.check(None, [event()]) == "off"
    assert w.signatures.checked == []
    assert w.counted("bad") == w.counted("unsigned") == 0


@pytest.mark.parametrize("mode", ["verify", "require"])
@pytest.mark.parametrize(
    "problem",
    [
        {"token": "down"},
        {"token": "good", "failure": HelpdeskUnavailable("Zoho is down")},
        {"token": "good", "hang": 5.0},
    ],
    ids=["jwks-down", "org-id-unknown", "org-id-hangs"],
)
async def test_a_check_that_cannot_be_made_in_time_takes_the_delivery_unverified(
    mode: SignatureMode, problem: dict[str, Any]
) -> None:
    """The keys cannot be had, or our organization id: the delivery is taken, unverified
    (what is published is fetched from Zoho by id), within the deadline, in both modes."""
    desk = dict(problem)
    token = desk.pop("token")
    w = World(mode, **desk)
    with anyio.fail_after(1.0):
        assert await w.check(token, [event()]) == "unverified"
    assert w.counted("unverified") == 1
    assert w.refused("bad_signature") == 0


async def test_the_registered_webhook_is_the_only_audience() -> None:
    """Once `webhooks setup` recorded a webhook, only its tokens pass; with Redis down the
    check falls back to any webhook of the organization (the store fails next anyway)."""
    w = World()
    await w.log.set_registered_webhook("600001")
    assert await w.check("good", [event()]) == "verified"
    await w.log.set_registered_webhook("600999")
    with pytest.raises(SignatureRefused):
        await w.check("good", [event()])
    assert [webhooks for _, _, webhooks in w.signatures.checked] == [("600001",), ("600999",)]
    down = World(log=DownLog())
    assert await down.check("good", [event()]) == "verified"
    assert down.signatures.checked == [("good", ORG, ())]


async def test_a_signed_delivery_carrying_another_organizations_events_is_refused() -> None:
    """The JWT signs its claims, not the body: a genuine token of ours on a body of another
    portal's events is a replay, refused; events without an orgId are not held against it."""
    w = World()
    assert await w.check("good", [event(), event(None)]) == "verified"
    with pytest.raises(SignatureRefused, match="organization 777, not 20090000001"):
        await w.check("good", [event(), event("777")])
    assert w.refused("bad_signature") == 1
