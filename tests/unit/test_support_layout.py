"""Where test helpers live: in named modules under tests/support, never imported from a
conftest.py, and never in the product package."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import ticketing.adapters.prometheus as prometheus

TESTS = Path(__file__).resolve().parents[1]


def _conftest_imports(path: Path) -> Iterator[str]:
    """The conftest modules ``path`` imports, in any spelling: ``from x.conftest import y``,
    ``import x.conftest``, ``from x import conftest``, ``from .conftest import y``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (name for name in names if name.rsplit(".", 1)[-1] == "conftest")


def test_no_test_module_imports_from_a_conftest() -> None:
    """Fixtures come from conftest.py by name; anything imported comes from tests/support."""
    offenders = {
        f"{path.relative_to(TESTS.parent)}: {module}"
        for path in TESTS.rglob("*.py")
        for module in _conftest_imports(path)
    }
    assert not offenders, sorted(offenders)


def test_exposition_parsing_is_a_test_helper_not_part_of_the_adapter() -> None:
    """Parsing /metrics text is only ever done by tests: it lives in tests/support/metrics."""
    assert not hasattr(prometheus, "parse")
    assert not hasattr(prometheus, "sample")
