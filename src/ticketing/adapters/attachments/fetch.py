"""The ``AttachmentFetcher``: an attachment's URL fetched under the operator's rules.

Each hop (the URL, then up to three redirects) is checked before any connection: https (http
only when allowed), a host on ``ATTACHMENT_ALLOWED_HOSTS``, no user info; its name is
resolved here, every address must be public unless the host is on
``ATTACHMENT_ALLOW_PRIVATE_HOSTS``, and the connection goes to the address that was checked
(the URL is rewritten to it, with ``Host`` and TLS SNI and certificate checks still on the
name), so a second DNS answer cannot point it elsewhere (DNS rebinding). Proxies from the
environment are ignored for the same reason. The body is streamed into a spooled temporary
file, cut off past ``ATTACHMENT_MAX_BYTES``; the whole fetch, DNS included, has one deadline.
A host's bearer token goes only to that host and never appears in an error or a log line.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import IO, Final
from urllib.parse import unquote

import anyio
import anyio.to_thread
import httpx
import multipart

from ticketing.adapters.attachments.addresses import IPAddress, is_public, parse_address
from ticketing.adapters.attachments.sources import CHUNK, FileObjectSource
from ticketing.domain.attachments import (
    ZOHO_MAX_BYTES,
    AttachmentFetchError,
    FetchReason,
    host_allowed,
)

log = logging.getLogger(__name__)

MAX_REDIRECTS: Final = 3
# what a file may be held in memory before it goes to disk
SPOOL_BYTES: Final = 1024 * 1024
_OCTET: Final = "application/octet-stream"
# types a source answers that say nothing about the file: the declared type stands
_VAGUE: Final = frozenset({_OCTET, "binary/octet-stream", "application/binary", ""})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_RETRYABLE_STATUS: Final = frozenset({408, 425, 429})

Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system's resolver (A and AAAA)."""
    answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


@dataclass(frozen=True, slots=True)
class FetchRules:
    """What a fetch may do; built from the ``ATTACHMENT_*`` settings."""

    allowed_hosts: tuple[str, ...] = ()
    private_hosts: tuple[str, ...] = ()
    allow_http: bool = False
    max_bytes: int = ZOHO_MAX_BYTES
    timeout: float = 30.0
    content_types: tuple[str, ...] = ()
    host_tokens: Mapping[str, str] = field(default_factory=dict, repr=False)
    max_redirects: int = MAX_REDIRECTS

    def __repr__(self) -> str:
        return (
            f"FetchRules(allowed_hosts={self.allowed_hosts!r}, "
            f"private_hosts={self.private_hosts!r}, allow_http={self.allow_http}, "
            f"max_bytes={self.max_bytes}, timeout={self.timeout}, "
            f"content_types={self.content_types!r}, token_hosts={sorted(self.host_tokens)!r})"
        )


@dataclass(slots=True)
class SpooledFile:
    """A fetched file: in memory up to ``SPOOL_BYTES``, on disk past it, deleted on close."""

    file: IO[bytes]
    size: int
    content_type: str
    filename: str | None
    sha256: str

    def __repr__(self) -> str:
        return f"SpooledFile({self.filename!r}, {self.content_type}, {self.size} bytes)"

    def chunks(self) -> AsyncIterator[bytes]:
        return FileObjectSource(self.file, self.size).chunks()


def _fail(reason: FetchReason, message: str, *, retryable: bool = False) -> AttachmentFetchError:
    return AttachmentFetchError(reason, message, retryable=retryable)


def _where(url: httpx.URL) -> str:
    # never the query string: signed URLs carry their credentials there
    return f"{url.scheme}://{url.host}{url.path}"


def _ascii_host(url: httpx.URL) -> str:
    """The host as DNS and TLS know it (an international name in its xn-- form)."""
    return url.raw_host.decode("ascii").strip("[]").lower().rstrip(".")


def _names(url: httpx.URL) -> set[str]:
    """The host as written (Unicode) and as DNS knows it: a rule may name either."""
    return {url.host.lower().rstrip("."), _ascii_host(url)}


def media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def type_matches(kind: str, patterns: Sequence[str]) -> bool:
    """Whether ``kind`` is one of ``patterns`` (``image/*`` covers every image type)."""
    main = kind.partition("/")[0]
    return any(p == kind or (p.endswith("/*") and p[:-2] == main) for p in patterns)


def _filename(response: httpx.Response, url: httpx.URL) -> str | None:
    disposition = response.headers.get("content-disposition")
    if disposition:
        _, options = multipart.parse_options_header(disposition)
        name = options.get("filename")
        if name:
            return str(name)
    last = unquote(url.path.rpartition("/")[2])
    return last or None


class SafeFetcher:
    """Fetches attachment URLs under :class:`FetchRules` (see the module's docstring).

    Args:
        rules: the operator's rules.
        resolver: host, port → addresses; the system's by default (tests give their own).
        transport: the HTTP transport (tests); the default verifies TLS certificates.
    """

    def __init__(
        self,
        rules: FetchRules,
        *,
        resolver: Resolver = system_resolver,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.rules = rules
        self._resolve = resolver
        self._transport = transport

    def __repr__(self) -> str:
        return f"SafeFetcher({self.rules!r})"

    def fetch(
        self, url: str, *, content_type: str | None = None
    ) -> AbstractAsyncContextManager[SpooledFile]:
        return self._fetch(url, content_type)

    @asynccontextmanager
    async def _fetch(self, url: str, declared: str | None) -> AsyncIterator[SpooledFile]:
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            try:
                with anyio.fail_after(self.rules.timeout):
                    fetched = await self._get(url, declared, spool)
            except TimeoutError:
                raise _fail(
                    "timeout",
                    f"{self._shown(url)} took longer than {self.rules.timeout:g} s",
                    retryable=True,
                ) from None
            yield fetched
        finally:
            spool.close()

    def _shown(self, url: str) -> str:
        try:
            return _where(httpx.URL(url))
        except (httpx.InvalidURL, TypeError):
            return "the URL"

    async def _get(self, url: str, declared: str | None, spool: IO[bytes]) -> SpooledFile:
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            raise _fail("host_not_allowed", "not a URL") from None
        # trust_env=False: a proxy from the environment would resolve names itself
        async with httpx.AsyncClient(
            transport=self._transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self.rules.timeout),
        ) as http:
            for hop in range(self.rules.max_redirects + 1):
                address = await self._checked(current)
                request = self._request(http, current, address)
                try:
                    response = await http.send(request, stream=True)
                except httpx.TimeoutException:
                    raise _fail(
                        "timeout", f"{_where(current)} did not answer in time", retryable=True
                    ) from None
                except httpx.HTTPError as error:
                    raise _fail(
                        "source_error",
                        f"{_where(current)}: {type(error).__name__}",
                        retryable=True,
                    ) from None
                try:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        if hop == self.rules.max_redirects:
                            raise _fail(
                                "source_error",
                                f"{_where(current)}: more than {self.rules.max_redirects} "
                                "redirects",
                            )
                        current = self._next(current, response.headers["location"])
                        continue
                    return await self._body(current, response, declared, spool)
                finally:
                    await response.aclose()
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    @staticmethod
    def _next(current: httpx.URL, location: str) -> httpx.URL:
        try:
            return current.join(location)
        except (httpx.InvalidURL, TypeError):
            raise _fail("source_error", f"{_where(current)}: a redirect to no URL") from None

    async def _checked(self, url: httpx.URL) -> IPAddress:
        """The address to connect to for ``url``, or the reason not to connect at all."""
        rules = self.rules
        if url.scheme != "https" and not (url.scheme == "http" and rules.allow_http):
            allowed = "https or http" if rules.allow_http else "https"
            raise _fail("host_not_allowed", f"{url.scheme or 'no'} scheme: only {allowed}")
        host = url.host.lower().rstrip(".")
        names = _names(url)
        if url.userinfo:
            raise _fail("host_not_allowed", f"{host}: credentials in the URL are not taken")
        if not any(host_allowed(name, rules.allowed_hosts) for name in names):
            raise _fail("host_not_allowed", f"{host} is not in ATTACHMENT_ALLOWED_HOSTS")
        may_be_private = any(host_allowed(name, rules.private_hosts) for name in names)
        literal = parse_address(host)
        if literal is not None:
            found = [literal]
        else:
            try:
                answers = await self._resolve(
                    _ascii_host(url), url.port or (443 if url.scheme == "https" else 80)
                )
            except OSError as error:
                raise _fail(
                    "source_error", f"{host} could not be resolved ({error})", retryable=True
                ) from None
            found = [a for a in (parse_address(text) for text in answers) if a is not None]
        if not found:
            raise _fail("source_error", f"{host} has no address", retryable=True)
        if not may_be_private:
            inner = [a for a in found if not is_public(a)]
            if inner:
                raise _fail(
                    "private_address",
                    f"{host} resolves to {inner[0]}, not a public address "
                    "(ATTACHMENT_ALLOW_PRIVATE_HOSTS)",
                )
        return found[0]

    def _request(
        self, http: httpx.AsyncClient, url: httpx.URL, address: IPAddress
    ) -> httpx.Request:
        pinned = url.copy_with(host=str(address))
        headers = {
            "Host": url.netloc.decode("ascii").rpartition("@")[2],
            "Accept": "*/*",
            # the file as stored: its size and digest are the file's, not a compressed form's
            "Accept-Encoding": "identity",
            "User-Agent": "ticketing (attachment fetcher)",
        }
        token = self._token(url)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        # TLS: SNI and the certificate's check are on the name, whatever address is dialled
        return http.build_request(
            "GET", pinned, headers=headers, extensions={"sni_hostname": _ascii_host(url)}
        )

    def _token(self, url: httpx.URL) -> str | None:
        """The token of exactly this host (no suffix rules: a token is for one host)."""
        names = _names(url)
        for name, token in self.rules.host_tokens.items():
            if name.lower().rstrip(".") in names:
                return token
        return None

    async def _body(
        self, url: httpx.URL, response: httpx.Response, declared: str | None, spool: IO[bytes]
    ) -> SpooledFile:
        rules = self.rules
        status = response.status_code
        if status in (404, 410):
            raise _fail("gone", f"{_where(url)} answered {status}")
        if status >= 500 or status in _RETRYABLE_STATUS:
            raise _fail("source_error", f"{_where(url)} answered {status}", retryable=True)
        if not 200 <= status < 300:
            raise _fail("source_error", f"{_where(url)} answered {status}")
        length = response.headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > rules.max_bytes:
            raise _fail("too_large", f"{_where(url)} is {length} bytes, over {rules.max_bytes}")
        kind = self._kind(url, media_type(response.headers.get("content-type")), declared)
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in response.aiter_bytes(CHUNK):
                size += len(chunk)
                if size > rules.max_bytes:
                    raise _fail("too_large", f"{_where(url)} is over {rules.max_bytes} bytes")
                digest.update(chunk)
                await anyio.to_thread.run_sync(spool.write, chunk)
        except httpx.TimeoutException:
            raise _fail("timeout", f"{_where(url)} stalled", retryable=True) from None
        except httpx.HTTPError as error:
            raise _fail(
                "source_error", f"{_where(url)}: {type(error).__name__}", retryable=True
            ) from None
        log.debug("fetched an attachment from %s: %d bytes, %s", url.host, size, kind)
        return SpooledFile(spool, size, kind, _filename(response, url), digest.hexdigest())

    def _kind(self, url: httpx.URL, answered: str, declared: str | None) -> str:
        """The file's type: the source's, or the declared one when the source's says nothing;
        a specific type other than the declared one, or one off the allow list, is refused."""
        wanted = media_type(declared)
        kind = answered if answered not in _VAGUE else (wanted or _OCTET)
        if wanted and wanted not in _VAGUE and kind != wanted:
            raise _fail("bad_content_type", f"{_where(url)} is {kind}, the message said {wanted}")
        if self.rules.content_types and not type_matches(kind, self.rules.content_types):
            raise _fail(
                "bad_content_type", f"{_where(url)} is {kind}, not in ATTACHMENT_CONTENT_TYPES"
            )
        return kind
