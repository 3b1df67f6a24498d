""".env.example is the settings' documentation: it lists every variable settings.py reads, its
commented lines show the defaults, and "Empty means unset" holds for every one of them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ticketing.settings import SPEC, Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
# `NAME=value` or `# NAME=value` at the start of a line: a variable the file documents
_VARIABLE = re.compile(r"^(?:# ?)?([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# Settings deliberately left out of .env.example (none today): name -> why.
UNDOCUMENTED: dict[str, str] = {}


def _listed() -> list[str]:
    return _VARIABLE.findall(ENV_EXAMPLE.read_text(encoding="utf-8"))


def _defaults() -> Settings:
    return Settings.load({}, dotenv=None)


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    """Each variable settings.py reads is in .env.example (or allowed out, with a reason),
    each once, and every variable there is one settings.py reads."""
    listed = _listed()
    read = {spec["env"] for spec in SPEC.values()}
    assert sorted(read - set(listed) - set(UNDOCUMENTED)) == []
    assert sorted(set(listed) - read) == []
    assert sorted(name for name in set(listed) if listed.count(name) > 1) == []
    assert set(UNDOCUMENTED) <= read, "an allowed-out name that is no setting"


def test_each_listed_variable_comes_with_a_comment() -> None:
    """Every variable line has a comment line (not a variable) somewhere above it in its
    group, so no variable stands there unexplained."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    unexplained = []
    for number, line in enumerate(lines):
        if not _VARIABLE.match(line):
            continue
        above = number - 1
        while above >= 0 and _VARIABLE.match(lines[above]):
            above -= 1  # variables documented together share the comment above them
        if above < 0 or not lines[above].startswith("#") or lines[above].startswith("# ---"):
            unexplained.append(line)
    assert unexplained == []


@pytest.mark.parametrize("name", sorted({spec["env"] for spec in SPEC.values()}))
def test_each_variable_set_empty_is_its_default(name: str) -> None:
    """`NAME=` (and blanks) is unset for every variable: the settings load and equal the
    defaults, rather than stopping the start."""
    assert Settings.load({name: ""}, dotenv=None) == _defaults()
    assert Settings.load({name: "  "}, dotenv=None) == _defaults()


def test_every_variable_empty_at_once_in_a_dotenv_file(tmp_path: Path) -> None:
    """A .env with every listed variable empty (`NAME=`) loads as the defaults."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("".join(f"{name}=\n" for name in _listed()), encoding="utf-8")
    assert Settings.load({}, dotenv=dotenv) == _defaults()


def test_env_example_uncommented_as_written_loads_as_the_defaults(tmp_path: Path) -> None:
    """Copied to .env with every `# NAME=value` line uncommented, the file loads, and to the
    defaults: its commented lines show the real defaults, its empty ones mean unset."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"^# ?([A-Z][A-Z0-9_]*=)", r"\1", text, flags=re.MULTILINE)
    assert uncommented.count("\n# ") < text.count("\n# ")  # something was uncommented
    dotenv = tmp_path / ".env"
    dotenv.write_text(uncommented, encoding="utf-8")
    assert Settings.load({}, dotenv=dotenv) == _defaults()


def test_env_example_as_shipped_loads_as_the_defaults(tmp_path: Path) -> None:
    """Copied to .env unchanged, the file starts the service on the defaults."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(ENV_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    assert Settings.load({}, dotenv=dotenv) == _defaults()


@pytest.mark.parametrize("line", ["PORT= # the HTTP port", "PORT=\t# the HTTP port", 'PORT=""'])
def test_an_empty_value_with_a_comment_after_it_is_unset(tmp_path: Path, line: str) -> None:
    """`PORT= # a comment` in a .env is an empty value, so the default port (not an error
    quoting the comment)."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(line + "\n", encoding="utf-8")
    assert Settings.load({}, dotenv=dotenv).port == 8005


def test_a_value_that_starts_with_a_hash_is_kept(tmp_path: Path) -> None:
    """Only a comment after blanks is dropped: `NAME=#value` is the value `#value`."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("INBOUND_GROUP=#group\n", encoding="utf-8")
    assert Settings.load({}, dotenv=dotenv).inbound_group == "#group"


def test_an_empty_environment_variable_leaves_the_env_file_value(tmp_path: Path) -> None:
    """The environment wins over .env, but an empty variable is unset there too: `PORT=` in
    the environment (compose's `${PORT}` of an unset variable) keeps the file's PORT."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9000\nLOG_LEVEL=debug\n", encoding="utf-8")
    loaded = Settings.load({"PORT": "", "LOG_LEVEL": "  "}, dotenv=dotenv)
    assert (loaded.port, loaded.log_level) == (9000, "debug")
    assert Settings.load({"PORT": "9100"}, dotenv=dotenv).port == 9100
