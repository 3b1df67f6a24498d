"""Contracts of the emulator's split: a package standing alone, parts usable on their own, and
the EmulatorState façade reaching whichever parts are current."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

import zoho_desk_emulator
from zoho_desk_emulator import (
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_ORG_ID,
    SANDBOX_REFRESH_TOKEN,
    CallLog,
    CreditMeter,
    DeskError,
    EmulatorState,
    Faults,
    OAuthServer,
    SystemClock,
)
from zoho_desk_emulator.records import ContactRecord
from zoho_desk_emulator.search import search_contacts

from tests.support.clock import ManualClock


def test_the_package_imports_nothing_from_ticketing() -> None:
    """Importing the emulator and all it exports loads no ``ticketing`` module (the import-linter
    contract, checked at run time too), so another project can use it alone."""
    code = (
        "import sys, zoho_desk_emulator, zoho_desk_emulator.standalone\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ticketing'))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_every_exported_name_exists() -> None:
    """``__all__`` lists only names the package really has (the public surface kept)."""
    missing = [name for name in zoho_desk_emulator.__all__ if not hasattr(zoho_desk_emulator, name)]
    assert missing == []


def test_the_system_clock_is_timezone_aware_and_monotonic() -> None:
    """The emulator's own clock gives UTC wall time and a monotonic clock that never goes back."""
    clock = SystemClock()
    assert clock.now().utcoffset() == timedelta(0)
    first = clock.monotonic()
    assert clock.monotonic() >= first


def test_the_oauth_server_works_alone(clock: ManualClock) -> None:
    """An ``OAuthServer`` with a clock and switches issues a token for a refresh grant and
    accepts it on a Desk call, until it expires."""
    oauth = OAuthServer(clock, Faults(), access_token_seconds=60)
    oauth.register_client("1000.client", "secret", "http://localhost/cb")
    refresh = oauth.add_refresh_token("1000.client", "Desk.tickets.ALL")
    body = oauth.token(
        {
            "grant_type": "refresh_token",
            "client_id": "1000.client",
            "client_secret": "secret",
            "refresh_token": refresh.token,
        }
    )
    assert body["expires_in"] == 60
    assert oauth.authenticate(f"Zoho-oauthtoken {body['access_token']}").client_id == "1000.client"
    clock.advance(60)
    with pytest.raises(DeskError) as error:
        oauth.authenticate(f"Zoho-oauthtoken {body['access_token']}")
    assert error.value.code == "INVALID_OAUTH"


def test_the_credit_meter_refills_at_utc_midnight(clock: ManualClock) -> None:
    """A ``CreditMeter`` spends weights, refuses with 429 ``THRESHOLD_EXCEEDED`` when empty, and
    is full again on the next UTC day."""
    meter = CreditMeter(clock, per_day=3)
    meter.charge(3)
    with pytest.raises(DeskError) as error:
        meter.charge(1)
    assert (error.value.status, error.value.code) == (429, "THRESHOLD_EXCEEDED")
    clock.advance(24 * 3600)
    assert meter.left() == 3


def test_the_call_log_tallies_by_endpoint_and_status(clock: ManualClock) -> None:
    """``CallLog.as_json`` is what ``GET /_emulator/calls`` answers."""
    log = CallLog()
    log.record("GET", "/api/v1/myinfo", {}, {}, 200, clock.now())
    log.record("GET", "/api/v1/myinfo", {}, {}, 401, clock.now())
    summary = log.as_json()
    assert summary["count"] == 2
    assert summary["by_endpoint"] == {"GET /api/v1/myinfo": 2}
    assert summary["by_status"] == {"200": 1, "401": 1}


def test_search_is_a_function_of_the_records(clock: ManualClock) -> None:
    """The contact search needs only records: ``phone=`` reads ``phone`` against the whole
    stored string, ``*`` as a wildcard."""
    ana = ContactRecord("1", SANDBOX_ORG_ID, "López", clock.now(), phone="+52 55 1234 5678")
    page, total = search_contacts([ana], SANDBOX_ORG_ID, {"phone": "*5*6*7*8"}, lenient=False)
    assert (total, [c["id"] for c in page]) == (1, ["1"])
    assert search_contacts([ana], SANDBOX_ORG_ID, {"phone": "*5*6*7"}, lenient=False)[1] == 0


def test_the_facade_reaches_the_current_parts(clock: ManualClock) -> None:
    """``EmulatorState``'s attributes are its parts' (the same objects), also after ``reset``
    replaces the parts; setting ``credits_remaining`` sets the meter's."""
    state = EmulatorState(clock)
    before = state.desk
    assert state.tickets is state.desk.tickets
    assert state.refresh_tokens is state.oauth.refresh_tokens
    assert state.calls is state.call_log.calls
    state.credits_remaining = 7
    assert state.credits.left() == 7
    state.reset()
    assert state.desk is not before
    assert state.tickets is state.desk.tickets
    assert state.credits_remaining == state.credits_per_day
    assert SANDBOX_REFRESH_TOKEN in state.refresh_tokens
    assert state.clients[SANDBOX_CLIENT_ID].client_secret == SANDBOX_CLIENT_SECRET


def test_the_parts_share_one_set_of_switches(clock: ManualClock) -> None:
    """A switch set on the state is seen by the part it concerns (here: Zoho's clock in the
    Desk part, and consent in the accounts part)."""
    state = EmulatorState(clock)
    state.apply_faults({"clock_skew": 30, "deny_consent": True})
    assert state.desk.now() == clock.now() + timedelta(seconds=30)
    consent = state.oauth.authorize(
        client_id=SANDBOX_CLIENT_ID,
        redirect_uri=state.clients[SANDBOX_CLIENT_ID].redirect_uri,
        response_type="code",
        scope="Desk.tickets.ALL",
        access_type="offline",
    )
    assert consent == {"error": "access_denied"}
