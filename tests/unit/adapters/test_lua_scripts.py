"""The Lua scripts are package files: each names its keys and arguments in a header, each
loads (includes expanded) through importlib.resources, and each is registered by a wrapper."""

from __future__ import annotations

import re
from importlib import resources

import fakeredis
import pytest

from ticketing.adapters.redis import scripts

LUA = resources.files("ticketing.adapters.redis") / "lua"
NAMES = sorted(
    entry.name.removesuffix(".lua") for entry in LUA.iterdir() if entry.name.endswith(".lua")
)
SCRIPTS = [name for name in NAMES if not name.startswith("lib_")]


def header(name: str) -> str:
    lines = (LUA / f"{name}.lua").read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if line.startswith("--"))


def test_every_script_is_there() -> None:
    """The twenty scripts and two libraries that were Python strings before are files now,
    with the heartbeat's two (take a dead predecessor's name, renew) since, and the cluster
    layout's append-once step and outbox library, the two-way sync's status mark, and the
    follow-ups' thread claim and target record."""
    assert len(SCRIPTS) == 25
    assert {"lib_ledger", "lib_take", "lib_outbox"} <= set(NAMES)


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_header_names_every_key_and_argument_the_script_reads(name: str) -> None:
    """Each KEYS[i] and ARGV[i] the body reads is named in the file's opening comment."""
    body = scripts.lua(name)
    named = header(name)
    for kind in ("KEYS", "ARGV"):
        for index in sorted(set(re.findall(rf"{kind}\[(\d+)\]", body)), key=int):
            assert re.search(rf"^-- {kind}\[{index}\]", named, re.MULTILINE), (
                f"{name}.lua reads {kind}[{index}] without naming it"
            )


@pytest.mark.parametrize("name", SCRIPTS)
def test_includes_are_expanded(name: str) -> None:
    """A ``--! include`` line becomes the library's functions; none is left unexpanded."""
    raw = (LUA / f"{name}.lua").read_text(encoding="utf-8")
    source = scripts.lua(name)
    assert not re.search(r"^--! include", source, re.MULTILINE)
    for library in re.findall(r"^--! include (\w+)$", raw, re.MULTILINE):
        assert scripts.lua(library) in source


def test_the_wheel_takes_the_lua_files() -> None:
    """hatch packages every file under src/ticketing, so the .lua files ship in the wheel."""
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "src/ticketing" in wheel["packages"]
    assert not {"only-include", "include", "exclude", "artifacts"} & set(wheel)


@pytest.mark.anyio
async def test_a_wrapper_calls_its_script_with_named_keys_and_arguments() -> None:
    """Wrappers register their scripts at construction (no round trip) and pass the keys and
    arguments by name: a lease taken through one is held, and only its owner gives it back."""
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    leases = scripts.LeaseScripts(client)
    assert await leases.acquire(lease="l", owner="a", ms=10_000) is True
    assert await leases.acquire(lease="l", owner="b", ms=10_000) is False
    await leases.release(lease="l", owner="b")
    assert await client.get("l") == b"a"
    await leases.release(lease="l", owner="a")
    assert await client.get("l") is None
    await client.aclose()
