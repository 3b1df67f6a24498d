"""Where a profiled service spent its time, by component: a pyinstrument session summarized.

uv run python benchmarks/profile_summary.py benchmarks/out/profile-redis.pyisession
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

# Library → component; the first match walking from a sample's leaf towards the root decides,
# skipping the event loop, anyio and the stdlib so that their time goes to whoever called them.
COMPONENTS = (
    ("/httpx/", "HTTP client to Zoho (httpx, httpcore, h11)"),
    ("/httpcore/", "HTTP client to Zoho (httpx, httpcore, h11)"),
    ("/redis/", "Redis client (redis-py)"),
    ("/litestar/", "HTTP server framework (Litestar)"),
    ("/uvicorn/", "HTTP server (uvicorn, h11/httptools)"),
    ("/httptools/", "HTTP server (uvicorn, h11/httptools)"),
    ("/msgspec/", "msgspec"),
    ("/dependency_injector/", "ticketing (our code)"),
    ("/ticketing/", "ticketing (our code)"),
    ("/pyinstrument/", "profiler"),
)


def component(path: str | None, ancestors: list[str]) -> str | None:
    if not path:
        return None
    if "/h11/" in path:
        # h11 serves both sides: the client when httpcore is above it, else uvicorn.
        client = any("/httpcore/" in a for a in ancestors)
        return COMPONENTS[0][1] if client else COMPONENTS[5][1]
    for needle, name in COMPONENTS:
        if needle in path:
            return name
    return None


def summarize(frame: Any) -> Counter[str]:
    totals: Counter[str] = Counter()

    def walk(node: Any, ancestors: list[str], owner: str) -> None:
        path = node.file_path or ""
        mine = component(path, ancestors) or owner
        if (
            node.identifier.startswith("[await]")
            or "select" in (node.function or "")
            or path.endswith("selectors.py")
        ):
            mine = "idle (waiting for I/O)"
        own = node.total_self_time
        if own:
            totals[mine] += own
        for child in node.children:
            walk(child, [*ancestors, path], mine)

    walk(frame, [], "event loop, anyio, stdlib")
    return totals


def render(session_path: Path) -> str:
    from pyinstrument.session import Session

    session = Session.load(session_path)
    root = session.root_frame()
    if root is None:
        return "empty profile"
    totals = summarize(root)
    busy = {k: v for k, v in totals.items() if not k.startswith("idle")}
    busy_total = sum(busy.values()) or 1.0
    lines = [f"{'component':<45} {'seconds':>8} {'share of busy':>14}"]
    for name, seconds in sorted(busy.items(), key=lambda kv: -kv[1]):
        lines.append(f"{name:<45} {seconds:8.2f} {seconds / busy_total:14.1%}")
    idle = totals.get("idle (waiting for I/O)", 0.0)
    lines.append(f"{'(idle, waiting for I/O)':<45} {idle:8.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(name)
        print(render(Path(name)))
