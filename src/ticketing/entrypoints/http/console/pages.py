"""The console's pages and actions: server-rendered, behind a login when API_KEYS is set,
every action a POST with the session's CSRF token that redirects back (POST/redirect/GET)."""

from __future__ import annotations

import logging
import re
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
from ticketing.entrypoints.http.console.session import COOKIE, Session, Sessions
from ticketing.entrypoints.http.deps import ServicesDep
from ticketing.entrypoints.http.errors import status_for
from ticketing.entrypoints.http.guard import WrongKeyThrottle
from ticketing.entrypoints.story import story_out

log = logging.getLogger("ticketing.http")

PREFIX = "/console"
REFRESH = 10  # seconds between a page's own reloads (overview, queue, dead letters)
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_FLASH = {
    "replayed": "replayed {n}",
    "deleted": "deleted {n}",
    "gone": "no such dead letter (replayed or deleted already)",
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


def page(
    request: Request[Any, Any, Any],
    session: Session | None,
    name: str,
    *,
    status: int = 200,
    refresh: int | None = None,
    **context: Any,
) -> Template:
    """A page of the console, with what every page shows (the open banner, the CSRF token)."""
    cookies = [session_cookie(request, session)] if session and session.fresh else []
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
    return _FLASH[done].format(n=int(count) if count.isdigit() and len(count) < 7 else 0)


async def _checked(request: Request[Any, Any, Any], session: Session, sessions: Sessions) -> Any:
    """The posted form, once its CSRF token is this session's."""
    form = await request.form()
    if not sessions.csrf_ok(session, form.get("csrf")):
        raise CsrfRefused
    return form


# -- login ------------------------------------------------------------------------------------


@get("/login", name="console:login")
async def login_form(request: Request[Any, Any, Any], sessions: SessionsDep) -> Response[Any]:
    if sessions.open or sessions.read(request.cookies.get(COOKIE)):
        return Redirect(PREFIX, status_code=303)
    return page(request, None, "login.html")


@post("/login", name="console:login:post", status_code=303)
async def login(
    request: Request[Any, Any, Any], sessions: SessionsDep, throttle: ThrottleDep
) -> Response[Any]:
    """A configured API key logs in (a session cookie, never the key); anything else is the
    form again with a 401, and too many wrong keys from one address a 429."""
    if sessions.open:
        return Redirect(PREFIX, status_code=303)
    address = request.client.host if request.client else "unknown"
    wait = throttle.retry_after(address)
    if wait is not None:
        response = page(
            request, None, "login.html", status=429, error="too many wrong keys; try later"
        )
        response.headers["Retry-After"] = str(int(wait + 0.999))
        return response
    form = await request.form()
    session = sessions.login(str(form.get("key") or ""))
    if session is None:
        if throttle.failed(address):
            log.warning("console: %d wrong API keys from %s", throttle.limit, address)
        return page(request, None, "login.html", status=401, error="wrong API key")
    log.info("console: logged in from %s", address)
    return Redirect(PREFIX, status_code=303, cookies=[session_cookie(request, session)])


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
    tokens = await services.health.tokens()
    recent, recent_error = await _recent(services, 10)
    return page(
        request,
        session,
        "overview.html",
        refresh=REFRESH,
        report=report,
        limits=report.limits,
        tokens=tokens,
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
    reason = (request.query_params.get("reason") or "").strip()[:200] or None
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
    reason = str(form.get("reason") or "") or None
    if not _ENTRY_ID.match(entry_id):
        return _back(reason, "gone")
    try:
        moved = await services.replay.these([entry_id])
    except NotFound:
        return _back(reason, "gone")
    log.info("console: dead letter %s replayed", entry_id)
    return _back(reason, "replayed", moved)


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
    reason = str(form.get("reason") or "") or None
    if not _ENTRY_ID.match(entry_id):
        return _back(reason, "gone")
    try:
        deleted = await services.delete_dead.these([entry_id])
    except NotFound:
        return _back(reason, "gone")
    log.info("console: dead letter %s deleted", entry_id)
    return _back(reason, "deleted", deleted)


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
