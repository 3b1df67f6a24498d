"""The CLI checks its own arguments (issue 16): a malformed or unknown dead-letter id is a
usage error naming it, not Redis's failure or "replayed 0"; --json before or after the
command; a warning when there is no REDIS_URL and the queue seen is the CLI's own."""

from __future__ import annotations

import json

import fakeredis
import pytest

from ticketing.container import Container, start, stop
from ticketing.entrypoints import cli
from zoho_desk_emulator import EmulatorState

from tests.integration.test_cli import (
    container_for,
    draft,
    one_line,
    queue_container,
    run,
)
from tests.support.containers import store_of

pytestmark = pytest.mark.anyio

NO_REDIS = "ticketing: warning: no REDIS_URL"


@pytest.fixture
def emulator() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
def queue_redis() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def sandbox(emulator: EmulatorState) -> Container:
    return container_for({}, emulator)


async def dead_letters(
    server: fakeredis.FakeServer, emulator: EmulatorState, prefix: str, count: int
) -> list[str]:
    """``count`` tickets buried in the queue's Redis; their entry ids, oldest first."""
    seed = queue_container(server, emulator, prefix)
    await start(seed)
    try:
        store = await store_of(seed)
        for n in range(count):
            ticket = draft(f"dead-{n}")
            await store.accept(ticket)
            await store.bury(ticket.key, "refused")
        return [letter.entry_id for letter in await store.list_dead(count)]
    finally:
        await stop(seed)


async def test_replaying_an_unknown_id_is_not_found_and_replays_nothing(
    capsys: pytest.CaptureFixture[str],
    queue_redis: fakeredis.FakeServer,
    emulator: EmulatorState,
    key_prefix: str,
) -> None:
    """A well-formed id that names no dead letter (once "replayed 0", exit 0): exit 2, the
    id named; the known ids given with it stay dead (nothing half done)."""
    (known,) = await dead_letters(queue_redis, emulator, key_prefix, 1)
    container = queue_container(queue_redis, emulator, key_prefix)
    code, out, err = await run(capsys, container, "queue", "replay", known, "1-1")
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert one_line(err) == (
        "ticketing: no dead letter 1-1 (`ticketing queue dead` lists them); nothing replayed"
    )
    container = queue_container(queue_redis, emulator, key_prefix)
    code, out, _ = await run(capsys, container, "queue", "status", "--json")
    assert json.loads(out) == {"pending": 0, "dead": 1}


async def test_replaying_known_ids_still_moves_them(
    capsys: pytest.CaptureFixture[str],
    queue_redis: fakeredis.FakeServer,
    emulator: EmulatorState,
    key_prefix: str,
) -> None:
    ids = await dead_letters(queue_redis, emulator, key_prefix, 2)
    container = queue_container(queue_redis, emulator, key_prefix)
    code, out, err = await run(capsys, container, "queue", "replay", *ids, "--json")
    assert (code, json.loads(out), err) == (cli.EXIT_OK, {"replayed": 2}, "")


def test_a_malformed_id_is_a_usage_error_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`queue replay nonexistent-id` was Redis's "Invalid stream ID" (exit 5)."""
    for bad in ("nonexistent-id", "1", "1-", "-1", "99999999999999999999-0"):
        assert cli.main(["queue", "replay", bad]) == cli.EXIT_USAGE, bad
        line = one_line(capsys.readouterr().err)
        assert f"argument entry_ids: {bad!r} is not a dead-letter entry id" in line
        assert "ticketing queue replay --help" in line


async def test_ids_and_all_together_are_a_usage_error(
    capsys: pytest.CaptureFixture[str], sandbox: Container
) -> None:
    code, _, err = await run(capsys, sandbox, "queue", "replay", "1-0", "--all")
    assert code == cli.EXIT_USAGE
    assert "entry_ids: name entry ids, --reason or --all: one of them" in one_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "queue", "status"],
        ["queue", "--json", "status"],
        ["queue", "status", "--json"],
    ],
)
async def test_json_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str],
    queue_redis: fakeredis.FakeServer,
    emulator: EmulatorState,
    key_prefix: str,
    argv: list[str],
) -> None:
    container = queue_container(queue_redis, emulator, key_prefix)
    code, out, err = await run(capsys, container, *argv)
    assert code == cli.EXIT_OK, err
    assert json.loads(out) == {"pending": 0, "dead": 0}


async def test_without_json_the_output_is_a_table(
    capsys: pytest.CaptureFixture[str],
    queue_redis: fakeredis.FakeServer,
    emulator: EmulatorState,
    key_prefix: str,
) -> None:
    """The top-level --json left out does not turn a command's own default on or off."""
    code, out, _ = await run(
        capsys, queue_container(queue_redis, emulator, key_prefix), "queue", "status"
    )
    assert (code, out.split()) == (cli.EXIT_OK, ["pending", "0", "dead", "letters", "0"])


def test_help_lists_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == cli.EXIT_OK
    assert "--json" in capsys.readouterr().out
    assert cli.main(["queue", "status", "--help"]) == cli.EXIT_OK
    assert "--json" in capsys.readouterr().out


def test_json_with_a_command_that_prints_no_result_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["--json", "serve"]) == cli.EXIT_USAGE
    assert "--json applies to the admin commands, not to serve" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "argv",
    [["queue", "status"], ["queue", "dead"], ["queue", "process"], ["queue", "replay", "--all"]],
)
async def test_queue_commands_without_redis_url_warn_in_one_line(
    capsys: pytest.CaptureFixture[str], sandbox: Container, argv: list[str]
) -> None:
    """No REDIS_URL: the queue is the CLI's own (empty); stderr says so once, the result
    is still printed (and --json output stays parseable on stdout)."""
    code, out, err = await run(capsys, sandbox, *argv, "--json")
    assert code == cli.EXIT_OK
    json.loads(out)
    warnings = [line for line in err.splitlines() if line.startswith(NO_REDIS)]
    assert len(warnings) == 1, err
    assert "set REDIS_URL to the service's Redis" in warnings[0]


async def test_queue_commands_with_redis_url_do_not_warn(
    capsys: pytest.CaptureFixture[str],
    queue_redis: fakeredis.FakeServer,
    emulator: EmulatorState,
    key_prefix: str,
) -> None:
    container = queue_container(queue_redis, emulator, key_prefix)
    code, _, err = await run(capsys, container, "queue", "status")
    assert (code, err) == (cli.EXIT_OK, "")


async def test_a_usage_error_comes_before_the_warning(
    capsys: pytest.CaptureFixture[str], sandbox: Container
) -> None:
    code, _, err = await run(capsys, sandbox, "queue", "replay")
    assert code == cli.EXIT_USAGE
    assert NO_REDIS not in err
