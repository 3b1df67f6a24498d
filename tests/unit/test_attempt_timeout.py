"""QUEUE_ATTEMPT_TIMEOUT sizes one attempt, the leases and the reclaim of abandoned work."""

from __future__ import annotations

import pytest
from dependency_injector import providers

from ticketing.container import Container
from ticketing.domain.errors import ConfigurationError
from ticketing.settings import Settings


def test_default_is_four_zoho_timeouts_and_at_least_thirty_seconds() -> None:
    """Unset, an attempt may take max(30, 4 x ZOHO_TIMEOUT) seconds."""
    assert Settings.load({}, dotenv=None).attempt_timeout == 60.0
    assert Settings.load({"ZOHO_TIMEOUT": "2"}, dotenv=None).attempt_timeout == 30.0
    assert Settings.load({"ZOHO_TIMEOUT": "20"}, dotenv=None).attempt_timeout == 80.0


def test_explicit_value_wins_and_a_bad_one_names_the_variable() -> None:
    """QUEUE_ATTEMPT_TIMEOUT overrides the derived value; nonsense stops the start."""
    settings = Settings.load({"QUEUE_ATTEMPT_TIMEOUT": "3", "ZOHO_TIMEOUT": "1"}, dotenv=None)
    assert settings.attempt_timeout == 3.0
    with pytest.raises(ConfigurationError, match="QUEUE_ATTEMPT_TIMEOUT"):
        Settings.load({"QUEUE_ATTEMPT_TIMEOUT": "soon"}, dotenv=None)


def test_the_container_sizes_attempts_and_the_reclaim_from_it() -> None:
    """Attempts are cut at the setting, and a customer's contact lock lasts as long."""
    container = Container()
    settings = Settings.load({"QUEUE_ATTEMPT_TIMEOUT": "4"}, dotenv=None)
    container.settings.override(providers.Object(settings))
    assert container.processing().attempt_timeout == 4.0
    kwargs = container.contacts.kwargs
    assert (kwargs["lock_ttl"](), kwargs["lock_wait"]()) == (4.0, 4.0)
