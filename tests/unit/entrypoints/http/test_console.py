"""The operator console (issue 16): a login that sets a signed, HttpOnly, SameSite=Strict
cookie; pages behind it when API_KEYS is set and open with a banner when not; Replay and
Delete that need the session's CSRF token and redirect back with what they did; customer
text escaped; a story found by any key, a 404 page when none."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Sequence

import pytest
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from ticketing.adapters.memory import InMemoryTicketStore
from ticketing.adapters.memory_helpdesk import InMemoryHelpdesk
from ticketing.application.intake import api_client, scoped_key
from ticketing.container import Container
from ticketing.domain.errors import HelpdeskRejected, StoreUnavailable
from ticketing.domain.model import DeadLetterSearch, TicketCreated
from ticketing.entrypoints.http.app import create_app
from ticketing.entrypoints.http.console.session import COOKIE, LOGIN_COOKIE

from tests.support.http import API_KEY, OLD_FORM, make_container

pytestmark = pytest.mark.anyio

Client = AsyncTestClient  # type: ignore[type-arg]
CLIENT = api_client(API_KEY)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def keyed() -> Container:
    """A container whose API needs API_KEY."""
    return make_container({"API_KEYS": API_KEY})


@pytest.fixture
def helpdesk(keyed: Container) -> InMemoryHelpdesk:
    helpdesk = InMemoryHelpdesk(clock=keyed.clock())
    keyed.zoho.override(providers.Object(helpdesk))
    return helpdesk


def console_client(container: Container, base_url: str = "http://testserver.local") -> Client:
    """A client over the API alone that shows redirects instead of following them."""
    app = create_app(container, drain=False, consumer=False)
    client: Client = AsyncTestClient(app, base_url=base_url)
    client.follow_redirects = False
    return client


@pytest.fixture
async def client(keyed: Container) -> AsyncIterator[Client]:
    async with console_client(keyed) as test_client:
        yield test_client


async def login_token(client: Client) -> dict[str, str]:
    """The login form's CSRF field (its GET sets the pre-session cookie the client keeps)."""
    form = await client.get("/console/login")
    assert form.status_code == 200, form.text
    return {"csrf": csrf_of(form.text)}


async def log_in(client: Client) -> None:
    """A new session (any earlier one dropped), through the form as a browser does."""
    client.cookies.clear()
    response = await client.post(
        "/console/login", data={**await login_token(client), "key": API_KEY}
    )
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


async def dead_letter(
    client: Client,
    helpdesk: InMemoryHelpdesk,
    key: str = "k1",
    *,
    subject: str = "Test",
    reason: str = "<script>alert('reason')</script> refused",
) -> str:
    """A ticket Zoho refuses for good (a dead letter); its entry id."""
    helpdesk.fail_next("create_ticket", HelpdeskRejected(reason, status=422, field="x"))
    response = await client.post(
        "/tickets/customer",
        data={**OLD_FORM, "subject": subject},
        headers={"Idempotency-Key": key, "Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 422
    listed = await client.get("/queue/dead", headers={"Authorization": f"Bearer {API_KEY}"})
    return str(listed.json()["dead_letters"][0]["entry_id"])


# -- login ------------------------------------------------------------------------------------


async def test_the_right_key_logs_in_with_a_strict_http_only_cookie(client: Client) -> None:
    """The login sets an HttpOnly, SameSite=Strict cookie for /console holding a signed
    session, not the key, and redirects to the overview."""
    response = await client.post(
        "/console/login", data={**await login_token(client), "key": API_KEY}
    )
    assert (response.status_code, response.headers["location"]) == (303, "/console")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here
    assert API_KEY not in cookie
    page = await client.get("/console/")
    assert page.status_code == 200
    assert "Health" in page.text


async def test_the_cookie_is_secure_over_https(keyed: Container) -> None:
    """A login over https marks the cookie Secure."""
    async with console_client(keyed, "https://testserver.local") as client:
        response = await client.post(
            "/console/login", data={**await login_token(client), "key": API_KEY}
        )
        assert "Secure" in response.headers["set-cookie"]


async def test_a_wrong_key_is_the_form_again_with_a_401_and_no_cookie(client: Client) -> None:
    """A wrong key: the form again, one clear error, 401, no cookie."""
    response = await client.post(
        "/console/login", data={**await login_token(client), "key": "wrong-key-0123456789"}
    )
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert response.text.count("wrong API key") == 1
    assert 'name="key"' in response.text
    assert (await client.get("/console/")).status_code == 303


async def test_too_many_wrong_keys_are_refused_for_a_while(client: Client) -> None:
    """After 20 wrong keys from one address even the right one gets 429 with Retry-After."""
    for _ in range(20):
        await client.post(
            "/console/login", data={**await login_token(client), "key": "wrong-key-0123456789"}
        )
    response = await client.post(
        "/console/login", data={**await login_token(client), "key": API_KEY}
    )
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "set-cookie" not in response.headers


async def test_pages_need_a_login_when_api_keys_are_set(client: Client) -> None:
    """Every page redirects to the login without a session; a forged cookie is no session."""
    for path in ("/console/", "/console/queue", "/console/dead", "/console/tickets"):
        response = await client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/console/login")
    client.cookies.set(COOKIE, "v1.someone.9999999999.nonce.forged", path="/console")
    assert (await client.get("/console/")).status_code == 303
    assert (await client.get("/console/login")).status_code == 200


async def test_the_console_is_outside_the_bearer_guard_and_the_openapi(client: Client) -> None:
    """The console checks its cookie, not a Bearer header; it is not in the API's document;
    its stylesheet is served by the service."""
    assert (await client.get("/console/login")).status_code == 200
    css = await client.get("/console/static/console.css")
    assert (css.status_code, css.headers["content-type"].split(";")[0]) == (200, "text/css")
    schema = await client.get(
        "/schema/openapi.json", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert not [p for p in schema.json()["paths"] if p.startswith("/console")]


async def test_logout_ends_the_session(client: Client) -> None:
    """Log out (with the CSRF token) clears the cookie; the pages need a login again."""
    await log_in(client)
    token = csrf_of((await client.get("/console/")).text)
    response = await client.post("/console/logout", data={"csrf": token})
    assert (response.status_code, response.headers["location"]) == (303, "/console/login")
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert (await client.get("/console/")).status_code == 303


async def test_an_open_console_says_so_and_still_needs_csrf() -> None:
    """Without API_KEYS the console is open, shows a banner saying so, and its actions
    still need the CSRF token of the session it hands out."""
    async with console_client(make_container()) as client:
        page = await client.get("/console/")
        assert page.status_code == 200
        assert "API_KEYS is unset" in page.text
        assert COOKIE in page.headers["set-cookie"]
        assert (await client.get("/console/login")).headers["location"] == "/console"
        refused = await client.post("/console/dead/1-0/replay", data={"csrf": "nope"})
        assert refused.status_code == 403


# -- actions ----------------------------------------------------------------------------------


async def test_replay_needs_the_sessions_csrf_token(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """A replay without a token or with a wrong one is a 403 and the letter stays."""
    entry = await dead_letter(client, helpdesk)
    await log_in(client)
    for data in ({}, {"csrf": "wrong"}):
        for action in ("replay", "delete"):
            response = await client.post(f"/console/dead/{entry}/{action}", data=data)
            assert response.status_code == 403
            assert "nothing was done" in response.text
    assert entry in (await client.get("/console/dead")).text
    logout = await client.post("/console/logout", data={"csrf": "wrong"})
    assert logout.status_code == 403


async def test_a_token_of_another_session_is_refused(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """A CSRF token is bound to its session: one from another login is refused."""
    entry = await dead_letter(client, helpdesk)
    await log_in(client)
    stolen = csrf_of((await client.get("/console/dead")).text)
    await log_in(client)  # a new session
    response = await client.post(f"/console/dead/{entry}/replay", data={"csrf": stolen})
    assert response.status_code == 403


async def test_replay_puts_the_letter_back_and_redirects_with_what_it_did(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """Replay moves the letter back to the queue (ReplayDeadLetters), then the page says
    "replayed 1"; a second replay of it says it is gone."""
    entry = await dead_letter(client, helpdesk)
    await log_in(client)
    page = await client.get("/console/dead")
    assert "1 in all" in page.text
    response = await client.post(f"/console/dead/{entry}/replay", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/dead?done=replayed&n=1")
    after = await client.get(response.headers["location"])
    assert "replayed 1" in after.text
    assert "0 in all" in after.text
    queue = await client.get("/console/queue")
    assert scoped_key(CLIENT, "k1") in queue.text
    again = await client.post(f"/console/dead/{entry}/replay", data={"csrf": csrf_of(page.text)})
    assert "done=gone" in again.headers["location"]


async def test_delete_removes_the_letter_and_keeps_the_filter(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """Delete removes that letter only (DeleteDeadLetters) and redirects back to the same
    filter with "deleted 1"."""
    first = await dead_letter(client, helpdesk, "k1")
    await dead_letter(client, helpdesk, "k2")
    await log_in(client)
    page = await client.get("/console/dead", params={"reason": "REFUSED"})
    assert "2 of 2 match" in page.text
    response = await client.post(
        f"/console/dead/{first}/delete", data={"csrf": csrf_of(page.text), "reason": "REFUSED"}
    )
    assert response.headers["location"] == "/console/dead?done=deleted&n=1&reason=REFUSED"
    after = await client.get(response.headers["location"])
    assert "deleted 1" in after.text
    assert "1 of 1 match" in after.text
    assert scoped_key(CLIENT, "k2") in after.text
    assert scoped_key(CLIENT, "k1") not in after.text


async def test_a_malformed_entry_id_changes_nothing(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """An id that is no dead-letter id is "gone", never sent to the store."""
    await dead_letter(client, helpdesk)
    await log_in(client)
    token = csrf_of((await client.get("/console/dead")).text)
    response = await client.post("/console/dead/not-an-id/delete", data={"csrf": token})
    assert "done=gone" in response.headers["location"]
    assert "1 in all" in (await client.get("/console/dead")).text


async def test_a_flash_is_a_fixed_text(client: Client) -> None:
    """The redirect's message is chosen from fixed texts: a crafted link shows nothing else."""
    await log_in(client)
    page = await client.get("/console/dead", params={"done": "<b>pwned</b>", "n": "5"})
    assert "pwned" not in page.text
    page = await client.get("/console/dead", params={"done": "deleted", "n": "<b>"})
    assert "deleted 0" in page.text


# -- what the pages show ----------------------------------------------------------------------


async def test_customer_text_and_reasons_are_escaped(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """A <script> in a subject or a reason is shown as text, never as markup."""
    await dead_letter(client, helpdesk, subject="<script>alert('subject')</script>")
    await log_in(client)
    page = (await client.get("/console/dead")).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#39;reason&#39;)&lt;/script&gt; refused" in page
    assert "&lt;script&gt;alert" in page.split("Payload")[1]
    story = await client.get("/console/story", params={"ref": scoped_key(CLIENT, "k1")})
    assert "<script>" not in story.text
    assert "&lt;script&gt;" in story.text


async def test_pages_forbid_scripts_and_framing(client: Client) -> None:
    """Each page carries a policy that allows no script, no other origin and no framing."""
    await log_in(client)
    policy = (await client.get("/console/")).headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    page = (await client.get("/console/")).text
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page


async def test_overview_shows_health_limits_queue_and_recent_tickets(client: Client) -> None:
    """The overview: status and breaker, Zoho's limits, the queue's figures, a refresh, and
    the newest created tickets linking to their stories."""
    created = await client.post(
        "/tickets/customer",
        data=OLD_FORM,
        headers={"Idempotency-Key": "k9", "Authorization": f"Bearer {API_KEY}"},
    )
    assert created.status_code == 201
    request_id = created.json()["request_id"]
    await log_in(client)
    page = (await client.get("/console/")).text
    assert 'id="health-status">healthy<' in page
    assert 'id="breaker">closed<' in page
    assert "Credits left today" in page
    assert "Calls in flight" in page
    assert 'id="pending-count">0<' in page
    assert 'http-equiv="refresh"' in page
    assert f"/console/story?ref={request_id}" in page
    assert "#" + str(created.json()["ticket_number"]) in page
    tickets = (await client.get("/console/tickets")).text
    assert f"/console/story?ref={request_id}" in tickets


async def test_the_login_page_does_not_refresh_itself(client: Client) -> None:
    """A form being typed into is never reloaded under the operator's fingers."""
    assert 'http-equiv="refresh"' not in (await client.get("/console/login")).text


async def test_a_story_is_found_by_key_request_id_and_incident_id(client: Client) -> None:
    """The search opens the story of any key as stored, or a request_id; unknown is a 404
    page that names what was looked for."""
    created = await client.post(
        "/tickets/customer",
        data=OLD_FORM,
        headers={"Idempotency-Key": "k7", "Authorization": f"Bearer {API_KEY}"},
    )
    body = created.json()
    await log_in(client)
    for ref in (scoped_key(CLIENT, "k7"), body["request_id"]):
        page = await client.get("/console/story", params={"ref": ref})
        assert page.status_code == 200
        assert 'id="story-state">created<' in page.text
        assert f"#{body['ticket_number']}" in page.text
    missing = await client.get("/console/story", params={"ref": "no-such-<key>"})
    assert missing.status_code == 404
    assert "no-such-&lt;key&gt;" in missing.text
    empty = await client.get("/console/story", params={"ref": " "})
    assert (empty.status_code, empty.headers["location"]) == (303, "/console")


async def test_the_queue_lists_pending_tickets(helpdesk: InMemoryHelpdesk, client: Client) -> None:
    """A ticket Zoho could not take now waits on the queue: its key, attempts, last error."""
    from ticketing.domain.errors import HelpdeskUnavailable

    helpdesk.fail_next("create_ticket", HelpdeskUnavailable("Zoho is down for a moment"))
    response = await client.post(
        "/tickets/customer",
        data=OLD_FORM,
        headers={"Idempotency-Key": "k5", "Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 202
    await log_in(client)
    page = (await client.get("/console/queue")).text
    assert "1 pending" in page
    assert scoped_key(CLIENT, "k5") in page
    assert "Zoho is down for a moment" in page


# -- a store in trouble -----------------------------------------------------------------------


class TroubledStore(InMemoryTicketStore):
    """An in-memory store whose created events and dead letters cannot be read."""

    async def recent_created(self, limit: int) -> Sequence[TicketCreated]:
        raise StoreUnavailable("Redis at fake:6379 failed (reading the created events)")

    async def find_dead(self, *, reason: str | None = None, limit: int = 100) -> DeadLetterSearch:
        raise StoreUnavailable("Redis at fake:6379 failed (listing the dead letters)")


@pytest.fixture
async def troubled() -> AsyncIterator[Client]:
    container = make_container({"API_KEYS": API_KEY})
    container.store.override(providers.Object(TroubledStore(container.clock())))
    async with console_client(container) as test_client:
        yield test_client


async def test_the_overview_still_shows_when_the_created_events_cannot_be_read(
    troubled: Client,
) -> None:
    """The recent tickets say why they are missing; the rest of the overview is there."""
    await log_in(troubled)
    page = await troubled.get("/console/")
    assert page.status_code == 200
    assert "Could not read the created events: Redis at fake:6379 failed" in page.text
    assert 'id="health-status"' in page.text
    tickets = await troubled.get("/console/tickets")
    assert "Could not read the created events" in tickets.text


async def test_a_page_the_store_cannot_answer_is_an_html_page_saying_why(
    troubled: Client,
) -> None:
    """The dead letters when the store fails: a 503 page with the store's one line, not JSON."""
    await log_in(troubled)
    page = await troubled.get("/console/dead")
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html")
    assert "Redis at fake:6379 failed (listing the dead letters)" in page.text


# -- bulk actions -----------------------------------------------------------------------------


def dead_keys(html: str) -> list[str]:
    """The dead letters a page lists, by their key (the label of a keyed letter)."""
    return sorted(k.rsplit("/", 1)[-1] for k in re.findall(r'<strong class="key">([^<]+)<', html))


async def three_letters(client: Client, helpdesk: InMemoryHelpdesk) -> None:
    """k1 and k2 refused for an unknown department, k3 for a bad email."""
    await dead_letter(client, helpdesk, "k1", reason="departmentId 99 does not exist")
    await dead_letter(client, helpdesk, "k2", reason="departmentId 99 does not exist")
    await dead_letter(client, helpdesk, "k3", reason="email is invalid")


async def test_purge_matching_asks_with_the_count_and_only_the_second_post_deletes(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """Purge matching shows "Delete 2 dead letter(s) matching 'Department' for good?" and
    deletes nothing; its confirmation deletes those two, says "deleted 2" and leaves the
    letter that does not match."""
    await three_letters(client, helpdesk)
    await log_in(client)
    page = await client.get("/console/dead?reason=Department")
    assert "Purge matching" in page.text
    token = csrf_of(page.text)
    asked = await client.post("/console/dead/purge", data={"csrf": token, "reason": "Department"})
    assert asked.status_code == 200
    question = html.unescape(asked.text)
    assert "Delete 2 dead letter(s) matching 'Department' for good?" in question
    assert 'action="/console/dead/purge/confirmed"' in asked.text
    assert 'href="/console/dead?reason=Department" id="cancel"' in asked.text
    assert "refresh" not in asked.text  # a question does not reload itself
    assert dead_keys((await client.get("/console/dead")).text) == ["k1", "k2", "k3"]
    done = await client.post(
        "/console/dead/purge/confirmed", data={"csrf": csrf_of(asked.text), "reason": "Department"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/console/dead?done=deleted&n=2&reason=Department"
    after = await client.get(done.headers["location"])
    assert '<p class="flash" role="status">deleted 2</p>' in after.text
    assert dead_keys((await client.get("/console/dead")).text) == ["k3"]


async def test_purge_without_a_filter_deletes_every_letter(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """With no filter the question counts every letter and the confirmation deletes all."""
    await three_letters(client, helpdesk)
    await log_in(client)
    token = csrf_of((await client.get("/console/dead")).text)
    asked = await client.post("/console/dead/purge", data={"csrf": token, "reason": ""})
    assert "Delete 3 dead letter(s) for good?" in asked.text
    done = await client.post("/console/dead/purge/confirmed", data={"csrf": token})
    assert done.headers["location"] == "/console/dead?done=deleted&n=3"
    assert dead_keys((await client.get("/console/dead")).text) == []


async def test_bulk_actions_without_the_csrf_token_do_nothing(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """Either step of Purge or Replay all without this session's token is a 403 page and
    every letter stays."""
    await three_letters(client, helpdesk)
    await log_in(client)
    for path in ("purge", "purge/confirmed", "replay", "replay/confirmed"):
        for data in ({"reason": "Department"}, {"csrf": "wrong", "reason": ""}):
            response = await client.post(f"/console/dead/{path}", data=data)
            assert response.status_code == 403, path
            assert "nothing was done" in response.text
    assert dead_keys((await client.get("/console/dead")).text) == ["k1", "k2", "k3"]


async def test_nothing_to_purge_or_replay_says_so(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """When nothing matches, no question: straight back with "nothing to purge" (or
    replay), naming the filter; the page offers no bulk button then."""
    await dead_letter(client, helpdesk, "k1", reason="email is invalid")
    await log_in(client)
    page = await client.get("/console/dead?reason=department")
    assert "Purge matching" not in page.text
    token = csrf_of(page.text)
    for action, word in (("purge", "purge"), ("replay", "replay")):
        back = await client.post(
            f"/console/dead/{action}", data={"csrf": token, "reason": "department"}
        )
        assert back.status_code == 303
        shown = html.unescape((await client.get(back.headers["location"])).text)
        assert f"nothing to {word}: no dead letters matching 'department'" in shown
    confirmed = await client.post(
        "/console/dead/purge/confirmed", data={"csrf": token, "reason": "department"}
    )
    shown = (await client.get(confirmed.headers["location"])).text
    assert "nothing to purge" in shown
    assert dead_keys(shown) == []  # filtered
    assert dead_keys((await client.get("/console/dead")).text) == ["k1"]


async def test_replay_all_matching_asks_then_replays_only_the_matching(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """Replay all matching asks "Replay 2 dead letter(s) matching 'department'?" and moves
    nothing; its confirmation puts those two back on the queue, says "replayed 2" and leaves
    the other letter dead."""
    await three_letters(client, helpdesk)
    await log_in(client)
    token = csrf_of((await client.get("/console/dead?reason=department")).text)
    asked = await client.post("/console/dead/replay", data={"csrf": token, "reason": "department"})
    assert asked.status_code == 200
    assert "Replay 2 dead letter(s) matching 'department'?" in html.unescape(asked.text)
    assert dead_keys((await client.get("/console/dead")).text) == ["k1", "k2", "k3"]
    done = await client.post(
        "/console/dead/replay/confirmed", data={"csrf": token, "reason": "department"}
    )
    assert done.headers["location"] == "/console/dead?done=replayed&n=2&reason=department"
    assert "replayed 2" in (await client.get(done.headers["location"])).text
    assert dead_keys((await client.get("/console/dead")).text) == ["k3"]
    queue = (await client.get("/console/queue")).text
    assert scoped_key(CLIENT, "k1") in queue
    assert scoped_key(CLIENT, "k2") in queue
    assert scoped_key(CLIENT, "k3") not in queue


async def test_replay_all_without_a_filter_replays_every_letter(
    helpdesk: InMemoryHelpdesk, client: Client
) -> None:
    """No filter: ReplayDeadLetters.every, as `ticketing queue replay --all`."""
    await three_letters(client, helpdesk)
    await log_in(client)
    token = csrf_of((await client.get("/console/dead")).text)
    asked = await client.post("/console/dead/replay", data={"csrf": token})
    assert "Replay 3 dead letter(s)?" in asked.text
    done = await client.post("/console/dead/replay/confirmed", data={"csrf": token})
    assert done.headers["location"] == "/console/dead?done=replayed&n=3"
    assert dead_keys((await client.get("/console/dead")).text) == []


# -- login CSRF -------------------------------------------------------------------------------


async def test_a_login_without_the_forms_token_is_refused_and_sets_no_cookie(
    client: Client,
) -> None:
    """Login CSRF: the right key posted without the token, with a wrong one, or with a token
    but not the pre-session cookie it belongs to (another browser's form) is a 403 with no
    session cookie; the pages still need a login."""
    form = await login_token(client)
    assert client.cookies.get(LOGIN_COOKIE)
    for data in ({"key": API_KEY}, {"key": API_KEY, "csrf": "wrong"}):
        response = await client.post("/console/login", data=data)
        assert response.status_code == 403
        assert "set-cookie" not in response.headers
    client.cookies.clear()  # an attacker's page: a token of its own form, not the cookie
    response = await client.post("/console/login", data={**form, "key": API_KEY})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert (await client.get("/console/")).status_code == 303


async def test_the_login_form_sets_a_short_lived_strict_pre_session_cookie(
    client: Client,
) -> None:
    """The form's GET sets an HttpOnly, SameSite=Strict cookie for /console/login that lasts
    an hour; a reload keeps it; a wrong key keeps the form usable; a login clears it."""
    first = await client.get("/console/login")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{LOGIN_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/console/login" in cookie
    assert "Max-Age=3600" in cookie
    again = await client.get("/console/login")
    assert "set-cookie" not in again.headers
    assert csrf_of(again.text) == csrf_of(first.text)
    wrong = await client.post(
        "/console/login", data={"csrf": csrf_of(first.text), "key": "wrong-key-0123456789"}
    )
    assert wrong.status_code == 401
    assert csrf_of(wrong.text) == csrf_of(first.text)
    right = await client.post("/console/login", data={"csrf": csrf_of(wrong.text), "key": API_KEY})
    assert right.status_code == 303
    cleared = [c for c in right.headers.get_list("set-cookie") if c.startswith(LOGIN_COOKIE)]
    assert len(cleared) == 1
    assert "Max-Age=0" in cleared[0]


# -- a fleet ----------------------------------------------------------------------------------


async def test_two_instances_from_the_same_settings_accept_each_others_session_and_token() -> None:
    """Without API_KEYS or CONSOLE_SECRET, two apps built from the same settings (Zoho's
    client credentials) sign alike: a session and CSRF token from one act on the other;
    an instance with other credentials refuses them."""
    env = {"ZOHO_CLIENT_ID": "1000.fakeconsoleclient", "ZOHO_CLIENT_SECRET": "fake-secret-one"}
    other_env = {**env, "ZOHO_CLIENT_SECRET": "fake-secret-two"}
    first = make_container(env)
    helpdesk = InMemoryHelpdesk(clock=first.clock())
    first.zoho.override(providers.Object(helpdesk))
    async with (
        console_client(first) as one,
        console_client(make_container(env)) as two,
        console_client(make_container(other_env)) as other,
    ):
        await dead_letter(one, helpdesk)  # so the page has forms, with the token
        page = await one.get("/console/dead")
        assert page.status_code == 200
        token, cookie = csrf_of(page.text), one.cookies[COOKIE]
        for client, status in ((two, 303), (other, 403)):
            client.cookies.set(COOKIE, cookie, path="/console")
            response = await client.post(
                "/console/dead/purge/confirmed", data={"csrf": token, "reason": ""}
            )
            assert response.status_code == status
        assert "fake-secret-one" not in cookie
