"""The ATTACHMENT_* settings: defaults (no host allowed, Zoho's 20 MB, 30 s, https only),
their parsing and errors, and the per-host tokens kept out of every printout."""

from __future__ import annotations

import pytest

from ticketing.domain.errors import ConfigurationError
from ticketing.settings import Settings

TOKEN = "EAAG-fake-media-token-abcdef0123456789"


def load(env: dict[str, str] | None = None) -> Settings:
    return Settings.load(env or {}, dotenv=None)


def test_the_defaults_refuse_every_url() -> None:
    """No host allowed, none private, https only, 20 MiB, 30 s, any type, no token."""
    settings = load()
    assert settings.attachment_allowed_hosts == ()
    assert settings.attachment_private_hosts == ()
    assert settings.attachment_allow_http is False
    assert settings.attachment_max_bytes == 20971520
    assert settings.attachment_fetch_timeout == 30.0
    assert settings.attachment_content_types == ()
    assert settings.attachment_host_tokens == ()


def test_the_lists_are_read() -> None:
    """Comma lists, trimmed and lower-cased; *.suffix and IP literals allowed."""
    settings = load(
        {
            "ATTACHMENT_ALLOWED_HOSTS": " Lookaside.FBSBX.com , *.example.com.,10.0.0.5,[::1]",
            "ATTACHMENT_ALLOW_PRIVATE_HOSTS": "files.internal",
            "ATTACHMENT_ALLOW_HTTP": "true",
            "ATTACHMENT_MAX_BYTES": "1048576",
            "ATTACHMENT_FETCH_TIMEOUT": "12.5",
            "ATTACHMENT_CONTENT_TYPES": "image/*, application/PDF",
            "ATTACHMENT_HOST_TOKENS": f"lookaside.fbsbx.com={TOKEN}, files.internal=t2",
        }
    )
    assert settings.attachment_allowed_hosts == (
        "lookaside.fbsbx.com",
        "*.example.com",
        "10.0.0.5",
        "::1",
    )
    assert settings.attachment_private_hosts == ("files.internal",)
    assert settings.attachment_allow_http is True
    assert (settings.attachment_max_bytes, settings.attachment_fetch_timeout) == (1048576, 12.5)
    assert settings.attachment_content_types == ("image/*", "application/pdf")
    assert settings.attachment_host_tokens == (
        ("lookaside.fbsbx.com", TOKEN),
        ("files.internal", "t2"),
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ATTACHMENT_ALLOWED_HOSTS", "https://example.com", "host names"),
        ("ATTACHMENT_ALLOWED_HOSTS", "example.com:443", "host names"),
        ("ATTACHMENT_ALLOWED_HOSTS", "*", "host names"),
        ("ATTACHMENT_ALLOWED_HOSTS", "a.*.com", "host names"),
        ("ATTACHMENT_ALLOW_PRIVATE_HOSTS", "user@host", "host names"),
        ("ATTACHMENT_MAX_BYTES", "0", "between"),
        ("ATTACHMENT_FETCH_TIMEOUT", "0", "between"),
        ("ATTACHMENT_CONTENT_TYPES", "image", "types such as"),
        ("ATTACHMENT_CONTENT_TYPES", "*/*", "types such as"),
    ],
)
def test_a_bad_value_names_its_variable(name: str, value: str, message: str) -> None:
    """One line naming the variable and what it takes."""
    with pytest.raises(ConfigurationError, match=rf"^{name}: .*{message}"):
        load({name: value})


def test_a_bad_token_list_never_shows_the_token() -> None:
    """A malformed ATTACHMENT_HOST_TOKENS is refused without echoing what was written."""
    with pytest.raises(ConfigurationError) as info:
        load({"ATTACHMENT_HOST_TOKENS": f"host.example={TOKEN},{TOKEN}"})
    assert str(info.value).startswith("ATTACHMENT_HOST_TOKENS: expected host=token")
    assert TOKEN not in str(info.value)


def test_tokens_are_secrets() -> None:
    """Hidden in repr and redacted() (the hosts stay), handed to the log redaction."""
    settings = load({"ATTACHMENT_HOST_TOKENS": f"lookaside.fbsbx.com={TOKEN}"})
    assert TOKEN not in repr(settings)
    assert settings.redacted()["attachment_host_tokens"] == (("lookaside.fbsbx.com", "<set>"),)
    assert TOKEN in settings.secrets()
