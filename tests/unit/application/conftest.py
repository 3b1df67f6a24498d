"""The application tests' harness as a fixture (the harness itself lives in
tests/support/harness)."""

from __future__ import annotations

import pytest

from tests.support.clock import ManualClock
from tests.support.harness import Harness, make_harness


@pytest.fixture
def h(clock: ManualClock) -> Harness:
    return make_harness(clock)
