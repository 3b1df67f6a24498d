"""The one way HTTP code reaches the started services.

The lifespan (or a test that starts the container itself) leaves them in the app's ``State``;
a :class:`Running` is made before the app and bound to it right after, so handlers get the
services through Litestar's ``Provide`` (:meth:`Running.dependencies`), and the middleware and
the error handlers through the :class:`Running` they were constructed with. Nothing reads
``request.app.state`` by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from ticketing.container import Services

if TYPE_CHECKING:
    from ticketing.adapters.prometheus import PrometheusMetrics

SERVICES = "services"

# A handler parameter named ``services`` of this type receives the started services.
ServicesDep = NamedDependency[Services]


class Running:
    """The services an app serves with, once they are started."""

    def __init__(self) -> None:
        self.state = State()  # until bound: Litestar makes the app's State itself

    def bind(self, app: Litestar) -> None:
        """Read from ``app``'s state from now on; done once, right after the app is built."""
        self.state = app.state

    def start(self, services: Services) -> None:
        self.state[SERVICES] = services

    def services(self) -> Services:
        """The started services (a request before start-up fails: a 500, as it always did)."""
        return cast("Services", self.state[SERVICES])

    def metrics(self) -> PrometheusMetrics | None:
        """The metrics collector, or None (not started yet, or no metrics)."""
        services = cast("Services | None", self.state.get(SERVICES))
        return None if services is None else services.metrics

    def dependencies(self) -> dict[str, Provide]:
        return {SERVICES: Provide(self.services, sync_to_thread=False)}
