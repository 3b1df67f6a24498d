"""Every switch of `ticketing` and of `ticketing sandbox` says what it does in `--help`, and
`ticketing sandbox --help` names the command the user typed."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from ticketing.entrypoints import cli
from ticketing.entrypoints.cli import parser
from zoho_desk_emulator.standalone import build_parser as emulator_parser


def _undocumented(tree: argparse.ArgumentParser) -> Iterator[str]:
    """``prog: switch`` for each action of ``tree`` and of its sub-commands, recursively,
    that has no help text (``-h``/``--help`` aside: argparse writes theirs)."""
    for action in tree._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.metavar or action.dest
        if not action.help or action.help == argparse.SUPPRESS:
            yield f"{tree.prog}: {name}"
        if isinstance(action, argparse._SubParsersAction):
            # the sub-commands' one-line summaries (argparse keeps one only when given)
            summaries = {choice.dest: choice.help for choice in action._choices_actions}
            for command in action.choices:
                if not summaries.get(command):
                    yield f"{tree.prog}: sub-command {command}"
            for sub in action.choices.values():
                yield from _undocumented(sub)


def test_the_walk_finds_a_switch_without_help() -> None:
    """The check itself: a switch, a positional and a sub-command without help are named."""
    tree = argparse.ArgumentParser(prog="demo")
    tree.add_argument("--documented", help="it says")
    tree.add_argument("--bare")
    sub = tree.add_subparsers(dest="command", help="commands")
    inner = sub.add_parser("inner")
    inner.add_argument("thing")
    assert list(_undocumented(tree)) == [
        "demo: --bare",
        "demo: sub-command inner",
        "demo inner: thing",
    ]


def test_every_switch_of_ticketing_has_help() -> None:
    """Each option, positional, command and action of `ticketing` has a help text."""
    assert list(_undocumented(parser.build_parser())) == []


def test_every_switch_of_the_sandbox_has_help() -> None:
    """Each option of `ticketing sandbox` (the emulator's own parser) has a help text."""
    assert list(_undocumented(emulator_parser("ticketing sandbox"))) == []


@pytest.mark.parametrize("argv", [["sandbox", "--help"], ["sandbox", "-h"]])
def test_sandbox_help_starts_with_its_own_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`ticketing sandbox --help` is usage of `ticketing sandbox`, not of `python -m …`."""
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ticketing sandbox ")
    assert "python -m" not in out


def test_a_bad_sandbox_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A bad switch value is one line naming the command and its help, exit 2 (no usage
    block: the contract's one-line errors)."""
    assert cli.main(["sandbox", "--port", "port"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "ticketing sandbox: error: argument --port: expected a port number, got 'port' "
        "(see `ticketing sandbox --help`)\n"
    )


def test_the_standalone_emulator_keeps_its_own_name(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m zoho_desk_emulator --help` still names itself."""
    with pytest.raises(SystemExit) as stopped:
        emulator_parser().parse_args(["--help"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m zoho_desk_emulator ")
