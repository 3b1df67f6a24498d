"""Pages for people: the tickets, newest first (``/``), and one page per ticket at the path
of its ``webUrl``, so the link a service shows for a sandbox ticket opens something.

Everything shown is escaped: a ticket's text is the customer's, and untrusted. The pages run
no script and load nothing (the ``Content-Security-Policy`` allows only their inline style).
Like the control API they are never logged, faulted or charged."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape
from typing import Any, Final

from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import MediaType
from litestar.exceptions import HTTPException, NotFoundException
from litestar.types import ControllerRouterHandler

from zoho_desk_emulator.plumbing import AnyRequest, Emu
from zoho_desk_emulator.records import TicketRecord, ticket_page_path, zoho_time
from zoho_desk_emulator.state import EmulatorState

_ROOT: Final = "pages_root"  # the app state's key for create_pages_app's root
_PAGES_ONLY: Final = "pages_only"  # ... and for "no control API beside the pages"
INDEX_LIMIT: Final = 500  # the newest tickets the index lists; the rest are counted
# the control API's read-only listings, linked from the index
LISTINGS: Final = (
    ("/_emulator/state", "counts, credits, limits and fault switches"),
    ("/_emulator/tickets", "every ticket as JSON"),
    ("/_emulator/calls", "every Desk and accounts call answered"),
    ("/_emulator/webhooks", "webhook subscriptions and deliveries"),
    ("/_emulator/faults", "the fault switches"),
    ("/_emulator/picklists", "each portal's picklists"),
)
_HEADERS: Final = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_STYLE: Final = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:1.5rem auto;max-width:60rem;"
    "padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;"
    "border-bottom:1px solid #ddd;vertical-align:top}th{white-space:nowrap;color:#555}"
    ".text{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f6f6;padding:.6rem;"
    "border-radius:4px}.meta{color:#666;font-size:.9em}section{margin-top:1.5rem}"
)


def is_page(path: str) -> bool:
    """Whether ``path`` is one of these pages (the app serves them without faults or log)."""
    return path == "/" or path.startswith("/agent/")


def _page(title: str, body: str, status: int = 200) -> Response[Any]:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )
    return Response(
        content=document, status_code=status, media_type=MediaType.HTML, headers=_HEADERS
    )


def _root(request: AnyRequest) -> str:
    """The path the pages are served under, for links that work wherever they are: empty on
    the emulator's own port, the mount point when a service serves them (``root`` of
    :func:`create_pages_app`), or the ASGI server's ``root_path``."""
    root = request.app.state.get(_ROOT) or request.scope.get("root_path") or ""
    return str(root).rstrip("/")


def _text(value: object) -> str:
    return escape("" if value is None else str(value))


def _when(moment: datetime | None) -> str:
    return _text(zoho_time(moment)) if moment else "—"


def _rows(pairs: Iterable[tuple[str, object]]) -> str:
    return "".join(
        f"<tr><th>{escape(name)}</th><td>{_text(value) if value not in (None, '') else '—'}"
        "</td></tr>"
        for name, value in pairs
    )


def _contact(emu: EmulatorState, ticket: TicketRecord) -> tuple[str, str | None, str | None]:
    contact = emu.contacts.get(ticket.contact_id)
    if contact is None:
        return "", ticket.email, ticket.phone
    phone = ticket.phone or contact.phone or contact.mobile
    return contact.full_name, ticket.email or contact.email, phone


def _ticket_link(root: str, emu: EmulatorState, ticket: TicketRecord) -> str:
    portal = emu.organizations[ticket.org_id].portal_name
    return root + ticket_page_path(portal, ticket.id)


@get("/", sync_to_thread=False)
def index_page(request: AnyRequest, emu: Emu) -> Response[Any]:
    """Every ticket, newest first, each linking to its page; then the control API's listings."""
    emu.settle()
    root = _root(request)
    tickets = sorted(emu.tickets.values(), key=lambda t: (t.created_time, int(t.id)), reverse=True)
    rows = []
    for ticket in tickets[:INDEX_LIMIT]:
        name, email, phone = _contact(emu, ticket)
        rows.append(
            f'<tr><td><a href="{escape(_ticket_link(root, emu, ticket))}">'
            f"#{_text(ticket.ticket_number)}</a></td><td>{_text(ticket.subject)}</td>"
            f"<td>{_text(ticket.status)}</td><td>{_text(ticket.priority)}</td>"
            f"<td>{_text(name or email or phone)}</td><td>{_when(ticket.created_time)}</td></tr>"
        )
    shown = (
        f"{len(tickets)} ticket(s), newest first"
        if len(tickets) <= INDEX_LIMIT
        else f"the newest {INDEX_LIMIT} of {len(tickets)} tickets"
    )
    table = (
        "<table><thead><tr><th>number</th><th>subject</th><th>status</th><th>priority</th>"
        f"<th>contact</th><th>created (UTC)</th></tr></thead><tbody>{''.join(rows)}</tbody>"
        "</table>"
        if rows
        else "<p>No tickets yet: create one through the Desk API (POST /api/v1/tickets).</p>"
    )
    if request.app.state.get(_PAGES_ONLY):
        control = (
            "<p>The emulator runs inside another program here, which serves only these pages. "
            "On its own port (<code>python -m zoho_desk_emulator</code>) it has its control "
            "API too.</p>"
        )
    else:
        listings = "".join(
            f'<li><a href="{escape(root + path)}"><code>GET {escape(path)}</code></a>: '
            f"{escape(what)}</li>"
            for path, what in LISTINGS
        )
        control = f"<ul>{listings}</ul>"
    body = (
        "<h1>Zoho Desk emulator</h1>"
        f'<p class="meta">{escape(shown)}. The emulator keeps them in memory: a restart '
        "forgets them.</p>"
        f"{table}<section><h2>Control API</h2>{control}</section>"
    )
    return _page("Zoho Desk emulator: tickets", body)


@get("/agent/{portal:str}/tickets/details/{ticket_id:str}", sync_to_thread=False)
def ticket_page(request: AnyRequest, emu: Emu) -> Response[Any]:
    """One ticket as an agent would see it: its fields, contact, description, threads,
    comments and files; 404 for a ticket this portal does not have."""
    emu.settle()
    portal = str(request.path_params["portal"])
    ticket_id = str(request.path_params["ticket_id"])
    root = _root(request)
    ticket = emu.tickets.get(ticket_id)
    if ticket is None or emu.organizations[ticket.org_id].portal_name != portal:
        return not_found(root, f"No ticket {ticket_id} in the portal {portal}.")
    organization = emu.organizations[ticket.org_id]
    department = emu.departments.get(ticket.department_id)
    name, email, phone = _contact(emu, ticket)
    fields = _rows(
        [
            ("status", ticket.status),
            ("priority", ticket.priority),
            ("channel", ticket.channel),
            ("category", ticket.extra.get("category")),
            ("sub-category", ticket.extra.get("subCategory")),
            ("classification", ticket.extra.get("classification")),
            ("department", department.name if department else ticket.department_id),
            ("portal", f"{organization.company_name} ({organization.portal_name})"),
            ("created (UTC)", zoho_time(ticket.created_time)),
            ("modified (UTC)", zoho_time(ticket.modified_time) if ticket.modified_time else None),
            ("closed (UTC)", zoho_time(ticket.closed_time) if ticket.closed_time else None),
            ("ticket id", ticket.id),
            *((f"custom field {key}", value) for key, value in sorted(ticket.cf.items())),
        ]
    )
    contact = _rows(
        [("name", name), ("email", email), ("phone", phone), ("contact id", ticket.contact_id)]
    )
    body = (
        f'<p class="meta"><a href="{escape(root or "")}/">All tickets</a></p>'
        f"<h1>#{_text(ticket.ticket_number)} {_text(ticket.subject)}</h1>"
        f"<table>{fields}</table>"
        f"<section><h2>Contact</h2><table>{contact}</table></section>"
        f'<section><h2>Description</h2><div class="text">{_text(ticket.description)}</div>'
        "</section>"
        f"{_threads(emu, ticket)}{_comments(emu, ticket)}{_attachments(emu, ticket)}"
    )
    return _page(f"#{ticket.ticket_number} {ticket.subject}", body)


def _threads(emu: EmulatorState, ticket: TicketRecord) -> str:
    threads = sorted(
        (t for t in emu.conversations.threads.values() if t.ticket_id == ticket.id),
        key=lambda t: (t.created_time, int(t.id)),
    )
    items = []
    for thread in threads:
        what = "description" if thread.is_description else f"{thread.direction}, {thread.status}"
        files = ", ".join(f.name for f in thread.files)
        items.append(
            f'<li><p class="meta">{_when(thread.created_time)} · '
            f"{_text(thread.author.get('name'))} · {_text(thread.channel)} · "
            f"{_text(thread.visibility)} · {_text(what)}"
            + (f" · files: {_text(files)}" if files else "")
            + f'</p><div class="text">{_text(thread.plain_text)}</div></li>'
        )
    listed = f"<ol>{''.join(items)}</ol>" if items else "<p>None.</p>"
    return f"<section><h2>Threads ({len(items)})</h2>{listed}</section>"


def _comments(emu: EmulatorState, ticket: TicketRecord) -> str:
    comments = sorted(
        (c for c in emu.conversations.comments.values() if c.ticket_id == ticket.id),
        key=lambda c: (c.commented_time, int(c.id)),
    )
    items = [
        f'<li><p class="meta">{_when(c.commented_time)} · {_text(c.commenter.get("name"))} · '
        f"{'public' if c.is_public else 'private'}</p>"
        f'<div class="text">{_text(c.plain_text)}</div></li>'
        for c in comments
    ]
    listed = f"<ol>{''.join(items)}</ol>" if items else "<p>None.</p>"
    return f"<section><h2>Comments ({len(items)})</h2>{listed}</section>"


def _attachments(emu: EmulatorState, ticket: TicketRecord) -> str:
    files = emu.attachments.of_ticket(ticket.id)
    items = [
        f'<li>{_text(f.file.name)} <span class="meta">({f.file.size} bytes, '
        f"{_text(f.file.content_type)}, {'public' if f.is_public else 'private'})</span></li>"
        for f in files
    ]
    listed = f"<ul>{''.join(items)}</ul>" if items else "<p>None.</p>"
    return f"<section><h2>Attachments ({len(items)})</h2>{listed}</section>"


def not_found(root: str, message: str) -> Response[Any]:
    """The 404 page, linking back to the tickets."""
    body = (
        f"<h1>Not found</h1><p>{escape(message)}</p>"
        f'<p><a href="{escape(root)}/">All tickets</a></p>'
    )
    return _page("Not found", body, status=404)


HANDLERS: Final[list[ControllerRouterHandler]] = [index_page, ticket_page]


def _page_not_found(request: AnyRequest, _: Exception) -> Response[Any]:
    return not_found(_root(request), f"Nothing at {request.url.path}.")


def _page_error(request: AnyRequest, error: HTTPException) -> Response[Any]:
    body = f"<h1>{error.status_code}</h1><p>{escape(error.detail)}</p>"
    return _page("Error", body, status=error.status_code)


def create_pages_app(state: EmulatorState, *, root: str = "") -> Litestar:
    """The pages alone, over ``state``, read-only (no Desk API, no control API): for a
    service that runs the emulator in-process to serve its tickets' ``webUrl`` itself,
    mounted at ``root`` (the links are made under it)."""

    def provide_state() -> EmulatorState:
        return state

    return Litestar(
        route_handlers=HANDLERS,
        dependencies={"emu": Provide(provide_state, sync_to_thread=False)},
        exception_handlers={NotFoundException: _page_not_found, HTTPException: _page_error},
        state=State({_ROOT: root, _PAGES_ONLY: True}),
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
