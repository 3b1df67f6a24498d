"""Zoho's signature on a webhook delivery: the ``X-ZDesk-JWT`` header, an RS256 JWT checked
against the Desk host's ``/.well-known/jwks.json`` (:class:`ZohoWebhookSignatures`).

UNCONFIRMED: no Zoho page this project could read documents the scheme. What is followed
here, from the sources that use it:
- ``simstudioai/sim`` ``apps/sim/lib/webhooks/providers/zoho-desk.ts`` (verifyAuth): header
  ``x-zdesk-jwt``; keys at ``https://<desk host>/.well-known/jwks.json`` of the portal's data
  centre; RS256 only; ``iss = "orgId:<orgId>"``, ``aud = "webhookId:<webhook id>"``.
- a research note quoting Zoho's webhook page (``desk.zoho.com/support/WebhookDocument.do``):
  claims ``iss``, ``aud``, ``iat``, ``exp``, the key's ``kid`` in the JWT header; "the
  signature ensures that both the header and the claims are not altered": the JWT signs
  its claims, **not the body** (there is no body-hash claim to check), so a token could be
  replayed with another body within its lifetime. The page gives ``exp``/``iat`` in
  milliseconds and its example in seconds: both are read here.
- another receiver verifies the same claims with 5 s of clock tolerance and a 2.5 s JWKS
  timeout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping
from typing import Any, Final

import anyio
import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

from ticketing.domain.errors import SignatureInvalid, SignatureUnverifiable
from ticketing.domain.ports import Clock

log = logging.getLogger("ticketing.zoho.signature")

JWKS_PATH: Final = "/.well-known/jwks.json"
# Zoho's deadline is 5 s and the durable write gets 3 of them: the key fetch gets 1.5.
JWKS_TIMEOUT: Final = 1.5
# Keys are kept this long; an unknown kid refetches sooner (at most once per JWKS_RETRY).
JWKS_TTL: Final = 3600.0
# After a failed fetch, or a refetch for an unknown kid, no other fetch for this long: a
# flood of forged tokens with made-up kids costs Zoho one request a JWKS_RETRY, not one each.
JWKS_RETRY: Final = 30.0
# Clock skew allowed on exp, nbf and iat.
LEEWAY: Final = 60.0
ALGORITHM: Final = "RS256"
# A time claim above this is in milliseconds (1e11 s is the year 5138).
_MILLISECONDS: Final = 1e11
ISSUER_PREFIX: Final = "orgId:"
AUDIENCE_PREFIX: Final = "webhookId:"


class ZohoJwks:
    """The Desk host's public keys by ``kid``: fetched once, kept ``ttl`` seconds, fetched
    again (at most once per ``retry`` seconds) when a kid is not among them. A failed fetch
    keeps the keys already held (a known kid still verifies while Zoho's host is down).

    Args:
        http: The Zoho HTTP client (the sandbox's reaches the in-process emulator).
        desk_url: The Desk host of the data centre (``ZOHO_DC`` or ``ZOHO_DESK_URL``).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        desk_url: str,
        clock: Clock,
        *,
        timeout: float = JWKS_TIMEOUT,
        ttl: float = JWKS_TTL,
        retry: float = JWKS_RETRY,
    ) -> None:
        self.url = desk_url.rstrip("/") + JWKS_PATH
        self._http = http
        self._clock = clock
        self._timeout = timeout
        self._ttl = ttl
        self._retry = retry
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None  # monotonic, of the last fetch that worked
        self._failed_at: float | None = None  # monotonic, of the last fetch that failed
        self._refetched_at: float | None = None  # monotonic, of the last unknown-kid refetch
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"ZohoJwks(url={self.url!r}, keys={sorted(self._keys)})"

    async def key(self, kid: str) -> Any | None:
        """The public key ``kid`` names; None when the host does not list it (after a
        refetch, if one is allowed now).

        Raises:
            SignatureUnverifiable: no keys are held and the host could not be reached.
        """
        if self._wants_fetch(kid):
            async with self._lock:  # one fetch for all the deliveries waiting on it
                if self._wants_fetch(kid):
                    if not self._expired():
                        self._refetched_at = self._clock.monotonic()
                    await self._fetch()
        if not self._keys:
            raise SignatureUnverifiable(f"no Zoho signing keys: {self.url} could not be read")
        return self._keys.get(kid)

    def _wants_fetch(self, kid: str) -> bool:
        """Fetch when the keys are stale, or for a kid not among them; but not within
        ``retry`` of a failed fetch, nor of the last refetch for an unknown kid."""
        if self._recent(self._failed_at):
            return False
        if self._expired():
            return True
        return kid not in self._keys and not self._recent(self._refetched_at)

    def _expired(self) -> bool:
        now = self._clock.monotonic()
        return self._fetched_at is None or now - self._fetched_at >= self._ttl

    def _recent(self, at: float | None) -> bool:
        return at is not None and self._clock.monotonic() - at < self._retry

    async def _fetch(self) -> None:
        try:
            with anyio.fail_after(self._timeout):
                response = await self._http.get(self.url, timeout=self._timeout)
            response.raise_for_status()
            keys = _rsa_keys(response.json())
        except (TimeoutError, httpx.HTTPError, ValueError) as exc:
            reason = _short(exc)
            log.warning(
                "webhook signature: Zoho's signing keys (%s) could not be fetched: %s; "
                "retrying in %gs",
                self.url,
                reason,
                self._retry,
            )
            self._failed_at = self._clock.monotonic()
            return
        self._keys = keys
        self._fetched_at = self._clock.monotonic()
        self._failed_at = None


def _short(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return str(exc) or type(exc).__name__


def _rsa_keys(document: Any) -> dict[str, Any]:
    """The RSA signing keys of a JWK set, by kid (other keys are skipped).

    Raises:
        ValueError: not a JWK set, or no usable key in it.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set (no 'keys' list)")
    keys: dict[str, Any] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or jwk.get("use", "sig") != "sig":
            continue
        try:
            keys[kid] = RSAAlgorithm.from_jwk(json.dumps(dict(jwk)))
        except (jwt.InvalidKeyError, ValueError, KeyError, TypeError):
            continue
    if not keys:
        raise ValueError("no RSA signing key with a kid in the JWK set")
    return keys


class ZohoWebhookSignatures:
    """The :class:`~ticketing.domain.ports.DeliverySignatures` of Zoho Desk: an RS256 JWT,
    its key by ``kid`` from :class:`ZohoJwks`, ``iss`` our organization, ``aud`` one of
    our webhooks, ``exp``/``nbf``/``iat`` within ``leeway`` (seconds or milliseconds)."""

    def __init__(self, jwks: ZohoJwks, clock: Clock, *, leeway: float = LEEWAY) -> None:
        self._jwks = jwks
        self._clock = clock
        self._leeway = leeway

    def __repr__(self) -> str:
        return f"ZohoWebhookSignatures({self._jwks!r})"

    async def verify(self, token: str, *, org_id: str, webhook_ids: Collection[str]) -> str:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise SignatureInvalid("the signature is not a JWT") from None
        # The algorithm is fixed, never taken from the token (no "none", no HS256 keyed
        # with the public key).
        if header.get("alg") != ALGORITHM:
            raise SignatureInvalid(f"the JWT is signed with {header.get('alg')!r}, not RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise SignatureInvalid("the JWT names no key (kid)")
        key = await self._jwks.key(kid)
        if key is None:
            raise SignatureInvalid(f"the JWT's key {kid!r} is not one of Zoho's")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                # Claims are checked below: the times may be in milliseconds, and the
                # messages say which claim failed.
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise SignatureInvalid("the JWT's signature does not match Zoho's key") from None
        except jwt.PyJWTError as exc:
            raise SignatureInvalid(f"the JWT cannot be read: {exc}") from None
        self._check_issuer(claims, org_id)
        webhook_id = self._check_audience(claims, webhook_ids)
        self._check_times(claims)
        return webhook_id

    @staticmethod
    def _check_issuer(claims: Mapping[str, Any], org_id: str) -> None:
        expected = ISSUER_PREFIX + org_id
        if claims.get("iss") != expected:
            raise SignatureInvalid(f"the JWT was issued by {claims.get('iss')!r}, not {expected}")

    @staticmethod
    def _check_audience(claims: Mapping[str, Any], webhook_ids: Collection[str]) -> str:
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        ids = [
            a.removeprefix(AUDIENCE_PREFIX)
            for a in audiences
            if isinstance(a, str) and a.startswith(AUDIENCE_PREFIX)
        ]
        for webhook_id in ids:
            if webhook_id and (not webhook_ids or webhook_id in webhook_ids):
                return webhook_id
        wanted = (
            " or ".join(AUDIENCE_PREFIX + w for w in sorted(webhook_ids))
            if webhook_ids
            else "webhookId:<id>"
        )
        raise SignatureInvalid(f"the JWT is for {aud!r}, not {wanted}")

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        now = self._clock.now().timestamp()
        exp = _seconds(claims, "exp")
        if exp is None:
            # A token that never expires could be replayed for ever.
            raise SignatureInvalid("the JWT has no expiry (exp)")
        if now > exp + self._leeway:
            raise SignatureInvalid(f"the JWT expired {now - exp:.0f}s ago")
        nbf = _seconds(claims, "nbf")
        if nbf is not None and now < nbf - self._leeway:
            raise SignatureInvalid(f"the JWT is not valid for another {nbf - now:.0f}s")
        iat = _seconds(claims, "iat")
        if iat is not None and now < iat - self._leeway:
            raise SignatureInvalid(f"the JWT was issued {iat - now:.0f}s in the future")


def _seconds(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim in seconds (Zoho's page says milliseconds; its example and the
    RFC use seconds), None when absent.

    Raises:
        SignatureInvalid: present but not a number.
    """
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignatureInvalid(f"the JWT's {name} is not a number")
    return value / 1000 if value > _MILLISECONDS else float(value)
