"""The emulated Desk host's webhook signing key: each delivery carries ``X-ZDesk-JWT``, an
RS256 JWT whose public key is served at ``/.well-known/jwks.json``.

UNCONFIRMED scheme (no Zoho page this project could read documents it), as the sources that
verify it read it: ``simstudioai/sim`` ``apps/sim/lib/webhooks/providers/zoho-desk.ts``
(header ``x-zdesk-jwt``, the Desk host's ``/.well-known/jwks.json``, RS256,
``iss = "orgId:<orgId>"``, ``aud = "webhookId:<webhook id>"``) and a research note quoting
Zoho's webhook page (claims ``iss``, ``aud``, ``iat``, ``exp``; the key's ``kid`` in the
header; the claims are signed, not the body). The token's lifetime is not known: five
minutes here. Times are in seconds, as that page's example has them (its text says ms).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

HEADER: Final = "X-ZDesk-JWT"
LIFETIME_SECONDS: Final = 300


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class WebhookSigner:
    """The signing key of the emulated Desk host, made on first use (a state that never
    delivers a webhook never pays for an RSA key) and kept across resets, as a portal's
    data reset would not change Zoho's keys; and a second key, never published, that signs
    the deliveries of the ``webhook_signature: "bad"`` switch under the real key's kid."""

    def __init__(self) -> None:
        self._key: rsa.RSAPrivateKey | None = None
        self._impostor: rsa.RSAPrivateKey | None = None
        self._kid = ""

    def __repr__(self) -> str:
        return f"WebhookSigner(kid={self._kid or None!r})"

    def _signing_key(self) -> rsa.RSAPrivateKey:
        if self._key is None:
            self._key = _new_key()
            public = json.loads(RSAAlgorithm.to_jwk(self._key.public_key()))
            self._kid = hashlib.sha256(public["n"].encode()).hexdigest()[:16]
        return self._key

    @property
    def kid(self) -> str:
        self._signing_key()
        return self._kid

    def jwks(self) -> dict[str, Any]:
        """``GET /.well-known/jwks.json``: the public key."""
        public = json.loads(RSAAlgorithm.to_jwk(self._signing_key().public_key()))
        jwk = {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256"}
        return {"keys": [{**jwk, "n": public["n"], "e": public["e"]}]}

    def sign(self, org_id: str, webhook_id: str, now: datetime, *, bad: bool = False) -> str:
        """The ``X-ZDesk-JWT`` of a delivery of ``webhook_id`` in ``org_id``, issued at
        ``now`` (Zoho's clock); with ``bad``, signed by a key that is not published."""
        key = self._signing_key()
        if bad:
            if self._impostor is None:
                self._impostor = _new_key()
            key = self._impostor
        issued = int(now.timestamp())
        claims = {
            "iss": f"orgId:{org_id}",
            "aud": f"webhookId:{webhook_id}",
            "iat": issued,
            "exp": issued + LIFETIME_SECONDS,
        }
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})
