"""`auth setup|url|status|resume` and `whoami`: the Zoho OAuth grant and who it acts as."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ticketing.domain.errors import HelpdeskAuthError
from ticketing.entrypoints.cli.admin import Admin
from ticketing.entrypoints.cli.errors import EXIT_OK
from ticketing.entrypoints.cli.render import emit, render_fields, render_table, say, when

if TYPE_CHECKING:
    from ticketing.application.auth import AuthReport, Identity, SetupOutcome
    from ticketing.container import Services


async def url(services: Services, args: argparse.Namespace) -> int:
    url, state = services.auth_url()
    emit(args, {"auth_url": url, "state": state}, lambda: url)
    return EXIT_OK


def _identity_json(identity: Identity) -> dict[str, Any]:
    return {
        "agent": {
            "id": identity.agent.id,
            "name": identity.agent.name,
            "email": identity.agent.email,
        },
        "org_id": identity.org_id,
        "organizations": [
            {"id": o.id, "name": o.name, "is_default": o.is_default, "edition": o.edition}
            for o in identity.organizations
        ],
    }


def _identity_text(identity: Identity) -> str:
    agent = identity.agent
    who = agent.name or "(no name)"
    if agent.email:
        who += f" <{agent.email}>"
    rows = [
        (o.id, o.name, "yes" if o.is_default else "", "yes" if o.id == identity.org_id else "")
        for o in identity.organizations
    ]
    head = render_fields(
        [("agent", who), ("agent id", agent.id), ("org in use", identity.org_id or "-")]
    )
    return head + "\n\n" + render_table(rows, ["ORG ID", "NAME", "DEFAULT", "IN USE"])


async def whoami(ctx: Admin, args: argparse.Namespace) -> int:
    identity = await ctx.admin.whoami()
    emit(args, _identity_json(identity), lambda: _identity_text(identity))
    return EXIT_OK


def _status_json(report: AuthReport) -> dict[str, Any]:
    token = report.token
    budget = token.budget
    return {
        "authorized": token.authorized and token.needs_operator is None,
        "needs_operator": token.needs_operator,
        "store": token.store,
        "access_token_expires_at": (
            token.access_token_expires_at.isoformat() if token.access_token_expires_at else None
        ),
        "data_centre": token.data_centre,
        "accounts_url": token.accounts_url,
        "configured_data_centre": report.config.data_centre,
        "data_centre_mismatch": report.data_centre_mismatch,
        "scope": token.scope,
        "refresh_token_from_env": token.refresh_token_from_env,
        "authorization_code_pending": token.authorization_code_pending,
        "refresh_budget": (
            {
                "used": budget.used,
                "limit": budget.limit,
                "window_seconds": budget.window,
                "paused_until": budget.paused_until.isoformat() if budget.paused_until else None,
                "summary": budget.describe(),
            }
            if budget
            else None
        ),
        "mode": report.config.mode,
    }


def _status_text(report: AuthReport) -> str:
    token = report.token
    if token.needs_operator is not None:
        authorized = f"needs an operator: {token.needs_operator}"
    elif token.authorized and report.config.sandbox:
        authorized = "yes (the emulator's sandbox token)"
    elif token.authorized:
        authorized = "yes" + (" (ZOHO_REFRESH_TOKEN)" if token.refresh_token_from_env else "")
    else:
        authorized = "no: run `ticketing auth setup`"
    rows: list[tuple[str, Any]] = [
        ("mode", report.config.mode),
        ("store", token.store),
        ("authorized", authorized),
        (
            "access token",
            f"valid until {when(token.access_token_expires_at)}"
            if token.access_token_expires_at
            else "none yet (one is fetched at the first Zoho call)",
        ),
        (
            "data centre",
            f"{token.data_centre or 'not a Zoho host'} (accounts {token.accounts_url}; "
            f"ZOHO_DC={report.config.data_centre})",
        ),
        ("scope", token.scope or report.config.scope),
        ("refresh budget", token.budget.describe() if token.budget else "-"),
    ]
    if report.data_centre_mismatch:
        rows.append(("warning", report.data_centre_mismatch))
    if token.authorization_code_pending:
        rows.append(("note", "ZOHO_AUTHORIZATION_CODE is set and not exchanged yet"))
    return render_fields(rows)


async def status(ctx: Admin, args: argparse.Namespace) -> int:
    report = await ctx.admin.auth_status()
    emit(args, _status_json(report), lambda: _status_text(report))
    if not report.token.authorized:
        raise HelpdeskAuthError(
            f"no Zoho refresh token in {report.token.store}: run `ticketing auth setup`"
        )
    if report.token.needs_operator is not None:
        raise HelpdeskAuthError(f"Zoho credentials need an operator: {report.token.needs_operator}")
    return EXIT_OK


async def resume(ctx: Admin, args: argparse.Namespace) -> int:
    outcome = await ctx.admin.resume_refreshes()
    data = {"lifted": outcome.lifted, "was": outcome.before.describe(), "store": outcome.store}
    emit(args, data, outcome.describe)
    return EXIT_OK


def _setup_json(outcome: SetupOutcome) -> dict[str, Any]:
    return {
        "authorized": True,
        **_identity_json(outcome.identity),
        "data_centre": outcome.data_centre,
        "accounts_server": outcome.accounts_server,
        "store": outcome.store,
        "browser_opened": outcome.browser_opened,
        "notes": list(outcome.notes),
    }


def _setup_text(outcome: SetupOutcome) -> str:
    lines = [
        f"Authorized: tokens stored in {outcome.store}.",
        f"Data centre {outcome.data_centre or '?'} (accounts server {outcome.accounts_server}).",
        "",
        _identity_text(outcome.identity),
    ]
    lines += [f"\nnote: {note}" for note in outcome.notes]
    return "\n".join(lines)


async def setup(ctx: Admin, args: argparse.Namespace) -> int:
    config = ctx.admin.config
    port_hint = config.redirect_uri.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[-1]

    def on_url(url: str) -> None:
        say(f"Listening for Zoho's redirect on {config.redirect_uri}")
        say("Open this URL, sign in to Zoho as the Desk agent the service should act as, and")
        say("accept (the code it sends back lives about 2 minutes):")
        say()
        say(f"  {url}")
        say()

    def on_browser(opened: bool) -> None:
        if opened:
            say("Opened it in your browser.")
        else:
            say(
                "No browser here: open the URL above yourself. From another machine, forward "
                f"the port first: ssh -L {port_hint}:localhost:{port_hint} <this host>"
            )
        say(f"Waiting up to {args.timeout:g}s for the redirect... (Ctrl-C to stop)")

    outcome = await ctx.admin.setup_auth(wait=args.timeout, on_url=on_url, on_browser=on_browser)
    emit(args, _setup_json(outcome), lambda: _setup_text(outcome))
    return EXIT_OK
