"""The console's pages and actions: server-rendered, behind a login when API_KEYS is set,
every action a POST with the session's CSRF token that redirects back (POST/redirect/GET)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ticketing import __version__
from ticketing.container import Services
from ticketing.domain.errors import NotFound, TicketingError
from ticketing.entrypoints.http.console.session import (
    COOKIE,
    LOGIN_COOKIE,
    LoginForm,
    Session,
    Sessions,
)
from ticketing.entrypoints.http.deps import ServicesDep
from ticketing.entrypoints.http.errors import status_for
from ticketing.entrypoints.http.guard import WrongKeyThrottle
from ticketing.entrypoints.story import story_out

log = logging.getLogger("ticketing.http")

PREFIX = "/console"
REFRESH = 10  # seconds between a page's own reloads (overview, queue, dead letters)
_FLASH = {
    "replayed": "replayed {n}",
    "deleted": "deleted {n}",
    "gone": "no such dead letter (replayed or deleted already)",
    "nopurge": "nothing to purge: no dead letters{which}",
    "noreplay": "nothing to replay: no dead letters{which}",
}
# Every page: no script at all, styles and images from the service only, forms to itself.
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


# Handler parameters of these names and types receive the console's own dependencies.
SessionsDep = NamedDependency[Sessions]
SessionDep = NamedDependency[Session]
ThrottleDep = NamedDependency[WrongKeyThrottle]


class LoginRequired(Exception):
    """A console page asked for without a valid session while API_KEYS is set."""


class CsrfRefused(Exception):
    """An action posted without this session's CSRF token."""


async def provide_session(request: Request[Any, Any, Any], sessions: SessionsDep) -> Session:
    """The caller's session; an open console makes one; else LoginRequired."""
    session = sessions.read(request.cookies.get(COOKIE))
    if session is not None:
        return session
    if sessions.open:
        return sessions.anonymous()
    raise LoginRequired


def session_cookie(request: Request[Any, Any, Any], session: Session | None) -> Cookie:
    """The session cookie (``None``: the one that clears it): HttpOnly, SameSite=Strict,
    for /console only, Secure when the request came over https."""
    return Cookie(
        key=COOKIE,
        value=session.value if session else "",
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=max(0, session.expires - int(datetime.now(UTC).timestamp())) if session else 0,
    )


def login_cookie(request: Request[Any, Any, Any], form: LoginForm | None) -> Cookie:
    """The login form's pre-session cookie (``None``: the one that clears it), sent back
    only to the login itself."""
    return Cookie(
        key=LOGIN_COOKIE,
        value=form.value if form else "",
        path=f"{PREFIX}/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=max(0, form.expires - int(datetime.now(UTC).timestamp())) if form else 0,
    )


def page(
    request: Request[Any, Any, Any],
    session: Session | None,
    name: str,
    *,
    status: int = 200,
    refresh: int | None = None,
    cookies: Sequence[Cookie] = (),
    **context: Any,
) -> Template:
    """A page of the console, with what every page shows (the open banner, the CSRF token)."""
    cookies = [
        *cookies,
        *([session_cookie(request, session)] if session and session.fresh else []),
    ]
    return Template(
        template_name=name,
        context={
            "session": session,
            "refresh": refresh,
            "version": __version__,
            "flash": _flash(request),
            **context,
        },
        status_code=status,
        cookies=cookies,
        headers=_HEADERS,
    )


def _flash(request: Request[Any, Any, Any]) -> str | None:
    """The message an action left in its redirect: a fixed text, only the count is read."""
    done = request.query_params.get("done")
    if done not in _FLASH:
        return None
    count = request.query_params.get("n", "")
    reason = _reason(request.query_params.get("reason"))
    return _FLASH[done].format(
        n=int(count) if count.isdigit() and len(count) < 7 else 0, which=_which(reason)
    )


def _reason(text: Any) -> str | None:
    """A reason filter as the pages take it: trimmed, at most 200 characters, None if empty."""
    return str(text or "").strip()[:200] or None


def _which(reason: str | None) -> str:
    """`` matching 'text'`` for a filter (as ``ticketing queue purge`` says it), else ``""``."""
    return "" if reason is None else f" matching {reason!r}"


async def _checked(request: Request[Any, Any, Any], session: Session, sessions: Sessions) -> Any:
    """The posted form, once its CSRF token is this session's."""
    form = await request.form()
    if not sessions.csrf_ok(session, form.get("csrf")):
        raise CsrfRefused
    return form


# -- login ------------------------------------------------------------------------------------


def _login_page(
    request: Request[Any, Any, Any], sessions: Sessions, *, status: int = 200, error: str = ""
) -> Template:
    """The login form with its CSRF token, and the pre-session cookie when it is new."""
    held = request.cookies.get(LOGIN_COOKIE)
    form = sessions.login_form(held)
    cookies = [] if form.value == held else [login_cookie(request, form)]
    return page(
        request,
        None,
        "login.html",
        status=status,
        cookies=cookies,
        login_csrf=form.csrf,
        error=error or None,
    )


@get("/login", name="console:login")
async def login_form(request: Request[Any, Any, Any], sessions: SessionsDep) -> Response[Any]:
    if sessions.open or sessions.read(request.cookies.get(COOKIE)):
        return Redirect(PREFIX, status_code=303)
    return _login_page(request, sessions)


@post("/login", name="console:login:post", status_code=303)
async def login(
    request: Request[Any, Any, Any], sessions: SessionsDep, throttle: ThrottleDep
) -> Response[Any]:
    """A configured API key logs in (a session cookie, never the key); anything else is the
    form again with a 401, and too many wrong keys from one address a 429. The form must
    carry the token of the pre-session cookie its GET set (login CSRF): else a 403."""
    if sessions.open:
        return Redirect(PREFIX, status_code=303)
    form = await request.form()
    if not sessions.login_csrf_ok(request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
        raise CsrfRefused
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait is not None:
        response = _login_page(
            request, sessions, status=429, error="too many wrong keys; try later"
        )
        response.headers["Retry-After"] = str(int(wait + 0.999))
        return response
    session = sessions.login(str(form.get("key") or ""))
    if session is None:
        if throttle.failed(address):
            log.warning("console: %d wrong API keys from %s", throttle.limit, address)
        return _login_page(request, sessions, status=401, error="wrong API key")
    log.info("console: logged in from %s", address)
    cookies = [session_cookie(request, session), login_cookie(request, None)]
    return Redirect(PREFIX, status_code=303, cookies=cookies)


@post("/logout", name="console:logout", status_code=303)
async def logout(
    request: Request[Any, Any, Any], session: SessionDep, sessions: SessionsDep
) -> Response[Any]:
    await _checked(request, session, sessions)
    target = PREFIX if sessions.open else f"{PREFIX}/login"
    return Redirect(target, status_code=303, cookies=[session_cookie(request, None)])


# -- pages ------------------------------------------------------------------------------------


@get("/", name="console:overview")
async def overview(
    request: Request[Any, Any, Any], session: SessionDep, services: ServicesDep
) -> Template:
    """Health and breaker, Zoho's limits and credits, the refresh budget, the queue's
    figures and the newest tickets."""
    report = await services.health()
    recent, recent_error = await _recent(services, 10)
    return page(
        request,
        session,
        "overview.html",
        refresh=REFRESH,
        report=report,
        limits=report.limits,
        tokens=report.tokens,
        recent=recent,
        recent_error=recent_error,
    )


async def _recent(services: Services, limit: int) -> tuple[list[Any], str | None]:
    try:
        return list(await services.recent(limit)), None
    except TicketingError as exc:  # the overview still shows the rest
        return [], exc.message


@get("/tickets", name="console:tickets")
async def tickets(
    request: Request[Any, Any, Any], session: SessionDep, services: ServicesDep
) -> Template:
    recent, recent_error = await _recent(services, 100)
    return page(
        request,
        session,
        "tickets.html",
        refresh=REFRESH,
        recent=recent,
        recent_error=recent_error,
    )


@get("/queue", name="console:queue")
async def queue(
    request: Request[Any, Any, Any], session: SessionDep, services: ServicesDep
) -> Template:
    """The oldest pending tickets: key, age, attempts, last error (as GET /queue/pending)."""
    entries = list(await services.pending(100))
    count = await services.queue_status.pending()
    return page(request, session, "queue.html", refresh=REFRESH, entries=entries, count=count)


@get("/dead", name="console:dead")
async def dead(
    request: Request[Any, Any, Any], session: SessionDep, services: ServicesDep
) -> Template:
    """The dead letters, newest first, with totals, a reason filter, Replay and Delete."""
    reason = _reason(request.query_params.get("reason"))
    found = await services.dead_letters(100, reason=reason)
    return page(
        request,
        session,
        "dead.html",
        refresh=REFRESH,
        found=found,
        reason=reason or "",
    )


def _back(reason: str | None, done: str, n: int = 0) -> Redirect:
    query = {"done": done, "n": str(n)} | ({"reason": reason} if reason else {})
    return Redirect(f"{PREFIX}/dead?{urlencode(query)}", status_code=303)


@post("/dead/{entry_id:str}/replay", name="console:replay", status_code=303)
async def replay(
    request: Request[Any, Any, Any],
    session: SessionDep,
    sessions: SessionsDep,
    services: ServicesDep,
    entry_id: FromPath[str],
) -> Redirect:
    """ReplayDeadLetters on one letter, as POST /queue/dead/{id}/replay."""
    form = await _checked(request, session, sessions)
    return await _one(form, entry_id, services.replay.these, "replayed")


@post("/dead/{entry_id:str}/delete", name="console:delete", status_code=303)
async def delete(
    request: Request[Any, Any, Any],
    session: SessionDep,
    sessions: SessionsDep,
    services: ServicesDep,
    entry_id: FromPath[str],
) -> Redirect:
    """DeleteDeadLetters on one letter, as DELETE /queue/dead/{id}."""
    form = await _checked(request, session, sessions)
    return await _one(form, entry_id, services.delete_dead.these, "deleted")


async def _one(
    form: Any,
    entry_id: str,
    act: Callable[[Sequence[str]], Awaitable[int]],
    done: str,
) -> Redirect:
    """One letter replayed or deleted, then back to the list (its filter kept); "gone" when
    the id names no letter (a double click, another operator)."""
    reason = str(form.get("reason") or "") or None
    try:
        count = await act([entry_id])
    except NotFound:
        return _back(reason, "gone")
    log.info("console: dead letter %s %s", entry_id, done)
    return _back(reason, done, count)


@post("/dead/replay", name="console:replay-matching", status_code=200)
async def replay_matching(
    request: Request[Any, Any, Any],
    session: SessionDep,
    sessions: SessionsDep,
    services: ServicesDep,
) -> Response[Any]:
    """Replay all matching, step one: a page asking to confirm with the count; replays
    nothing."""
    form = await _checked(request, session, sessions)
    return await _confirm(request, session, services, _reason(form.get("reason")), "replay")


@post("/dead/replay/confirmed", name="console:replay-matching:confirmed", status_code=303)
async def replay_matching_confirmed(
    request: Request[Any, Any, Any],
    session: SessionDep,
    sessions: SessionsDep,
    services: ServicesDep,
) -> Redirect:
    """Replay all matching, confirmed: every letter whose reason holds the filter (all of
    them without one, ReplayDeadLetters.every as ``ticketing queue replay --all``)."""
    form = await _checked(request, session, sessions)
    reason = _reason(form.get("reason"))
    if reason is None:
        moved = await services.replay.every()
    else:
        moved = await services.replay.matching(reason)
    log.info("console: %d dead letter(s)%s replayed", moved, _which(reason))
    return _back(reason, "replayed" if moved else "noreplay", moved)


@post("/dead/purge", name="console:purge", status_code=200)
async def purge(
    request: Request[Any, Any, Any],
    session: SessionDep,
    sessions: SessionsDep,
    services: ServicesDep,
) -> Response[Any]:
    """Purge matching, step one: a page asking "delete N dead letter(s) … for good?";
    deletes nothing."""
    form = await _checked(request, session, sessions)
    return await _confirm(request, session, services, _reason(form.get("reason")), "purge")


@post("/dead/purge/confirmed", name="console:purge:confirmed", status_code=303)
async def purge_confirmed(
    request: Request[Any, Any, Any],
    session: SessionDep,
    sessions: SessionsDep,
    services: ServicesDep,
) -> Redirect:
    """Purge matching, confirmed: DeleteDeadLetters.matching, as ``ticketing queue purge``."""
    form = await _checked(request, session, sessions)
    reason = _reason(form.get("reason"))
    deleted = await services.delete_dead.matching(reason)
    log.info("console: %d dead letter(s)%s deleted", deleted, _which(reason))
    return _back(reason, "deleted" if deleted else "nopurge", deleted)


async def _confirm(
    request: Request[Any, Any, Any],
    session: Session,
    services: Services,
    reason: str | None,
    action: str,
) -> Response[Any]:
    """The confirmation page of a bulk action, or straight back when nothing matches."""
    count = (await services.dead_letters(0, reason=reason)).matching
    if not count:
        return _back(reason, f"no{action}")
    which = _which(reason)
    question = (
        f"Delete {count} dead letter(s){which} for good?"
        if action == "purge"
        else f"Replay {count} dead letter(s){which}?"
    )
    return page(
        request,
        session,
        "confirm.html",
        action=action,
        question=question,
        count=count,
        reason=reason or "",
    )


@get("/story", name="console:story")
async def story(
    request: Request[Any, Any, Any], session: SessionDep, services: ServicesDep
) -> Response[Any]:
    """A request's story by its idempotency key (as stored), request_id or incident_id: the
    operator's view, like ``ticketing show``."""
    ref = (request.query_params.get("ref") or "").strip()
    if not ref:
        return Redirect(PREFIX, status_code=303)
    found = await services.story(ref[:512])
    if found is None:
        return page(request, session, "missing.html", status=404, ref=ref[:512])
    return page(request, session, "story.html", ref=ref, story=story_out(found, caller=False))


# -- refusals ---------------------------------------------------------------------------------


def to_login(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return Redirect(f"{PREFIX}/login", status_code=303)


def csrf_refused(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.warning("console: %s %s refused: no valid CSRF token", request.method, request.url.path)
    return page(
        request,
        None,
        "error.html",
        status=403,
        title="Refused",
        message="This form is stale or did not come from this console: nothing was done. "
        "Reload the page and try again.",
    )


def service_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, TicketingError)
    status, _ = status_for(exc)
    return page(request, None, "error.html", status=status, title="Failed", message=exc.message)
