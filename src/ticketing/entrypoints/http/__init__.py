"""The Litestar HTTP entrypoint."""

from ticketing.entrypoints.http.app import create_app

__all__ = ["create_app"]
