"""Logging: one event per line (JSON in production), correlation ids, and no secret ever."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import IO, Any, Final

from ticketing.application import context

MASK: Final = "***"
_HANDLER_MARK: Final = "_ticketing_handler"

# Zoho's tokens and codes all start with "1000." (access and refresh tokens are
# 1000.<hex>.<hex>, grant codes and client ids 1000.<alphanumerics>).
_ZOHO_TOKEN = re.compile(r"\b1000\.[A-Za-z0-9][A-Za-z0-9._-]{7,}")
# "Authorization: Bearer x", "authorization=Zoho-oauthtoken x", "'Authorization': 'x'"
_AUTH_HEADER = re.compile(
    r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?:((?:bearer|zoho-oauthtoken|basic)\s+))?"
    r"[^\s'\",;]+"
)
_SCHEME_TOKEN = re.compile(r"(?i)\b(bearer|zoho-oauthtoken)(\s+)(?!\*\*\*)[^\s'\",;]+")
# Secrets in URLs and form bodies: client_secret=…, refresh_token=…, code=…
_SECRET_PARAM = re.compile(
    r"(?i)\b(client_secret|refresh_token|access_token|code|token|password|api_key|apikey)"
    r"=(?!\*\*\*)[^&\s'\",;]+"
)
# The same as JSON: "client_secret": "…"
_SECRET_JSON = re.compile(
    r"(?i)(['\"](?:client_secret|refresh_token|access_token|code|password|api_key|api_keys)"
    r"['\"]\s*:\s*)(['\"])(?:(?!\2).)*\2"
)
# scheme://user:password@host
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]*:)[^@\s/]+@")


class Redactor:
    """Masks secrets in text: the configured values wherever they appear, and anything that
    looks like a Zoho token, an ``Authorization`` value, a secret URL/form parameter or a URL
    password."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} configured secrets)"

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{MASK}", text)
        text = _SCHEME_TOKEN.sub(rf"\1\2{MASK}", text)
        text = _SECRET_PARAM.sub(rf"\1={MASK}", text)
        text = _SECRET_JSON.sub(rf"\1\2{MASK}\2", text)
        text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
        return _ZOHO_TOKEN.sub(f"1000.{MASK}", text)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message and exception text through a :class:`Redactor`, and
    attaches the current correlation ids (``request_id``, ``incident_id``, ``key``)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_ticketing_redacted", False):
            try:
                message = record.getMessage()
            except Exception:  # a bad format string must not lose the event
                message = f"{record.msg!r} {record.args!r}"
            record.msg = self.redactor.redact(message)
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.redactor.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = self.redactor.redact(record.stack_info)
            record._ticketing_redacted = True
        for name, value in context.current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _ids(record: logging.LogRecord) -> dict[str, str]:
    return {
        name: str(getattr(record, name))
        for name in context.FIELDS
        if getattr(record, name, None) is not None
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message``, the correlation
    ids that are set, and ``exc`` for a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_ids(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            event["exc"] = record.exc_text
        if record.stack_info:
            event["stack"] = record.stack_info
        return json.dumps(event, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for development: time, level, logger, message, then the ids."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = _ids(record)
        if ids:
            suffix = " ".join(f"{k}={v}" for k, v in ids.items())
            head, newline, rest = line.partition("\n")
            line = f"{head} [{suffix}]{newline}{rest}"
        return line


def resolve_format(fmt: str, environment: str) -> str:
    """``auto`` is JSON in production and text elsewhere."""
    if fmt == "auto":
        return "json" if environment == "production" else "text"
    return fmt


def install(
    *,
    level: str = "info",
    fmt: str = "auto",
    environment: str = "development",
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route every log record through one redacting handler on the root logger.

    Replaces the handler an earlier call installed (so it can be called again once the
    settings are known). Returns the handler.
    """
    root = logging.getLogger()
    previous: dict[str, int] | None = None
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            previous = getattr(old, _HANDLER_MARK)
            root.removeHandler(old)
            old.close()
    noisy = ("httpx", "httpcore")
    if previous is None:  # the levels to go back to when the handler is uninstalled
        previous = {name: logging.getLogger(name).level for name in ("", *noisy)}
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, previous)
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    kind = resolve_format(fmt, environment)
    handler.setFormatter(JsonFormatter() if kind == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for name in noisy:
        logging.getLogger(name).setLevel(logging.WARNING)
    return handler


def uninstall(handler: logging.Handler) -> None:
    """Remove a handler :func:`install` added and put the levels back as they were."""
    logging.getLogger().removeHandler(handler)
    handler.close()
    previous = getattr(handler, _HANDLER_MARK, None)
    if isinstance(previous, dict):
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)
