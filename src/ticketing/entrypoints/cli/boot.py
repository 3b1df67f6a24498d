"""What every command does first: build the container from the settings, install logging."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ticketing.container import Container


def configure_logging(level: str = "info", settings: Any = None) -> None:
    """One redacting handler on stderr: JSON in production (LOG_FORMAT=auto), text otherwise.

    With ``settings`` (a loaded ``Settings``) its level, format and secret values are used.
    """
    from ticketing.entrypoints.logs import install

    if settings is None:
        install(level=level)
        return
    install(
        level=settings.log_level,
        fmt=settings.log_format,
        environment=settings.environment,
        secrets=settings.secrets(),
    )


def build_container() -> Container:
    from ticketing.container import Container
    from ticketing.settings import Settings

    container = Container()
    container.settings.override(Settings.load())
    return container
