"""The safe attachment fetcher: refused hosts and private addresses never get a connection
(a listener counts them), redirects are checked hop by hop, the size and time caps hold, the
content type is checked, and a host's token goes to that host only and is never shown."""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from collections.abc import Iterator, Sequence

import anyio
import httpx
import pytest

from ticketing.adapters.attachments.addresses import is_public, parse_address
from ticketing.adapters.attachments.fetch import FetchRules, SafeFetcher, system_resolver
from ticketing.domain.attachments import AttachmentFetchError

from tests.support.listener import LoopbackOnly, Script, listening

pytestmark = pytest.mark.anyio

TOKEN = "EAAG-fake-whatsapp-media-token-0123456789"
PHOTO = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class FakeDns:
    """Host → addresses, recording every look-up."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = {host: list(found) for host, found in answers.items()}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return self.answers[host]


GUARD = LoopbackOnly()


@pytest.fixture(autouse=True)
def guard() -> Iterator[LoopbackOnly]:
    """Every fetch of these tests dials through GUARD: loopback only, the rest recorded."""
    GUARD.refused.clear()
    yield GUARD
    assert GUARD.refused == [], "a fetch tried to reach a non-loopback address"


def rules(**changes: object) -> FetchRules:
    base: dict[str, object] = {
        "allowed_hosts": ("files.test", "other.test"),
        "private_hosts": ("files.test", "other.test"),
        "allow_http": True,
        "max_bytes": 1_000_000,
        "timeout": 5.0,
    }
    base.update(changes)
    return FetchRules(**base)  # type: ignore[arg-type]


def local_dns(**extra: Sequence[str]) -> FakeDns:
    return FakeDns({"files.test": ["127.0.0.1"], "other.test": ["127.0.0.1"], **extra})


async def refused(
    fetcher: SafeFetcher, url: str, content_type: str | None = None
) -> AttachmentFetchError:
    with pytest.raises(AttachmentFetchError) as info:
        async with fetcher.fetch(url, content_type=content_type):
            pass
    return info.value


async def test_an_allowed_file_is_fetched_whole_with_its_facts() -> None:
    """From an allowed host: the bytes, their size and sha256, the type and the name the
    source gave; the request names the host (with its port) and asks for the file as is."""
    routes = {
        "/media/1": Script(
            headers={
                "Content-Type": "image/png; charset=binary",
                "Content-Disposition": 'attachment; filename="pase de abordar.png"',
            },
            body=PHOTO,
        )
    }
    async with listening(routes) as server:
        fetcher = SafeFetcher(rules(), resolver=local_dns(), transport=GUARD)
        async with fetcher.fetch(f"http://files.test:{server.port}/media/1?sig=abc") as got:
            data = b"".join([chunk async for chunk in got.chunks()])
            again = b"".join([chunk async for chunk in got.chunks()])
    assert data == again == PHOTO
    assert (got.size, got.sha256) == (len(PHOTO), hashlib.sha256(PHOTO).hexdigest())
    assert (got.content_type, got.filename) == ("image/png", "pase de abordar.png")
    (seen,) = server.requests
    assert (seen.method, seen.target) == ("GET", "/media/1?sig=abc")
    assert seen.headers["host"] == f"files.test:{server.port}"
    assert seen.headers["accept-encoding"] == "identity"
    assert "authorization" not in seen.headers


async def test_the_name_falls_back_to_the_url_s_last_segment() -> None:
    """Without Content-Disposition the file is named after the URL's last segment."""
    routes = {
        "/docs/factura%20mayo.pdf": Script(
            headers={"Content-Type": "application/pdf"}, body=b"%PDF"
        )
    }
    async with listening(routes) as server:
        fetcher = SafeFetcher(rules(), resolver=local_dns(), transport=GUARD)
        async with fetcher.fetch(f"http://files.test:{server.port}/docs/factura%20mayo.pdf") as got:
            assert got.filename == "factura mayo.pdf"


@pytest.mark.parametrize(
    ("url", "allowed", "allow_http"),
    [
        ("http://evil.test:{port}/x", ("files.test",), True),
        ("http://files.test:{port}/x", (), True),
        ("http://files.test:{port}/x", ("files.test",), False),
        ("ftp://files.test:{port}/x", ("files.test",), True),
        ("file:///etc/passwd", ("files.test",), True),
        ("http://user:pw@files.test:{port}/x", ("files.test",), True),
        ("http://filesXtest:{port}/x", ("*.test",), True),
        ("not a url at all", ("files.test",), True),
    ],
    ids=["other-host", "none-allowed", "http-off", "ftp", "file", "userinfo", "no-suffix", "junk"],
)
async def test_a_refused_url_gets_no_lookup_and_no_connection(
    url: str, allowed: tuple[str, ...], allow_http: bool
) -> None:
    """host_not_allowed before any DNS look-up or connection."""
    async with listening({"/x": Script(body=b"secret")}) as server:
        dns = local_dns(**{"evil.test": ["127.0.0.1"], "filesxtest": ["127.0.0.1"]})
        private = ("*.test", "files.test", "evil.test")
        fetcher = SafeFetcher(
            rules(allowed_hosts=allowed, private_hosts=private, allow_http=allow_http),
            resolver=dns,
            transport=GUARD,
        )
        error = await refused(fetcher, url.format(port=server.port))
    assert error.reason == "host_not_allowed"
    assert not error.retryable
    assert dns.asked == []
    assert server.connections == 0


PRIVATE = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",  # noqa: S104 - an address refused, not bound
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::127.0.0.1",
    "64:ff9b::a00:1",
    "2002:a00:1::1",
    "2001:db8::1",
]


@pytest.mark.parametrize("address", PRIVATE)
async def test_a_host_resolving_to_a_non_public_address_is_refused_without_connecting(
    address: str,
) -> None:
    """An allowed host whose DNS answer is private, loopback, link-local, multicast,
    reserved, unspecified or such an IPv4 inside IPv6: private_address, no connection."""
    async with listening({"/x": Script(body=b"internal")}) as server:
        dns = FakeDns({"cdn.example.com": [address]})
        fetcher = SafeFetcher(
            rules(allowed_hosts=("*.example.com",), private_hosts=()), resolver=dns, transport=GUARD
        )
        error = await refused(fetcher, f"http://cdn.example.com:{server.port}/x")
    assert error.reason == "private_address"
    assert address.split("%")[0] in str(error) or "resolves to" in str(error)
    assert server.connections == 0


def test_public_addresses_are_public() -> None:
    """Ordinary public addresses pass (checked without connecting to them)."""
    for text in ("93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"):
        address = parse_address(text)
        assert address is not None, text
        assert is_public(address), text
    for text in PRIVATE:
        address = parse_address(text)
        assert address is not None, text
        assert not is_public(address), text
    assert parse_address("files.test") is None


async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    """A name that resolves to a public and a private address is refused."""
    async with listening() as server:
        dns = FakeDns({"cdn.example.com": ["93.184.216.34", "10.0.0.7"]})
        fetcher = SafeFetcher(
            rules(allowed_hosts=("cdn.example.com",), private_hosts=()),
            resolver=dns,
            transport=GUARD,
        )
        assert (await refused(fetcher, f"http://cdn.example.com:{server.port}/x")).reason == (
            "private_address"
        )
    assert server.connections == 0


async def test_an_ip_literal_is_checked_like_a_name() -> None:
    """http://127.0.0.1/ needs the address on the allowed list and, being loopback, on the
    private list too; then it is fetched without any look-up."""
    async with listening({"/x": Script(body=b"ok")}) as server:
        url = f"http://127.0.0.1:{server.port}/x"
        dns = FakeDns({})
        not_listed = SafeFetcher(
            rules(allowed_hosts=("files.test",)), resolver=dns, transport=GUARD
        )
        assert (await refused(not_listed, url)).reason == "host_not_allowed"
        not_private = SafeFetcher(
            rules(allowed_hosts=("127.0.0.1",), private_hosts=()), resolver=dns, transport=GUARD
        )
        assert (await refused(not_private, url)).reason == "private_address"
        assert server.connections == 0
        allowed = SafeFetcher(
            rules(allowed_hosts=("127.0.0.1",), private_hosts=("127.0.0.1",)),
            resolver=dns,
            transport=GUARD,
        )
        async with allowed.fetch(url) as got:
            assert got.size == 2
    assert dns.asked == []


async def test_the_name_is_looked_up_once_and_the_checked_address_is_used() -> None:
    """DNS rebinding: a second answer would point elsewhere, but there is no second look-up;
    the connection goes to the address that was checked."""

    class Rebinding(FakeDns):
        async def __call__(self, host: str, port: int) -> list[str]:
            self.asked.append(host)
            return ["127.0.0.1"] if len(self.asked) == 1 else ["10.0.0.1"]

    async with listening({"/x": Script(body=b"ok")}) as server:
        dns = Rebinding({})
        fetcher = SafeFetcher(rules(), resolver=dns, transport=GUARD)
        async with fetcher.fetch(f"http://files.test:{server.port}/x") as got:
            assert got.size == 2
    assert dns.asked == ["files.test"]
    assert server.connections == 1


async def test_https_connects_to_the_checked_address_with_the_name_for_tls() -> None:
    """For https the request goes to the resolved address, with Host and the TLS SNI (and so
    the certificate check) on the name; IPv6 addresses too."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=b"png")

    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        dns = FakeDns({"cdn.example.com": [address]})
        fetcher = SafeFetcher(
            rules(allowed_hosts=("cdn.example.com",), private_hosts=(), allow_http=False),
            resolver=dns,
            transport=httpx.MockTransport(answer),
        )
        async with fetcher.fetch("https://cdn.example.com/a/b.png?x=1") as got:
            assert got.size == 3
    assert [r.url.host for r in seen] == ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]
    assert all(r.url.scheme == "https" and r.url.path == "/a/b.png" for r in seen)
    assert all(r.headers["Host"] == "cdn.example.com" for r in seen)
    assert all(r.extensions["sni_hostname"] == "cdn.example.com" for r in seen)


async def test_a_redirect_to_a_private_address_or_another_host_is_refused() -> None:
    """Each hop is checked again: a redirect to an allowed name that resolves privately, or
    to a host off the list, is refused before connecting to it."""
    async with listening() as server:
        server.routes["/to-private"] = Script(
            302, {"Location": f"http://cdn.example.com:{server.port}/x"}
        )
        server.routes["/to-other"] = Script(302, {"Location": f"http://evil.test:{server.port}/x"})
        dns = local_dns(**{"cdn.example.com": ["10.0.0.1"], "evil.test": ["127.0.0.1"]})
        fetcher = SafeFetcher(
            rules(allowed_hosts=("files.test", "cdn.example.com")), resolver=dns, transport=GUARD
        )
        private = await refused(fetcher, f"http://files.test:{server.port}/to-private")
        other = await refused(fetcher, f"http://files.test:{server.port}/to-other")
    assert (private.reason, other.reason) == ("private_address", "host_not_allowed")
    assert server.connections == 2  # the two first hops only
    assert "evil.test" not in dns.asked


async def test_redirects_are_followed_three_times_at_most() -> None:
    """Relative and absolute redirects are followed (three); a fourth is a source_error."""
    async with listening() as server:
        for n in range(1, 5):
            server.routes[f"/r{n}"] = Script(301, {"Location": f"/r{n + 1}"})
        server.routes["/r5"] = Script(body=b"end")
        server.routes["/r2"] = Script(307, {"Location": f"http://other.test:{server.port}/r3"})
        fetcher = SafeFetcher(rules(), resolver=local_dns(), transport=GUARD)
        async with fetcher.fetch(f"http://files.test:{server.port}/r2") as got:
            assert got.size == 3
        error = await refused(fetcher, f"http://files.test:{server.port}/r1")
    assert (error.reason, error.retryable) == ("source_error", False)
    assert "redirects" in str(error)


async def test_a_https_to_http_redirect_is_refused_unless_http_is_allowed() -> None:
    """A downgrade is a hop like any other: http is refused when only https is allowed."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(302, headers={"Location": "http://cdn.example.com/x"})

    fetcher = SafeFetcher(
        rules(allowed_hosts=("cdn.example.com",), private_hosts=(), allow_http=False),
        resolver=FakeDns({"cdn.example.com": ["93.184.216.34"]}),
        transport=httpx.MockTransport(answer),
    )
    assert (await refused(fetcher, "https://cdn.example.com/x")).reason == "host_not_allowed"
    assert len(seen) == 1


async def test_a_token_goes_to_its_host_only_and_is_never_shown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The bearer token is sent to its host, not to the host a redirect leads to; it is in
    no error message, no log line (any logger, at debug) and not in the rules' repr; nor is
    the URL's query in an error."""
    caplog.set_level(logging.DEBUG)
    async with listening() as server:
        server.routes["/media"] = Script(302, {"Location": f"http://other.test:{server.port}/cdn"})
        server.routes["/cdn"] = Script(body=PHOTO, headers={"Content-Type": "image/png"})
        server.routes["/broken"] = Script(500, body=b"oops")
        fetcher = SafeFetcher(
            rules(host_tokens={"files.test": TOKEN}), resolver=local_dns(), transport=GUARD
        )
        async with fetcher.fetch(f"http://files.test:{server.port}/media") as got:
            assert got.size == len(PHOTO)
        error = await refused(fetcher, f"http://files.test:{server.port}/broken?sig=SIGNED-PART")
    first, second, third = server.requests
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in second.headers
    assert third.headers["authorization"] == f"Bearer {TOKEN}"
    assert (error.reason, error.retryable) == ("source_error", True)
    assert TOKEN not in str(error)
    assert "SIGNED-PART" not in str(error)  # a signed URL's query is a credential too
    assert TOKEN not in caplog.text  # httpx's and httpcore's debug lines included
    assert TOKEN not in repr(fetcher)
    assert "files.test" in repr(fetcher)


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    """Content-Length over ATTACHMENT_MAX_BYTES: too_large at once."""
    async with listening() as server:
        server.routes["/big"] = Script(headers={"Content-Length": "5000"}, body=b"a" * 5000)
        fetcher = SafeFetcher(rules(max_bytes=4999), resolver=local_dns(), transport=GUARD)
        error = await refused(fetcher, f"http://files.test:{server.port}/big")
    assert (error.reason, error.retryable) == ("too_large", False)


async def test_a_body_over_the_cap_stops_being_read() -> None:
    """Without a length, the body is read until it passes the cap, then the connection is
    dropped: the source could have sent 200 MB; under 10 MB left it (about 0.4 MB measured)."""
    async with listening() as server:
        server.routes["/endless"] = Script(chunks=200_000, chunk=b"\0" * 1000)
        fetcher = SafeFetcher(rules(max_bytes=100_000), resolver=local_dns(), transport=GUARD)
        error = await refused(fetcher, f"http://files.test:{server.port}/endless")
    assert error.reason == "too_large"
    assert server.bytes_sent < 10_000_000


async def test_exactly_the_cap_is_taken() -> None:
    """A file of exactly ATTACHMENT_MAX_BYTES is fetched."""
    async with listening({"/f": Script(body=b"a" * 1000)}) as server:
        fetcher = SafeFetcher(rules(max_bytes=1000), resolver=local_dns(), transport=GUARD)
        async with fetcher.fetch(f"http://files.test:{server.port}/f") as got:
            assert got.size == 1000


async def test_the_whole_fetch_has_one_deadline() -> None:
    """A source that does not answer in ATTACHMENT_FETCH_TIMEOUT: timeout, retryable, and
    the fetch gives up on time."""
    async with listening({"/slow": Script(delay=5, body=b"late")}) as server:
        fetcher = SafeFetcher(rules(timeout=0.5), resolver=local_dns(), transport=GUARD)
        started = time.monotonic()
        error = await refused(fetcher, f"http://files.test:{server.port}/slow")
    assert (error.reason, error.retryable) == ("timeout", True)
    assert time.monotonic() - started < 3


async def test_a_slow_lookup_counts_against_the_deadline() -> None:
    """DNS is inside the deadline too."""

    async def slow(host: str, port: int) -> list[str]:
        await anyio.sleep(5)
        return ["127.0.0.1"]

    fetcher = SafeFetcher(rules(timeout=0.3), resolver=slow, transport=GUARD)
    assert (await refused(fetcher, "http://files.test/x")).reason == "timeout"


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [
        (404, "gone", False),
        (410, "gone", False),
        (403, "source_error", False),
        (401, "source_error", False),
        (429, "source_error", True),
        (500, "source_error", True),
        (503, "source_error", True),
    ],
)
async def test_the_source_s_answers_have_their_reason(
    status: int, reason: str, retryable: bool
) -> None:
    """404/410: gone; 5xx and 429: a source_error worth retrying; other 4xx: not."""
    async with listening({"/x": Script(status)}) as server:
        fetcher = SafeFetcher(rules(), resolver=local_dns(), transport=GUARD)
        error = await refused(fetcher, f"http://files.test:{server.port}/x")
    assert (error.reason, error.retryable) == (reason, retryable)


async def test_an_unknown_name_or_a_refused_connection_is_a_source_error() -> None:
    """A name that does not resolve, or no address, or nobody listening: source_error,
    retryable."""
    fetcher = SafeFetcher(rules(), resolver=FakeDns({"other.test": []}), transport=GUARD)
    for url in ("http://files.test/x", "http://other.test/x"):
        error = await refused(fetcher, url)
        assert (error.reason, error.retryable) == ("source_error", True), url
    async with listening() as server:
        port = server.port
    closed = SafeFetcher(rules(), resolver=local_dns(), transport=GUARD)
    error = await refused(closed, f"http://files.test:{port}/x")
    assert (error.reason, error.retryable) == ("source_error", True)


@pytest.mark.parametrize(
    ("answered", "declared", "allowed", "expected"),
    [
        ("image/png", "image/png", (), "image/png"),
        ("image/png", None, (), "image/png"),
        ("application/octet-stream", "image/jpeg", (), "image/jpeg"),
        ("", "application/pdf", (), "application/pdf"),
        ("", None, (), "application/octet-stream"),
        ("image/png", "image/jpeg", (), None),
        ("application/pdf", None, ("image/*",), None),
        ("image/webp", "image/webp", ("image/*", "application/pdf"), "image/webp"),
        ("application/octet-stream", None, ("image/*",), None),
    ],
)
async def test_the_content_type_is_checked(
    answered: str, declared: str | None, allowed: tuple[str, ...], expected: str | None
) -> None:
    """The source's type must be the declared one (a vague octet-stream takes the declared
    type) and on ATTACHMENT_CONTENT_TYPES when that is set; else bad_content_type."""
    headers = {"Content-Type": answered} if answered else {}
    async with listening({"/f": Script(headers=headers, body=b"data")}) as server:
        fetcher = SafeFetcher(rules(content_types=allowed), resolver=local_dns(), transport=GUARD)
        url = f"http://files.test:{server.port}/f"
        if expected is None:
            assert (await refused(fetcher, url, declared)).reason == "bad_content_type"
        else:
            async with fetcher.fetch(url, content_type=declared) as got:
                assert got.content_type == expected


async def test_the_file_is_gone_after_the_block() -> None:
    """The spooled file is closed when the block ends, a large one included."""
    body = bytes(range(256)) * 8192  # 2 MiB: past the in-memory spool
    async with listening({"/f": Script(body=body)}) as server:
        fetcher = SafeFetcher(rules(max_bytes=len(body)), resolver=local_dns(), transport=GUARD)
        async with fetcher.fetch(f"http://files.test:{server.port}/f") as got:
            assert got.sha256 == hashlib.sha256(body).hexdigest()
    assert got.file.closed


async def test_the_system_resolver_answers_localhost() -> None:
    """The default resolver gives the loopback addresses for localhost (no network)."""
    found = await system_resolver("localhost", 80)
    assert found
    assert all(not is_public(a) for a in (parse_address(t) for t in found) if a is not None)


async def test_an_international_name_is_checked_resolved_and_named_as_dns_knows_it() -> None:
    """bücher.example matches a rule written either way, is resolved and sent to TLS as
    xn--bcher-kva.example, and gets the token given under its Unicode name."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    dns = FakeDns({"xn--bcher-kva.example": ["93.184.216.34"]})
    for rule in ("xn--bcher-kva.example", "bücher.example"):
        fetcher = SafeFetcher(
            rules(
                allowed_hosts=(rule,),
                private_hosts=(),
                allow_http=False,
                host_tokens={"bücher.example": TOKEN},
            ),
            resolver=dns,
            transport=httpx.MockTransport(answer),
        )
        async with fetcher.fetch("https://bücher.example/f.png") as got:
            assert got.size == 2
    assert dns.asked == ["xn--bcher-kva.example"] * 2
    assert {r.extensions["sni_hostname"] for r in seen} == {"xn--bcher-kva.example"}
    assert {r.headers["Host"] for r in seen} == {"xn--bcher-kva.example"}
    assert {r.headers["Authorization"] for r in seen} == {f"Bearer {TOKEN}"}


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_an_ipv6_answer_is_dialled_as_such() -> None:
    """A name resolving to ::1 (allowed private) is fetched from [::1] with Host the name."""
    async with listening({"/x": Script(body=b"v6")}, host="::1") as server:
        fetcher = SafeFetcher(
            rules(allowed_hosts=("v6.test",), private_hosts=("v6.test",)),
            resolver=FakeDns({"v6.test": ["::1"]}),
            transport=GUARD,
        )
        async with fetcher.fetch(f"http://v6.test:{server.port}/x") as got:
            assert got.size == 2
    assert server.requests[0].headers["host"] == f"v6.test:{server.port}"
