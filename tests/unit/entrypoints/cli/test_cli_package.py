"""The CLI package's seams: what it exports, the exit-code mapping, the one-line failures and
the renderers the admin commands print with."""

from __future__ import annotations

import argparse
import importlib
from datetime import UTC, datetime, timedelta

import pytest

from ticketing.domain.errors import (
    ConfigurationError,
    HelpdeskAuthError,
    HelpdeskRejected,
    HelpdeskUnavailable,
    NotFound,
    RateLimited,
    StoreUnavailable,
    TicketingError,
    TokenStoreUnavailable,
    ValidationError,
)
from ticketing.entrypoints import cli
from ticketing.entrypoints.cli import errors, parser, render


def test_console_script_target_is_the_package_main() -> None:
    """`ticketing = "ticketing.entrypoints.cli:main"` resolves to the runner's `main`."""
    module, _, name = "ticketing.entrypoints.cli:main".partition(":")
    assert getattr(importlib.import_module(module), name) is cli.runner.main


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("bad"), errors.EXIT_USAGE),
        (ValidationError("field", "bad"), errors.EXIT_USAGE),
        (NotFound("no dead letter 1-1"), errors.EXIT_USAGE),  # an argument naming nothing
        (HelpdeskAuthError("revoked"), errors.EXIT_AUTH),
        (TokenStoreUnavailable("redis down"), errors.EXIT_STORE),
        (StoreUnavailable("redis down"), errors.EXIT_STORE),
        (HelpdeskUnavailable("zoho down"), errors.EXIT_UNAVAILABLE),
        (RateLimited("slow down"), errors.EXIT_UNAVAILABLE),
        (HelpdeskRejected("no"), errors.EXIT_ERROR),
        (TicketingError("other"), errors.EXIT_ERROR),
    ],
)
def test_each_error_has_one_exit_code(error: TicketingError, code: int) -> None:
    """A token store down is Redis's fault (5) even though it is also a Zoho failure."""
    assert errors.exit_code_for(error) == code


def test_a_service_error_is_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """Line breaks in the message are folded: one `ticketing: ...` line, the mapped code."""
    code = errors.fail(HelpdeskAuthError("token\nrevoked   by an admin"))
    assert code == errors.EXIT_AUTH
    assert capsys.readouterr().err == "ticketing: token revoked by an admin\n"


def test_an_unexpected_error_names_its_type(capsys: pytest.CaptureFixture[str]) -> None:
    """Anything else: its type and first 200 characters, and how to see the traceback."""
    assert errors.fail(RuntimeError("x" * 300)) == errors.EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("ticketing: unexpected RuntimeError: " + "x" * 200 + " (LOG_LEVEL")


def test_table_aligns_columns_under_a_rule() -> None:
    """Headers, a dashed rule as wide as each column, None as blank, no trailing spaces."""
    text = render.render_table(
        [("1", "Sales", None), ("22", "Support", "yes")], ["ID", "NAME", "X"]
    )
    assert text.splitlines() == [
        "ID  NAME     X",
        "--  -------  ---",
        "1   Sales",
        "22  Support  yes",
    ]


def test_fields_continue_multiline_values_indented() -> None:
    """Names aligned; a value's further lines start under its first."""
    text = render.render_fields([("a", 1), ("long name", "x\ny"), ("none", None)])
    assert text.splitlines() == ["a          1", "long name  x", "           y", "none"]


def test_when_says_how_far_from_now() -> None:
    """UTC, then minutes (or hours past two hours) before or after now; '-' for nothing."""
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert render.when(None, now) == "-"
    assert render.when(now + timedelta(minutes=5), now) == "2026-01-01 12:05:00 UTC (in 5 min)"
    assert render.when(now - timedelta(hours=3), now) == "2026-01-01 09:00:00 UTC (3.0 h ago)"


def test_json_flag_prints_data_not_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    """`--json` prints the data as JSON and never builds the human table."""

    def table() -> str:
        raise AssertionError("the table is not rendered with --json")

    render.emit(argparse.Namespace(json=True), {"pending": 2}, table)
    assert capsys.readouterr().out == '{\n  "pending": 2\n}\n'


def test_every_admin_command_has_a_body_and_json() -> None:
    """Each leaf of the parser runs a process (`func`) or an admin body with `--json`."""
    tree = parser.build_parser()
    argv = [
        ["serve"],
        ["worker"],
        ["whoami"],
        ["departments"],
        ["doctor"],
        ["auth", "url"],
        ["auth", "status"],
        ["auth", "resume"],
        ["auth", "setup"],
        ["queue", "status"],
        ["queue", "process"],
        ["queue", "dead"],
        ["queue", "replay"],
    ]
    for args in argv:
        parsed = tree.parse_args(args)
        if args[0] in ("serve", "worker"):
            assert callable(parsed.func), args
        else:
            assert callable(parsed.admin), args
            assert parsed.json is False, args


@pytest.mark.parametrize(
    ("argv", "prog"),
    [(["sandbox", "--help"], "ticketing sandbox"), (["sandbox", "--latency", "x"], None)],
)
def test_sandbox_hands_its_options_to_the_emulator_under_its_own_name(
    argv: list[str], prog: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ticketing sandbox` is the emulator's parser, but usage and errors name the command the
    user typed, not `python -m zoho_desk_emulator`; a bad option exits 2 in one line."""
    code = cli.main(argv)
    out, err = capsys.readouterr()
    if prog:
        assert code == 0
        assert out.startswith(f"usage: {prog} ")
    else:
        assert code == 2
        assert "ticketing sandbox: error: argument --latency: invalid float value: 'x'" in err
        assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["queue", "dead", "--limit", "0"], "expected 1 or more, got 0"),
        (["queue", "process", "--limit", "-1"], "expected 1 or more, got -1"),
        (["queue", "dead", "--limit", "many"], "expected a whole number, got 'many'"),
    ],
)
def test_a_limit_below_one_is_a_usage_error_before_anything_runs(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI checks its own arguments: exit 2 with one line, not a Redis error (exit 5)."""
    with pytest.raises(SystemExit) as stopped:
        parser.build_parser().parse_args(argv)
    assert stopped.value.code == errors.EXIT_USAGE
    err = capsys.readouterr().err
    assert said in err
    assert err.count("\n") == 1
