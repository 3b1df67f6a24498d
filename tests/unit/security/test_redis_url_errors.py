"""A malformed REDIS_URL stops the start with one line naming the variable and the problem,
and never any part of the password planted in it."""

from __future__ import annotations

from pathlib import Path

import pytest
import uvicorn

from ticketing.domain.errors import ConfigurationError
from ticketing.entrypoints import cli
from ticketing.settings import Settings, redact_url_password

PW = "Zq7xK9wP2mV5"  # planted in every form; no four characters of it may show
HEAD, TAIL = PW[:6], PW[6:]

MALFORMED = {
    "wrong scheme": f"http://:{PW}@127.0.0.1:6379/0",
    "upper-case scheme": f"REDIS://:{PW}@127.0.0.1:6379/0",
    "one slash": f"redis:/:{PW}@127.0.0.1:6379/0",
    "no scheme": f":{PW}@127.0.0.1:6379",
    "the password alone": PW,
    "port not a number": f"redis://:{PW}@127.0.0.1:notaport/0",
    "port out of range": f"redis://:{PW}@127.0.0.1:99999/0",
    "port zero": f"rediss://:{PW}@127.0.0.1:0/0",
    "db not a number": f"redis://:{PW}@127.0.0.1:6379/zero",
    "db option not a number": f"redis://:{PW}@127.0.0.1:6379?db=zero",
    "option not readable": f"rediss://:{PW}@127.0.0.1:6379/0?socket_timeout=soon",
    "slash in the password": f"redis://:{HEAD}/{TAIL}@127.0.0.1:6379/0",
    "question mark in the password": f"redis://:{HEAD}?{TAIL}@127.0.0.1:6379/0",
    "hash in the password": f"redis://:{HEAD}#{TAIL}@127.0.0.1:6379/0",
    "unclosed IPv6 host": f"redis://:{PW}@[::1:6379/0",
    "unix socket without a path": f"unix://:{PW}@",
    "unix socket, db not a number": f"unix://:{PW}@/run/redis.sock?db=zero",
    "unix socket, password option": f"unix:///run/redis.sock?password={PW}&db=zero",
}


def leaks(text: str) -> list[str]:
    """The four-character pieces of the planted password found in ``text``."""
    return [PW[i : i + 4] for i in range(len(PW) - 3) if PW[i : i + 4] in text]


@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_redis_url_is_one_line_without_its_password(url: str) -> None:
    """Settings refuse the URL, naming REDIS_URL and the problem, quoting none of it."""
    with pytest.raises(ConfigurationError) as refused:
        Settings.load({"REDIS_URL": url}, dotenv=None)
    message = refused.value.message
    assert message.startswith("REDIS_URL: "), message
    assert "\n" not in message
    assert leaks(message) == [], message


@pytest.mark.parametrize("url", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.usefixtures("cli_logging")
def test_serve_with_a_malformed_redis_url_stops_with_one_line(
    url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ticketing serve` stops before listening: one line on stderr naming REDIS_URL, no
    "unexpected" error, no piece of the password anywhere in its output."""

    def listen(self: uvicorn.Server, *args: object) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr(uvicorn.Server, "run", listen)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("REDIS_URL", url)
    code = cli.main(["serve"])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_USAGE
    assert err.startswith("ticketing: REDIS_URL: "), err
    assert err.count("\n") == 1
    assert leaks(out + err) == []


def test_a_password_given_as_an_option_is_redacted_too() -> None:
    """A unix socket URL's ``password=`` option is masked where the settings are shown."""
    url = f"unix:///run/redis.sock?db=2&password={PW}"
    settings = Settings.load({"REDIS_URL": url}, dotenv=None)
    assert PW in settings.secrets()
    assert redact_url_password(url) == "unix:///run/redis.sock?db=2&password=***"
    assert leaks(repr(settings)) == []
