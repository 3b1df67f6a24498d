"""The background entrypoints (the inbound consumer, the drain and upkeep loops) import at the
top of the module, so an import cycle cannot hide in a function body. The CLI package keeps its
lazy imports on purpose (``ticketing --help`` stays fast); the HTTP package has its own check."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ticketing.entrypoints import background, consumer


@pytest.mark.parametrize("module", [background, consumer], ids=lambda m: m.__name__)
def test_no_function_local_imports(module: object) -> None:
    """No ``import`` inside a function or method of the module."""
    path = Path(str(getattr(module, "__file__", "")))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = [
        f"{path.name}:{inner.lineno} in {node.name}()"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(node)
        if isinstance(inner, (ast.Import, ast.ImportFrom))
    ]
    assert not local, local
