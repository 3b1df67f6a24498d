"""The real Redis the tests may use: where it is, whether it answers, and whether a missing one
is a failure (CI) or a skip (a laptop without Redis)."""

from __future__ import annotations

import os

REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
# CI sets REQUIRE_REDIS=1: a missing Redis is then a failure, never a skip.
REQUIRE_REDIS = os.environ.get("REQUIRE_REDIS", "") not in ("", "0", "false")
SKIP_REASON = (
    f"no Redis answers at {REDIS_TEST_URL}; start one (`redis-server --port 6379 --daemonize yes`) "
    "or set REDIS_TEST_URL, then run the tests again (CI sets REQUIRE_REDIS=1 so they never skip)"
)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


_REDIS_OK: bool | None = None


def redis_available() -> bool:
    """Whether a Redis answers at REDIS_TEST_URL (asked once per test run)."""
    global _REDIS_OK
    if _REDIS_OK is None:
        _REDIS_OK = _redis_answers(REDIS_TEST_URL)
    return _REDIS_OK
