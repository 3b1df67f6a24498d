"""What the admin commands print: tables, aligned fields, times, a progress bar, JSON or text."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any


def emit(args: argparse.Namespace, data: Any, table: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(table())


def say(line: str = "") -> None:
    """Talk to the operator (progress, instructions): stderr, so stdout stays the result."""
    print(line, file=sys.stderr, flush=True)


def render_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_fields(rows: Sequence[tuple[str, Any]]) -> str:
    """``name  value`` lines, names aligned; a value with line breaks continues indented."""
    width = max((len(name) for name, _ in rows), default=0)
    lines = []
    for name, value in rows:
        text = "" if value is None else str(value)
        first, *rest = text.split("\n") or [""]
        lines.append(f"{name.ljust(width)}  {first}".rstrip())
        lines.extend(f"{' ' * width}  {more}" for more in rest)
    return "\n".join(lines)


def when(moment: datetime | None, now: datetime | None = None) -> str:
    """A time for people: UTC, and how far from now."""
    if moment is None:
        return "-"
    now = now or datetime.now(UTC)
    text = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    seconds = (moment - now).total_seconds()
    minutes = round(abs(seconds) / 60)
    span = f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"
    return f"{text} (in {span})" if seconds >= 0 else f"{text} ({span} ago)"


class ProgressBar:
    """A progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise,
    nothing with ``--json``."""

    def __init__(self, args: argparse.Namespace, total: int, what: str) -> None:
        self.total = total
        self.what = what
        self.enabled = not getattr(args, "json", False)
        self.interactive = self.enabled and sys.stderr.isatty()
        self._shown = -1
        self._drawn = False

    def show(self, done: int, extra: str = "") -> None:
        if not self.enabled:
            return
        total = max(self.total, done)
        tenth = int(10 * done / total) if total else 10
        suffix = f", {extra}" if extra else ""
        if self.interactive:
            width = 30
            filled = int(width * done / total) if total else width
            bar = "#" * filled + "." * (width - filled)
            sys.stderr.write(f"\r[{bar}] {done}/{total} {self.what}{suffix}")
            sys.stderr.flush()
            self._drawn = True
        elif tenth != self._shown:
            self._shown = tenth
            say(f"{self.what}: {done}/{total}{suffix}")

    def close(self) -> None:
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
