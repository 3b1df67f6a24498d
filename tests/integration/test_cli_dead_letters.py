"""The dead-letter tools of the CLI (issue 16): listed newest first with totals and a reason
filter, each labelled by what an operator knows it by, deleted one by one, purged by reason
after a confirmation (asked on a terminal, --yes otherwise)."""

from __future__ import annotations

import builtins
import json
import sys
from collections.abc import Callable

import fakeredis
import pytest

from ticketing.container import Container, start, stop
from ticketing.entrypoints import cli
from zoho_desk_emulator import EmulatorState

from tests.integration.test_cli import draft, one_line, queue_container, run
from tests.support.containers import store_of

pytestmark = pytest.mark.anyio


@pytest.fixture
def emulator() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
async def letters(
    server: fakeredis.FakeServer, emulator: EmulatorState, key_prefix: str
) -> list[str]:
    """Two tickets Zoho refused, then an incident without a description; ids oldest first."""
    seed = queue_container(server, emulator, key_prefix)
    await start(seed)
    try:
        store = await store_of(seed)
        for n in range(2):
            ticket = draft(f"order-{n}")
            await store.accept(ticket)
            await store.bury(ticket.key, "Zoho refused the ticket: 422 INVALID_DATA (email)")
        await store.bury_raw('{"incident_id": "wa-3EB0"}', "description: required", "inbound")
        return [letter.entry_id for letter in await store.list_dead()]
    finally:
        await stop(seed)


@pytest.fixture
def fresh(
    server: fakeredis.FakeServer, emulator: EmulatorState, key_prefix: str
) -> Callable[[], Container]:
    return lambda: queue_container(server, emulator, key_prefix)


async def test_dead_lists_newest_first_labelled_with_totals(
    capsys: pytest.CaptureFixture[str], letters: list[str], fresh: Callable[[], Container]
) -> None:
    code, out, _ = await run(capsys, fresh(), "queue", "dead", "--limit", "2")
    assert code == cli.EXIT_OK
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ENTRY", "KEY", "OR"]
    assert lines[2].split()[:3] == [letters[2], "incident_id", "wa-3EB0"]
    assert lines[3].split()[:2] == [letters[1], "order-1"]
    assert lines[-1] == "2 of 3 dead letter(s), newest first"


async def test_dead_filters_by_reason_and_counts_the_matches(
    capsys: pytest.CaptureFixture[str], letters: list[str], fresh: Callable[[], Container]
) -> None:
    code, out, _ = await run(capsys, fresh(), "queue", "dead", "--reason", "REFUSED", "--json")
    assert code == cli.EXIT_OK
    found = json.loads(out)
    assert (found["total"], found["matching"]) == (3, 2)
    assert [d["entry_id"] for d in found["dead_letters"]] == letters[1::-1]
    assert [d["label"] for d in found["dead_letters"]] == ["order-1", "order-0"]
    code, out, _ = await run(capsys, fresh(), "queue", "dead", "--reason", "nothing like it")
    assert (code, out.strip()) == (cli.EXIT_OK, "no dead letters matching 'nothing like it'")


async def test_delete_removes_the_named_letters_and_refuses_unknown_ones(
    capsys: pytest.CaptureFixture[str], letters: list[str], fresh: Callable[[], Container]
) -> None:
    code, out, err = await run(capsys, fresh(), "queue", "delete", letters[0], "1-1")
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert one_line(err).endswith("nothing deleted")
    code, out, _ = await run(capsys, fresh(), "queue", "delete", letters[0], "--json")
    assert (code, json.loads(out)) == (cli.EXIT_OK, {"deleted": 1})
    code, out, _ = await run(capsys, fresh(), "queue", "status", "--json")
    assert json.loads(out) == {"pending": 0, "dead": 2}
    code, _, err = await run(capsys, fresh(), "queue", "delete", "not-an-id")
    assert code == cli.EXIT_USAGE
    assert "'not-an-id' is not a dead-letter entry id" in err


async def test_purge_without_a_terminal_needs_yes_and_deletes_nothing(
    capsys: pytest.CaptureFixture[str], letters: list[str], fresh: Callable[[], Container]
) -> None:
    code, out, err = await run(capsys, fresh(), "queue", "purge", "--reason", "refused")
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert one_line(err) == (
        "ticketing: yes: this deletes 2 dead letter(s) for good: pass --yes to confirm"
    )
    code, out, _ = await run(capsys, fresh(), "queue", "status", "--json")
    assert json.loads(out)["dead"] == 3


async def test_purge_by_reason_with_yes_deletes_only_the_matches(
    capsys: pytest.CaptureFixture[str], letters: list[str], fresh: Callable[[], Container]
) -> None:
    code, out, err = await run(capsys, fresh(), "queue", "purge", "--reason", "refused", "--yes")
    assert (code, out.strip()) == (cli.EXIT_OK, "deleted 2 dead letter(s)")
    assert "deleted: 2/2" in err  # the progress
    code, out, _ = await run(capsys, fresh(), "queue", "dead", "--json")
    assert [d["entry_id"] for d in json.loads(out)["dead_letters"]] == [letters[2]]
    code, out, _ = await run(capsys, fresh(), "queue", "purge", "--reason", "refused", "--yes")
    assert (code, out.strip()) == (
        cli.EXIT_OK,
        "nothing to purge: no dead letters matching 'refused'",
    )


@pytest.mark.parametrize(("answer", "code", "left"), [("y", 0, 0), ("n", 1, 3), ("", 1, 3)])
async def test_purge_on_a_terminal_asks_first(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    letters: list[str],
    fresh: Callable[[], Container],
    answer: str,
    code: int,
    left: int,
) -> None:
    asked: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(builtins, "input", lambda: asked.append("asked") or answer)
    got, out, err = await run(capsys, fresh(), "queue", "purge", "--all")
    assert (got, asked) == (code, ["asked"])
    assert "delete 3 dead letter(s) for good? [y/N]" in err
    assert out.strip() == ("deleted 3 dead letter(s)" if left == 0 else "nothing deleted")
    _, out, _ = await run(capsys, fresh(), "queue", "status", "--json")
    assert json.loads(out)["dead"] == left


async def test_purge_needs_a_reason_or_all(
    capsys: pytest.CaptureFixture[str], letters: list[str], fresh: Callable[[], Container]
) -> None:
    code, _, err = await run(capsys, fresh(), "queue", "purge")
    assert code == cli.EXIT_USAGE
    assert "one of the arguments --reason --all is required" in err
    code, _, err = await run(capsys, fresh(), "queue", "purge", "--reason", " ")
    assert code == cli.EXIT_USAGE
    assert "expected some text of a dead letter's reason" in err


async def test_replay_by_reason_moves_only_the_matches(
    capsys: pytest.CaptureFixture[str], letters: list[str], fresh: Callable[[], Container]
) -> None:
    code, out, err = await run(capsys, fresh(), "queue", "replay", "--reason", "INVALID_DATA")
    assert (code, out.strip()) == (cli.EXIT_OK, "replayed 2 dead letter(s) onto the queue")
    assert "replayed: 2/2" in err
    code, out, _ = await run(capsys, fresh(), "queue", "dead", "--json")
    assert [d["entry_id"] for d in json.loads(out)["dead_letters"]] == [letters[2]]
    code, out, _ = await run(capsys, fresh(), "queue", "status", "--json")
    assert json.loads(out)["pending"] == 2


@pytest.mark.parametrize(
    "argv",
    [["--reason", "x", "--all"], ["1-1", "--reason", "x"], ["--reason", "  "]],
)
async def test_replay_takes_ids_a_reason_or_all_alone(
    capsys: pytest.CaptureFixture[str], fresh: Callable[[], Container], argv: list[str]
) -> None:
    code, out, err = await run(capsys, fresh(), "queue", "replay", *argv)
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert one_line(err).startswith("ticketing: ")
