"""Settings: the contract's variables and defaults, .env files, and errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticketing.domain.errors import ConfigurationError
from ticketing.domain.model import Priority
from ticketing.settings import DEFAULT_SCOPE, Settings, read_dotenv


def load(env: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
    return Settings.load(env or {}, dotenv=dotenv)


def test_contract_defaults() -> None:
    """With nothing set, every variable has the contract's default and sandbox mode is on."""
    s = load()
    assert (s.host, s.port, s.environment) == ("127.0.0.1", 8005, "development")
    assert s.redis_url is None
    assert s.sandbox
    assert s.zoho_redirect_uri == "http://localhost:8888/callback"
    assert s.zoho_scope == DEFAULT_SCOPE
    assert s.zoho_token_file == ".zoho_tokens.json"
    assert s.zoho_dc == "us"
    assert (s.zoho_accounts_url, s.zoho_desk_url, s.zoho_org_id, s.zoho_department_id) == (
        None,
        None,
        None,
        None,
    )
    assert (s.circuit_breaker_failure_threshold, s.circuit_breaker_timeout) == (5, 30.0)
    assert s.ticket_queue_name == "tickets:pending"
    assert s.queue_retry_interval == 30.0
    assert s.zoho_idempotency_field is None
    assert s.zoho_max_concurrency == 10
    assert s.api_keys == ()
    assert s.default_priority is Priority.MEDIUM


def test_existing_env_file_is_read(tmp_path: Path) -> None:
    """An old deployment's .env (quotes, export, comments) is read as it is."""
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# old service\n"
        "export HOST=0.0.0.0\n"
        "PORT='9000'\n"
        'ZOHO_CLIENT_ID="1000.fakeclientid"\n'
        "ZOHO_CLIENT_SECRET=fake-secret # trailing comment\n"
        "REDIS_URL=redis://localhost:6379/0\n"
        "CIRCUIT_BREAKER_FAILURE_THRESHOLD=3\n"
        "\n"
        "TICKET_QUEUE_NAME=tickets:pending\n",
        encoding="utf-8",
    )
    s = load(dotenv=dotenv)
    assert (s.host, s.port) == ("0.0.0.0", 9000)  # noqa: S104 - a value read, not bound
    assert s.zoho_client_id == "1000.fakeclientid"
    assert s.zoho_client_secret == "fake-secret"
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.circuit_breaker_failure_threshold == 3
    assert not s.sandbox


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    """A variable set in the environment overrides the .env file."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=9000\n", encoding="utf-8")
    assert load({"PORT": "9100"}, dotenv=dotenv).port == 9100


def test_missing_env_file_is_fine(tmp_path: Path) -> None:
    """No .env file is not an error."""
    assert read_dotenv(tmp_path / "nope") == {}


@pytest.mark.parametrize("dc", ["uk", "sg", "ae", "UK"])
def test_the_uk_sg_and_ae_data_centres_are_accepted(dc: str) -> None:
    """ZOHO_DC=uk (sg, ae) starts: before, it was refused as unknown."""
    assert load({"ZOHO_DC": dc}).zoho_dc == dc.lower()


def test_an_unknown_data_centre_lists_them_all_and_the_override() -> None:
    """The error names the variable, every data centre, and the explicit URLs for a host not
    listed."""
    with pytest.raises(ConfigurationError) as caught:
        load({"ZOHO_DC": "mars"})
    assert caught.value.message == (
        "ZOHO_DC: expected one of us, eu, in, au, jp, ca, sa, cn, uk, sg, ae, got 'mars'; for a "
        "host not listed, set ZOHO_ACCOUNTS_URL and ZOHO_DESK_URL instead"
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"ZOHO_DC": "mars"}, "ZOHO_DC"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"ZOHO_DESK_URL": "desk.zoho.eu"}, "ZOHO_DESK_URL"),
        ({"CIRCUIT_BREAKER_TIMEOUT": "-1"}, "CIRCUIT_BREAKER_TIMEOUT"),
        ({"ZOHO_MAX_CONCURRENCY": "0"}, "ZOHO_MAX_CONCURRENCY"),
        ({"ENVIRONMENT": "staging"}, "ENVIRONMENT"),
        ({"API_KEYS": "short"}, "API_KEYS"),
        ({"DEFAULT_PRIORITY": "urgent-ish"}, "DEFAULT_PRIORITY"),
        ({"ZOHO_CLIENT_ID": "1000.fake"}, "ZOHO_CLIENT_SECRET"),
        ({"ZOHO_IDEMPOTENCY_FIELD": "request_key"}, "ZOHO_IDEMPOTENCY_FIELD"),
        ({"DEFAULT_PHONE_COUNTRY": "Mexico"}, "DEFAULT_PHONE_COUNTRY"),
        ({"DEFAULT_PHONE_COUNTRY": "XX"}, "DEFAULT_PHONE_COUNTRY"),
    ],
)
def test_bad_value_names_the_variable(env: dict[str, str], variable: str) -> None:
    """A wrong value is one error whose message starts with the variable's name."""
    with pytest.raises(ConfigurationError) as caught:
        load(env)
    assert caught.value.message.startswith(f"{variable}: ")
    assert "\n" not in caught.value.message


def test_bad_env_file_line_names_the_line(tmp_path: Path) -> None:
    """A malformed .env line is reported with its file and line number."""
    dotenv = tmp_path / ".env"
    dotenv.write_text("PORT=1\nthis is not a setting\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"\.env:2"):
        load(dotenv=dotenv)


def test_production_refuses_sandbox_and_memory_store() -> None:
    """ENVIRONMENT=production without credentials or Redis refuses to start, naming what."""
    with pytest.raises(ConfigurationError, match=r"^ZOHO_CLIENT_ID"):
        load({"ENVIRONMENT": "production"})
    with pytest.raises(ConfigurationError, match=r"^REDIS_URL"):
        load(
            {
                "ENVIRONMENT": "production",
                "ZOHO_CLIENT_ID": "1000.fake",
                "ZOHO_CLIENT_SECRET": "fake-secret",
            }
        )


def test_default_phone_country_is_unset_or_an_iso_code() -> None:
    assert load({}).default_phone_country is None
    assert load({"DEFAULT_PHONE_COUNTRY": " mx "}).default_phone_country == "MX"


def test_redacted_hides_secrets() -> None:
    """The printable view of settings says whether a secret is set, never its value."""
    s = load(
        {
            "ZOHO_CLIENT_ID": "1000.fakeclientid",
            "ZOHO_CLIENT_SECRET": "fake-secret-value",
            "ZOHO_REFRESH_TOKEN": "1000.fake-refresh-token",
            "API_KEYS": "fake-api-key-0123456789",
        }
    )
    shown = repr(s.redacted())
    for secret in ("fake-secret-value", "1000.fake-refresh-token", "fake-api-key-0123456789"):
        assert secret not in shown
    assert s.redacted()["zoho_client_secret"] == "<set>"


def test_stream_names_take_the_prefix_unless_set() -> None:
    """Without a prefix every name is as before; a prefix goes in front of each default name;
    a name set by its own variable is used exactly as given."""

    def names(settings: Settings) -> tuple[str, ...]:
        return (
            settings.ticket_queue_name,
            settings.dead_letter_stream,
            settings.created_stream,
            settings.inbound_stream,
            settings.inbound_group,
        )

    assert names(Settings.load({}, dotenv=None)) == (
        "tickets:pending",
        "tickets:dead",
        "tickets:created",
        "tickets:classify:result",
        "ticket-service",
    )
    tenant = Settings.load(
        {"REDIS_KEY_PREFIX": "acme:", "TICKET_CREATED_NAME": "out", "INBOUND_STREAM": ""},
        dotenv=None,
    )
    assert names(tenant) == (
        "acme:tickets:pending",
        "acme:tickets:dead",
        "out",
        "acme:tickets:classify:result",
        "ticket-service",
    )
    assert tenant.derived_name("inbound_stream")
    assert not tenant.derived_name("created_stream")


def test_retention_and_dead_letter_cap_are_settings() -> None:
    """LEDGER_RETENTION (default a week) and DEAD_LETTER_MAXLEN (default 10,000) are read and
    checked, naming the variable when wrong."""
    defaults = Settings.load({}, dotenv=None)
    assert (defaults.ledger_retention, defaults.dead_letter_maxlen) == (604800, 10000)
    chosen = Settings.load({"LEDGER_RETENTION": "3600", "DEAD_LETTER_MAXLEN": "500"}, dotenv=None)
    assert (chosen.ledger_retention, chosen.dead_letter_maxlen) == (3600, 500)
    with pytest.raises(ConfigurationError, match=r"^LEDGER_RETENTION: must be between 10 and"):
        Settings.load({"LEDGER_RETENTION": "5"}, dotenv=None)


@pytest.mark.parametrize("name", ["PORT", "LOG_LEVEL", "ZOHO_DC", "ZOHO_SCOPE", "REDIS_MODE"])
def test_an_empty_value_means_unset_as_env_example_says(name: str) -> None:
    """`PORT=` (an emptied line of .env.example) starts on the default, not with an error."""
    assert load({name: ""}) == load() == load({name: "   "})
