"""Zoho's webhook signature (X-ZDesk-JWT): an RS256 JWT whose key comes by kid from the Desk
host's JWKS (kept, refetched once for an unknown kid, never more than once per retry
window), issued by our organization for one of our webhooks, current; anything else is
refused, and keys that cannot be had make the check impossible, not failed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ticketing.adapters.zoho_desk.signature import (
    JWKS_PATH,
    ZohoJwks,
    ZohoWebhookSignatures,
)
from ticketing.domain.errors import SignatureInvalid, SignatureUnverifiable

from tests.support.clock import ManualClock

pytestmark = pytest.mark.anyio

DESK = "https://desk.zoho.eu"
ORG = "20090000001"
WEBHOOK = "6000000012345"


@pytest.fixture(scope="module")
def zoho_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": public["n"], "e": "AQAB"}


class JwksHost:
    """The Desk host's /.well-known/jwks.json: the keys it lists, or a failure; counts
    the requests."""

    def __init__(self, *keys: dict[str, Any]) -> None:
        self.keys = list(keys)
        self.requests = 0
        self.fail: Callable[[], httpx.Response] | None = None
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == DESK + JWKS_PATH
        self.requests += 1
        if self.delay:
            await anyio.sleep(self.delay)
        if self.fail is not None:
            return self.fail()
        return httpx.Response(200, json={"keys": self.keys})


class World:
    def __init__(self, host: JwksHost, **jwks_options: float) -> None:
        self.host = host
        self.clock = ManualClock()
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(host))
        self.jwks = ZohoJwks(self.http, DESK, self.clock, **jwks_options)
        self.signatures = ZohoWebhookSignatures(self.jwks, self.clock)

    def token(self, key: rsa.RSAPrivateKey, *, kid: str = "k1", **claims: Any) -> str:
        now = int(self.clock.now().timestamp())
        body = {
            "iss": f"orgId:{ORG}",
            "aud": f"webhookId:{WEBHOOK}",
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})

    async def verify(self, token: str, webhook_ids: tuple[str, ...] = (WEBHOOK,)) -> str:
        return await self.signatures.verify(token, org_id=ORG, webhook_ids=webhook_ids)


@pytest.fixture
async def world(zoho_key: rsa.RSAPrivateKey) -> Any:
    w = World(JwksHost(jwk(zoho_key, "k1")))
    yield w
    await w.http.aclose()


async def test_a_token_zoho_signed_for_our_webhook_is_verified_and_the_keys_kept(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """Zoho's key, our org, our webhook, current: the webhook id comes back; the JWKS is
    fetched once for any number of deliveries within its TTL."""
    for _ in range(3):
        assert await world.verify(world.token(zoho_key)) == WEBHOOK
    assert world.host.requests == 1


async def test_the_keys_are_fetched_again_after_their_ttl(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """An hour on, the next delivery fetches the keys again."""
    await world.verify(world.token(zoho_key))
    world.clock.advance(3601)
    await world.verify(world.token(zoho_key))
    assert world.host.requests == 2


async def test_a_token_signed_by_another_key_under_zohos_kid_is_refused(
    world: World, other_key: rsa.RSAPrivateKey
) -> None:
    """The kid is Zoho's, the signature is not."""
    with pytest.raises(SignatureInvalid, match="does not match"):
        await world.verify(world.token(other_key))


async def test_a_tampered_claim_breaks_the_signature(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """A genuine token with its claims swapped for others (another webhook): refused."""
    header, _, signature = world.token(zoho_key).split(".")
    forged = world.token(zoho_key, aud="webhookId:999").split(".")[1]
    with pytest.raises(SignatureInvalid, match="does not match"):
        await world.verify(f"{header}.{forged}.{signature}", webhook_ids=())


async def test_another_organizations_token_is_refused(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """Signed by Zoho, for another portal (any Zoho customer can get one): refused."""
    with pytest.raises(SignatureInvalid, match="orgId:777"):
        await world.verify(world.token(zoho_key, iss="orgId:777"))
    with pytest.raises(SignatureInvalid, match="issued by None"):
        await world.verify(world.token(zoho_key, iss=None))


async def test_the_audience_must_be_our_webhook_when_we_know_it(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """With the registered webhook known, another webhook's token is refused; with none
    known, any ``webhookId:`` audience is ours; never an audience of another kind."""
    other = world.token(zoho_key, aud="webhookId:5550001")
    with pytest.raises(SignatureInvalid, match=f"not webhookId:{WEBHOOK}"):
        await world.verify(other)
    assert await world.verify(other, webhook_ids=()) == "5550001"
    listed = world.token(zoho_key, aud=["someone-else", f"webhookId:{WEBHOOK}"])
    assert await world.verify(listed) == WEBHOOK
    for aud in ("orgId:1", "webhookId:", None):
        with pytest.raises(SignatureInvalid, match="the JWT is for"):
            await world.verify(world.token(zoho_key, aud=aud), webhook_ids=())


async def test_an_expired_token_is_refused_beyond_the_leeway(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """exp 30 s ago passes (clock skew); 2 minutes ago does not; no exp at all does not."""
    now = int(world.clock.now().timestamp())
    assert await world.verify(world.token(zoho_key, exp=now - 30)) == WEBHOOK
    with pytest.raises(SignatureInvalid, match="expired 120s ago"):
        await world.verify(world.token(zoho_key, exp=now - 120))
    with pytest.raises(SignatureInvalid, match="no expiry"):
        await world.verify(world.token(zoho_key, exp=None))


async def test_times_in_milliseconds_are_read_as_zohos_page_gives_them(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """Zoho's page says exp/iat are milliseconds (its example: seconds): both are read."""
    ms = int(world.clock.now().timestamp() * 1000)
    assert await world.verify(world.token(zoho_key, iat=ms, exp=ms + 300_000)) == WEBHOOK
    with pytest.raises(SignatureInvalid, match="expired"):
        await world.verify(world.token(zoho_key, iat=ms - 900_000, exp=ms - 600_000))


async def test_a_token_from_the_future_is_refused(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """iat or nbf further ahead than the leeway: refused; a non-number: refused."""
    now = int(world.clock.now().timestamp())
    with pytest.raises(SignatureInvalid, match="issued 600s in the future"):
        await world.verify(world.token(zoho_key, iat=now + 600, exp=now + 900))
    with pytest.raises(SignatureInvalid, match="not valid for another 600s"):
        await world.verify(world.token(zoho_key, nbf=now + 600))
    with pytest.raises(SignatureInvalid, match="exp is not a number"):
        await world.verify(world.token(zoho_key, exp="tomorrow"))


async def test_only_rs256_with_a_kid_is_accepted(world: World, zoho_key: rsa.RSAPrivateKey) -> None:
    """Not a JWT, ``alg: none``, HS256 (keyed with anything), no kid: refused before any
    key is fetched."""
    claims = {"iss": f"orgId:{ORG}", "aud": f"webhookId:{WEBHOOK}", "exp": 4_000_000_000}
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": "k1"})
    hmac = jwt.encode(claims, "a-shared-secret-of-32-bytes-long!", headers={"kid": "k1"})
    no_kid = jwt.encode(claims, zoho_key, algorithm="RS256")
    for token, reason in (
        ("not-a-jwt", "not a JWT"),
        (unsigned, "'none', not RS256"),
        (hmac, "'HS256', not RS256"),
        (no_kid, "names no key"),
    ):
        with pytest.raises(SignatureInvalid, match=reason):
            await world.verify(token)
    assert world.host.requests == 0


async def test_an_unknown_kid_refetches_the_keys_once(
    world: World, zoho_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    """Zoho rotated its key: the first token under the new kid fetches the keys again and
    verifies. A made-up kid then costs no fetch within the retry window (a flood of
    forgeries is one request per 30 s to Zoho), and one after it."""
    await world.verify(world.token(zoho_key))
    world.host.keys.append(jwk(other_key, "k2"))
    assert await world.verify(world.token(other_key, kid="k2")) == WEBHOOK
    assert world.host.requests == 2
    world.clock.advance(1)
    for _ in range(5):
        with pytest.raises(SignatureInvalid, match="'made-up' is not one of Zoho's"):
            await world.verify(world.token(other_key, kid="made-up"))
    assert world.host.requests == 2
    world.clock.advance(30)
    with pytest.raises(SignatureInvalid, match="not one of Zoho's"):
        await world.verify(world.token(other_key, kid="made-up"))
    assert world.host.requests == 3


@pytest.mark.parametrize(
    "failure",
    [
        lambda: httpx.Response(503, json={"errorCode": "SERVICE_UNAVAILABLE"}),
        lambda: httpx.Response(200, json={"no": "keys"}),
        lambda: httpx.Response(200, content=b"<html>"),
        lambda: httpx.Response(200, json={"keys": [{"kty": "EC", "kid": "x"}]}),
    ],
    ids=["503", "not-a-jwk-set", "not-json", "no-rsa-key"],
)
async def test_keys_that_cannot_be_had_make_the_check_impossible_not_failed(
    world: World, zoho_key: rsa.RSAPrivateKey, failure: Callable[[], httpx.Response]
) -> None:
    """The JWKS down or unreadable, no key held: unverifiable (not a bad signature); the
    next try waits out the retry window."""
    world.host.fail = failure
    for _ in range(2):
        with pytest.raises(SignatureUnverifiable, match=r"/\.well-known/jwks\.json"):
            await world.verify(world.token(zoho_key))
    assert world.host.requests == 1


async def test_a_jwks_that_does_not_answer_is_given_up_within_the_timeout(
    zoho_key: rsa.RSAPrivateKey,
) -> None:
    """The host hangs: the check gives up after the fetch timeout (here 0.2 s), well inside
    Zoho's 5 s."""
    host = JwksHost(jwk(zoho_key, "k1"))
    host.delay = 5.0
    w = World(host, timeout=0.2)
    try:
        with anyio.fail_after(1.0), pytest.raises(SignatureUnverifiable):
            await w.verify(w.token(zoho_key))
    finally:
        await w.http.aclose()


async def test_keys_held_still_verify_while_the_host_is_down(
    world: World, zoho_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey
) -> None:
    """Past the TTL with the host down, the keys already held still verify a known kid and
    still refuse a bad signature."""
    await world.verify(world.token(zoho_key))
    world.host.fail = lambda: httpx.Response(503)
    world.clock.advance(4000)
    assert await world.verify(world.token(zoho_key)) == WEBHOOK
    with pytest.raises(SignatureInvalid, match="does not match"):
        await world.verify(world.token(other_key))
    assert world.host.requests == 2


async def test_concurrent_deliveries_share_one_fetch(
    world: World, zoho_key: rsa.RSAPrivateKey
) -> None:
    """Ten deliveries at once with no key held: one request to Zoho."""
    world.host.delay = 0.05
    token = world.token(zoho_key)
    results: list[str] = []

    async def one() -> None:
        results.append(await world.verify(token))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(one)
    assert results == [WEBHOOK] * 10
    assert world.host.requests == 1
