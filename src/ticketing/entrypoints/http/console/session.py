"""The console's sessions: a signed cookie instead of the API key, a CSRF token per session
and one for the login form (a short-lived pre-session cookie)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "ticketing_console"
LIFETIME = 12 * 3600  # seconds a login lasts
LOGIN_COOKIE = "ticketing_console_login"  # the login form's pre-session (its CSRF token)
LOGIN_LIFETIME = 3600  # seconds a login form stays usable
OPEN = "open"  # who an open console's (API_KEYS unset) sessions belong to
_VERSION = "v1"
_LOGIN = "l1"


@dataclass(frozen=True, slots=True)
class Session:
    """A console session: the cookie's value, whose it is and its CSRF token."""

    value: str
    who: str  # the key's fingerprint, or OPEN
    csrf: str
    expires: int  # Unix time
    fresh: bool = False  # made by this request: the response sets the cookie

    @property
    def open(self) -> bool:
        return self.who == OPEN


def derived_secret(api_keys: tuple[str, ...]) -> bytes:
    """The signing key when CONSOLE_SECRET is unset: an HMAC over the configured API keys, so
    every instance of a fleet agrees without more configuration (and a changed key list ends
    every session)."""
    joined = "\n".join(sorted(api_keys)).encode()
    return hmac.new(b"ticketing console session", joined, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Shared:
    """What every instance of a fleet shares and the console may derive its signing key from
    (when CONSOLE_SECRET and API_KEYS are unset); ``source`` names it for the log."""

    material: str
    source: str

    def key(self) -> bytes:
        """An HMAC over the material: the material itself is never used or shown."""
        return hmac.new(b"ticketing console fleet", self.material.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class LoginForm:
    """A login form's pre-session: the cookie's value and the token its form carries."""

    value: str
    csrf: str
    expires: int  # Unix time


class Sessions:
    """Issues and checks session cookies: ``v1.<who>.<expires>.<nonce>.<mac>``, signed with
    CONSOLE_SECRET (or :func:`derived_secret`). A session names its key by a fingerprint, so
    a key taken out of API_KEYS ends its sessions even under a fixed CONSOLE_SECRET. Without
    API keys the console is open and its sessions only carry CSRF tokens, signed with a key
    derived from ``shared`` (what the fleet's instances share), else of this process's own."""

    def __init__(
        self,
        api_keys: tuple[str, ...],
        secret: str | None = None,
        *,
        shared: Shared | None = None,
        lifetime: int = LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if secret:
            self._key, self.source = secret.encode(), "CONSOLE_SECRET"
        elif api_keys:
            self._key, self.source = derived_secret(api_keys), "API_KEYS"
        elif shared is not None:
            self._key, self.source = shared.key(), shared.source
        else:
            self._key, self.source = secrets.token_bytes(32), "a random key of this process"
        self._lifetime = lifetime
        self._clock = clock
        self._keys = [(key.encode(), self._fingerprint(key)) for key in api_keys]
        self._known = {fingerprint for _, fingerprint in self._keys}

    @property
    def open(self) -> bool:
        """No API keys: anyone may use the console (sandbox, development)."""
        return not self._keys

    def login(self, presented: str) -> Session | None:
        """A new session for a configured key; None for any other text."""
        candidate = presented.strip().encode()
        found = None
        for key, fingerprint in self._keys:  # compare with every key: timing tells nothing
            if hmac.compare_digest(candidate, key):
                found = fingerprint
        return None if found is None else self._issue(found)

    def anonymous(self) -> Session:
        """A session of an open console (only its CSRF token matters)."""
        return self._issue(OPEN)

    def read(self, value: str | None) -> Session | None:
        """The session a cookie holds, when it is ours, unexpired and its key still
        configured; else None."""
        if not value or len(value) > 256:
            return None
        parts = value.split(".")
        if len(parts) != 5 or parts[0] != _VERSION:
            return None
        body, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        _, who, expires_text, _ = body.split(".")
        if not expires_text.isdigit() or int(expires_text) <= self._clock():
            return None
        allowed = who == OPEN if self.open else who in self._known
        if not allowed:
            return None
        return Session(value, who, self._csrf(value), int(expires_text))

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        """Does a form's token belong to this session?"""
        return bool(token) and hmac.compare_digest(str(token), session.csrf)

    def login_form(self, value: str | None = None) -> LoginForm:
        """The login form's pre-session: the one its cookie holds while valid, else a new one."""
        if (found := self._login_form(value)) is not None:
            return found
        expires = int(self._clock()) + LOGIN_LIFETIME
        body = f"{_LOGIN}.{expires}.{secrets.token_urlsafe(12)}"
        value = f"{body}.{self._mac(body)}"
        return LoginForm(value, self._mac(f"login\n{value}"), expires)

    def login_csrf_ok(self, value: str | None, token: str | None) -> bool:
        """Did a login POST come from a form this console served to this browser (its
        pre-session cookie is ours and unexpired, and the form's token is that cookie's)?"""
        found = self._login_form(value)
        return found is not None and bool(token) and hmac.compare_digest(str(token), found.csrf)

    def _login_form(self, value: str | None) -> LoginForm | None:
        if not value or len(value) > 128:
            return None
        parts = value.split(".")
        if len(parts) != 4 or parts[0] != _LOGIN or not parts[1].isdigit():
            return None
        body, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(body)) or int(parts[1]) <= self._clock():
            return None
        return LoginForm(value, self._mac(f"login\n{value}"), int(parts[1]))

    def _issue(self, who: str) -> Session:
        expires = int(self._clock()) + self._lifetime
        body = f"{_VERSION}.{who}.{expires}.{secrets.token_urlsafe(12)}"
        value = f"{body}.{self._mac(body)}"
        return Session(value, who, self._csrf(value), expires, fresh=True)

    def _csrf(self, value: str) -> str:
        return self._mac(f"csrf\n{value}")

    def _fingerprint(self, api_key: str) -> str:
        return self._mac(f"key\n{api_key}")[:22]

    def _mac(self, text: str) -> str:
        digest = hmac.new(self._key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
