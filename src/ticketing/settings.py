"""Typed settings, read once from the environment and a `.env` file (the environment wins)."""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from redis.connection import parse_url

from ticketing.application.intake import phone_country
from ticketing.domain.errors import ConfigurationError
from ticketing.domain.model import Priority

T = TypeVar("T")

# The two-way sync adds Desk.events.ALL (webhook subscriptions); threads and comments are read
# under Desk.tickets.ALL. A token without it still creates tickets (see `ticketing doctor`).
DEFAULT_SCOPE = "Desk.tickets.ALL,Desk.contacts.ALL,Desk.basic.ALL,Desk.search.READ,Desk.events.ALL"
# Zoho's data centres, as adapters/zoho_desk/hosts.py maps them to hosts (a test keeps the two
# in step).
DATA_CENTRES = ("us", "eu", "in", "au", "jp", "ca", "sa", "cn", "uk", "sg", "ae")
# The stream and channel names that take REDIS_KEY_PREFIX in front of their default; a name set
# by its own variable is used as given (so existing set-ups keep their names).
PREFIXED_NAMES = ("ticket_queue_name", "dead_letter_stream", "created_stream", "inbound_stream")


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value`, optional `export`, quotes, `#` comments."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or not name.replace("_", "").isalnum():
            raise ConfigurationError(f"{path}:{number}: expected NAME=value")
        if value[:1].isspace() and value.strip().startswith("#"):
            value = ""  # `PORT= # the port`: an empty value with a comment after it
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def token_file_exposed(path: str) -> bool:
    """True when the token file exists and its group or other users have any access to it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return bool(stat.S_IMODE(mode) & 0o077)


def redis_password(url: str | None) -> str | None:
    """The password inside a Redis URL, if any (before the host, or a ``password=`` option)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    options = dict(parse_qsl(parts.query))
    return parts.password or options.get("password") or None


def redact_url_password(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``."""
    if not redis_password(url):
        return url
    parts = urlsplit(url)
    if parts.password:
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[-1]
        url = parts._replace(netloc=f"{user}:***@{host}").geturl()
    base, _, query = url.partition("?")
    options = parse_qsl(query, keep_blank_values=True)
    if any(name == "password" for name, _ in options):
        hidden = [(k, "***" if k == "password" else v) for k, v in options]
        url = f"{base}?{urlencode(hidden, safe='*/')}"
    return url


def _text(value: str) -> str:
    return value


def _optional(value: str) -> str | None:
    return value or None


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}, got {number}")
        return number

    return parse


def _float(low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, got {number:g}")
        return number

    return parse


def _unless_empty(parse: Callable[[str], T]) -> Callable[[str], T | None]:
    """``parse``, with an empty value meaning unset (None)."""

    def parse_optional(value: str) -> T | None:
        return parse(value) if value else None

    return parse_optional


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _url(value: str) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/")


_REDIS_FORM = "redis://[[user]:password@]host[:port][/db], rediss://… or unix:///path/to.sock"
_REDIS_OPTION = re.compile(r"^Invalid value for '(\w+)' in connection URL\.$")


def _redis_url(value: str) -> str | None:
    """A Redis URL redis-py can use. The errors never quote the value: it may hold a password
    (and a mistyped one spills it into any part: scheme, port, path)."""
    if not value:
        return None
    problem = _redis_url_problem(value)
    if problem:
        raise ValueError(f"{problem} (the value is not shown: it may hold a password)")
    return value


def _redis_url_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed [ of an IPv6 address
        return "the host is not a valid address"
    if parts.scheme not in ("redis", "rediss", "unix") or not value.startswith(
        f"{parts.scheme}://"
    ):
        return f"expected {_REDIS_FORM}"
    if "#" in value:
        return "it holds a '#'; write it as %23 in a password"
    for node in parts.netloc.rpartition("@")[2].split(","):  # several: sentinels, cluster seeds
        try:
            port = urlsplit(f"//{node.strip()}").port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            return (
                "the port is not a number from 1 to 65535 (in a password, write / as %2F, "
                "? as %3F; several hosts are comma-separated host:port)"
            )
    if parts.scheme == "unix":
        if "," in parts.netloc:
            return "unix:// names one socket, not several hosts"
        if not parts.path:
            return "unix:// needs the socket's path, as in unix:///run/redis.sock"
    elif not re.fullmatch(r"/?\d*", parts.path):
        return "the database (the path after the host) is not a number"
    if "," in parts.netloc.rpartition("@")[2]:  # parse_url reads one host: ask it of the first
        first = parts.netloc.rpartition("@")[2].split(",")[0]
        value = value.replace(parts.netloc.rpartition("@")[2], first, 1)
    try:
        parse_url(value)  # type: ignore[no-untyped-call]
    except ValueError as exc:  # its messages name a known option at most, never a value
        option = _REDIS_OPTION.match(str(exc))
        return f"the option {option[1]!r} has a value Redis cannot read" if option else "unreadable"
    return None


def _choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {value!r}")
        return lowered

    return parse


def _data_centre(value: str) -> str:
    try:
        return _choice(*DATA_CENTRES)(value)
    except ValueError as exc:
        raise ValueError(
            f"{exc}; for a host not listed, set ZOHO_ACCOUNTS_URL and ZOHO_DESK_URL instead"
        ) from None


def _phone_country(value: str) -> str | None:
    return phone_country(value) if value.strip() else None


def _priority(value: str) -> Priority:
    for priority in Priority:
        if priority.value.lower() == value.strip().lower():
            return priority
    raise ValueError(f"expected High, Medium or Low, got {value!r}")


def _keys(value: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in value.split(",") if k.strip())
    for key in keys:
        if len(key) < 16:
            raise ValueError("each key must be at least 16 characters long")
    return keys


def _console_secret(value: str) -> str | None:
    if not value:
        return None
    if len(value) < 32:
        raise ValueError("the console secret must be at least 32 characters long")
    return value


def _webhook_token(value: str) -> str | None:
    if not value:
        return None
    if len(value) < 32:
        raise ValueError("the webhook token must be at least 32 characters long")
    if not all(c.isalnum() or c in "-_." for c in value):
        raise ValueError("the webhook token is part of a URL: use letters, digits, '-', '_', '.'")
    return value


def _hosts(value: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower().rstrip(".") for h in value.split(",") if h.strip())
    for host in hosts:
        name = host.removeprefix("*.").strip("[]")
        bad = not name or any(c in name for c in "*/@ ?#")
        if not bad and ":" in name:
            try:
                ipaddress.IPv6Address(name)
            except ValueError:
                bad = True  # a port or a scheme: hosts only
        if bad:
            raise ValueError(f"expected host names or *.suffix, comma-separated, got {host!r}")
    return tuple(h.removeprefix("[").removesuffix("]") for h in hosts)


def _host_tokens(value: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in (i.strip() for i in value.split(",")):
        if not item:
            continue
        host, sep, token = item.partition("=")
        if not sep or not host.strip() or not token.strip():
            # never the token in the message: it ends up in logs
            raise ValueError("expected host=token pairs, comma-separated")
        pairs.append((host.strip().lower().rstrip("."), token.strip()))
    return tuple(pairs)


def _content_types(value: str) -> tuple[str, ...]:
    kinds = tuple(k.strip().lower() for k in value.split(",") if k.strip())
    for kind in kinds:
        main, slash, sub = kind.partition("/")
        if not (slash and main and sub) or "*" in main:
            raise ValueError(f"expected types such as image/* or application/pdf, got {kind!r}")
    return kinds


def setting(env: str, parse: Callable[[str], T], default: str) -> T:
    """Declare a setting: its variable name, parser and default (as the text a user would
    write). The field's type is the parser's, so mypy checks the two agree."""
    return cast(T, field(metadata={"env": env, "parse": parse, "default": default}))


@dataclass(frozen=True)
class Settings:
    """Every setting of the service. Build with :func:`Settings.load`."""

    host: str = setting("HOST", _text, "127.0.0.1")
    port: int = setting("PORT", _int(1, 65535), "8005")
    environment: str = setting(
        "ENVIRONMENT", _choice("development", "production", "test"), "development"
    )
    redis_url: str | None = setting("REDIS_URL", _redis_url, "")
    redis_key_prefix: str = setting("REDIS_KEY_PREFIX", _text, "")
    redis_mode: str = setting(
        "REDIS_MODE", _choice("standalone", "cluster", "sentinel"), "standalone"
    )
    redis_sentinel_master: str | None = setting("REDIS_SENTINEL_MASTER", _optional, "")
    # Replicas that must hold an acceptance before it is answered 201/202 or acknowledged
    # (0: off); waited for up to REDIS_WAIT_TIMEOUT seconds, else 503 store_unavailable.
    redis_wait_replicas: int = setting("REDIS_WAIT_REPLICAS", _int(0, 16), "0")
    redis_wait_timeout: float = setting("REDIS_WAIT_TIMEOUT", _float(0.01, 4), "1")
    zoho_client_id: str | None = setting("ZOHO_CLIENT_ID", _optional, "")
    zoho_client_secret: str | None = setting("ZOHO_CLIENT_SECRET", _optional, "")
    zoho_redirect_uri: str = setting("ZOHO_REDIRECT_URI", _text, "http://localhost:8888/callback")
    zoho_scope: str = setting("ZOHO_SCOPE", _text, DEFAULT_SCOPE)
    zoho_authorization_code: str | None = setting("ZOHO_AUTHORIZATION_CODE", _optional, "")
    zoho_refresh_token: str | None = setting("ZOHO_REFRESH_TOKEN", _optional, "")
    zoho_token_file: str = setting("ZOHO_TOKEN_FILE", _text, ".zoho_tokens.json")
    zoho_dc: str = setting("ZOHO_DC", _data_centre, "us")
    zoho_accounts_url: str | None = setting("ZOHO_ACCOUNTS_URL", _url, "")
    zoho_desk_url: str | None = setting("ZOHO_DESK_URL", _url, "")
    zoho_org_id: str | None = setting("ZOHO_ORG_ID", _optional, "")
    zoho_department_id: str | None = setting("ZOHO_DEPARTMENT_ID", _optional, "")
    default_contact_id: str | None = setting("DEFAULT_CONTACT_ID", _optional, "")
    default_contact_email: str | None = setting("DEFAULT_CONTACT_EMAIL", _optional, "")
    circuit_breaker_failure_threshold: int = setting(
        "CIRCUIT_BREAKER_FAILURE_THRESHOLD", _int(1, 1000), "5"
    )
    circuit_breaker_timeout: float = setting("CIRCUIT_BREAKER_TIMEOUT", _float(0.1, 86400), "30")
    ticket_queue_name: str = setting("TICKET_QUEUE_NAME", _text, "tickets:pending")
    dead_letter_stream: str = setting("TICKET_DEAD_LETTER_NAME", _text, "tickets:dead")
    created_stream: str = setting("TICKET_CREATED_NAME", _text, "tickets:created")
    inbound_stream: str = setting("INBOUND_STREAM", _text, "tickets:classify:result")
    inbound_group: str = setting("INBOUND_GROUP", _text, "ticket-service")
    # This process's name in the consumer groups and its heartbeat; unset: <host>-<slot>.
    consumer_name: str | None = setting("CONSUMER_NAME", _optional, "")
    # Seconds a finished key is remembered (7 days): a repeat after that is a new ticket.
    ledger_retention: int = setting("LEDGER_RETENTION", _int(10, 400 * 86400), "604800")
    # Approximate cap on the dead-letter stream's entries (the oldest go first).
    dead_letter_maxlen: int = setting("DEAD_LETTER_MAXLEN", _int(100, 10_000_000), "10000")
    queue_retry_interval: float = setting("QUEUE_RETRY_INTERVAL", _float(0.05, 86400), "30")
    queue_max_deliveries: int = setting("QUEUE_MAX_DELIVERIES", _int(1, 10000), "20")
    # Unset: max(30, 4 x ZOHO_TIMEOUT). Leases last 2x, abandoned work is reclaimed after 3-4x.
    queue_attempt_timeout: float | None = setting(
        "QUEUE_ATTEMPT_TIMEOUT", _unless_empty(_float(1, 3600)), ""
    )
    zoho_idempotency_field: str | None = setting("ZOHO_IDEMPOTENCY_FIELD", _optional, "")
    zoho_max_concurrency: int = setting("ZOHO_MAX_CONCURRENCY", _int(1, 100), "10")
    zoho_timeout: float = setting("ZOHO_TIMEOUT", _float(0.1, 300), "15")
    api_keys: tuple[str, ...] = setting("API_KEYS", _keys, "")
    # Signs the console's session cookies; unset: derived from API_KEYS (a fleet agrees).
    console_secret: str | None = setting("CONSOLE_SECRET", _console_secret, "")
    default_priority: Priority = setting(  # noqa: RUF009 (a declaration)
        "DEFAULT_PRIORITY", _priority, "Medium"
    )
    low_confidence_threshold: float = setting("LOW_CONFIDENCE_THRESHOLD", _float(0, 1), "0.5")
    low_confidence_priority: Priority = setting(  # noqa: RUF009 (a declaration)
        "LOW_CONFIDENCE_PRIORITY", _priority, "Medium"
    )
    default_channel: str = setting("DEFAULT_CHANNEL", _text, "Web")
    default_phone_country: str | None = setting("DEFAULT_PHONE_COUNTRY", _phone_country, "")
    max_body_bytes: int = setting("MAX_BODY_BYTES", _int(1024, 50 * 1024 * 1024), "262144")
    log_level: str = setting("LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info")
    log_format: str = setting("LOG_FORMAT", _choice("auto", "json", "text"), "auto")
    contact_cache_ttl: float = setting("CONTACT_CACHE_TTL", _float(1, 90 * 86400), "604800")
    # With Redis: seconds a process keeps a contact id in its own memory too (0: not at all).
    contact_cache_local_ttl: float = setting("CONTACT_CACHE_LOCAL_TTL", _float(0, 86400), "60")
    zoho_inline_contact: bool = setting("ZOHO_INLINE_CONTACT", _bool, "false")
    zoho_refresh_budget: int = setting("ZOHO_REFRESH_BUDGET", _int(1, 10), "8")
    zoho_search_lag: float = setting("ZOHO_SEARCH_LAG", _float(0, 3600), "30")
    zoho_token_store: str = setting("ZOHO_TOKEN_STORE", _choice("auto", "file", "redis"), "auto")
    # The two-way sync (issue 14): the secret part of the webhook URL, how changes are learnt
    # (unset: webhook when a subscription is registered, else poll), how often the poller
    # looks, and how long a closed ticket is still watched.
    zoho_webhook_token: str | None = setting("ZOHO_WEBHOOK_TOKEN", _webhook_token, "")
    # Zoho's X-ZDesk-JWT on a delivery (unconfirmed scheme): verify it when it is there,
    # require it (refuse unsigned deliveries), or ignore it.
    zoho_webhook_signature: str = setting(
        "ZOHO_WEBHOOK_SIGNATURE", _choice("verify", "require", "off"), "verify"
    )
    sync_mode: str | None = setting(
        "SYNC_MODE", _unless_empty(_choice("webhook", "poll", "off")), ""
    )
    sync_poll_interval: float = setting("SYNC_POLL_INTERVAL", _float(1, 86400), "60")
    sync_follow_closed: float = setting("SYNC_FOLLOW_CLOSED", _float(0, 400 * 86400), "604800")
    # Follow-ups (issue 14): seconds after a customer's ticket is made during which their
    # next incidents become comments on it while it is open (0: every incident a ticket).
    thread_window: float = setting("THREAD_WINDOW", _float(0, 90 * 86400), "0")
    # Attachments (issue 15): the hosts attachment URLs may be fetched from (exact names or
    # *.suffix; none: URL attachments are refused), those of them that may resolve to private
    # addresses, plain http, the largest file (Zoho's 20 MB), the time one fetch may take,
    # the types taken (none listed: any) and bearer tokens per host (host=token,...).
    attachment_allowed_hosts: tuple[str, ...] = setting("ATTACHMENT_ALLOWED_HOSTS", _hosts, "")
    attachment_private_hosts: tuple[str, ...] = setting(
        "ATTACHMENT_ALLOW_PRIVATE_HOSTS", _hosts, ""
    )
    attachment_allow_http: bool = setting("ATTACHMENT_ALLOW_HTTP", _bool, "false")
    attachment_max_bytes: int = setting(
        "ATTACHMENT_MAX_BYTES", _int(1, 1024 * 1024 * 1024), "20971520"
    )
    attachment_fetch_timeout: float = setting("ATTACHMENT_FETCH_TIMEOUT", _float(1, 600), "30")
    attachment_content_types: tuple[str, ...] = setting(
        "ATTACHMENT_CONTENT_TYPES", _content_types, ""
    )
    attachment_host_tokens: tuple[tuple[str, str], ...] = setting(
        "ATTACHMENT_HOST_TOKENS", _host_tokens, ""
    )
    # `ticketing worker` serves /metrics and the probes on this port (unset: no HTTP at all).
    metrics_port: int | None = setting("METRICS_PORT", _unless_empty(_int(1, 65535)), "")

    @property
    def sandbox(self) -> bool:
        """No Zoho credentials: run against the built-in emulator in-process."""
        return not (self.zoho_client_id and self.zoho_client_secret)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def derived_name(self, name: str) -> bool:
        """True when the stream/channel setting ``name`` (a field name) is its default under a
        non-empty REDIS_KEY_PREFIX, rather than a name set by its own variable."""
        return bool(self.redis_key_prefix) and getattr(self, name) == (
            self.redis_key_prefix + SPEC[name]["default"]
        )

    @property
    def attempt_timeout(self) -> float:
        """Longest one attempt at a ticket may take before it is cut off (and its lease and
        the reclaim of abandoned work are sized from): QUEUE_ATTEMPT_TIMEOUT, else
        max(30, 4 x ZOHO_TIMEOUT)."""
        return self.queue_attempt_timeout or max(30.0, self.zoho_timeout * 4)

    @property
    def intake_stream(self) -> str:
        """The service's own stream that pub/sub incidents are appended to as they arrive
        (then worked like the inbound stream's). Not a setting: the service owns it, so it
        lives under ``REDIS_KEY_PREFIX`` like every key the service keeps."""
        return f"{self.redis_key_prefix}tickets:intake"

    @classmethod
    def load(
        cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")
    ) -> Settings:
        """Read settings; a bad value raises ConfigurationError naming the variable."""
        env = dict(read_dotenv(dotenv)) if dotenv is not None else {}
        # Empty means unset here too: `PORT=` in the environment (compose's `${PORT}` of an
        # unset variable) leaves the .env file's PORT standing, as an unset one would.
        given = os.environ if environ is None else environ
        env.update({name: value for name, value in given.items() if value.strip()})
        values: dict[str, Any] = {}
        for f in fields(cls):
            spec = SPEC[f.name]
            raw = (env.get(spec["env"]) or "").strip()
            # Empty means unset (as .env.example says): `PORT=` is the default port.
            text = raw or spec["default"]
            if f.name in PREFIXED_NAMES and not raw:
                text = values["redis_key_prefix"] + spec["default"]
            try:
                values[f.name] = spec["parse"](text)
            except ValueError as exc:
                raise ConfigurationError(f"{spec['env']}: {exc}") from None
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Cross-field rules."""
        if bool(self.zoho_client_id) != bool(self.zoho_client_secret):
            missing = "ZOHO_CLIENT_SECRET" if self.zoho_client_id else "ZOHO_CLIENT_ID"
            raise ConfigurationError(
                f"{missing}: set both ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET, or neither for "
                "sandbox mode"
            )
        if self.zoho_idempotency_field and not self.zoho_idempotency_field.startswith("cf_"):
            raise ConfigurationError(
                "ZOHO_IDEMPOTENCY_FIELD: expected a custom field API name such as "
                f"cf_request_key, got {self.zoho_idempotency_field!r}"
            )
        self._check_redis()
        if self.production:
            if self.sandbox:
                raise ConfigurationError(
                    "ZOHO_CLIENT_ID: ENVIRONMENT=production needs real Zoho credentials "
                    "(sandbox mode is for development)"
                )
            if not self.redis_url:
                raise ConfigurationError(
                    "REDIS_URL: ENVIRONMENT=production needs Redis; without it accepted tickets "
                    "do not survive a restart"
                )
            if not self.api_keys:
                raise ConfigurationError(
                    "API_KEYS: ENVIRONMENT=production needs at least one API key (16+ "
                    "characters, comma-separated); without it anyone who reaches the port can "
                    "create tickets that email customers"
                )
            # Whatever ZOHO_TOKEN_STORE says: a Redis token store imports this file too, and an
            # exposed file leaks the refresh token either way.
            if token_file_exposed(self.zoho_token_file):
                raise ConfigurationError(
                    f"ZOHO_TOKEN_FILE: {self.zoho_token_file} is readable by other users; "
                    f"run `chmod 600 {self.zoho_token_file}` (ENVIRONMENT=production refuses it)"
                )

    def _check_redis(self) -> None:
        if self.redis_mode != "standalone" and not self.redis_url:
            raise ConfigurationError(
                f"REDIS_MODE={self.redis_mode} needs REDIS_URL ("
                + (
                    "any node of the cluster"
                    if self.redis_mode == "cluster"
                    else "the sentinels, as redis://host1:26379,host2:26379"
                )
                + ")"
            )
        if self.redis_mode == "sentinel" and not self.redis_sentinel_master:
            raise ConfigurationError(
                "REDIS_SENTINEL_MASTER: REDIS_MODE=sentinel needs the primary's name as the "
                "sentinels know it (`sentinel monitor <name> …`), e.g. mymaster"
            )
        if self.redis_mode != "sentinel" and self.redis_sentinel_master:
            raise ConfigurationError(
                "REDIS_SENTINEL_MASTER is set but REDIS_MODE is "
                f"{self.redis_mode}; set REDIS_MODE=sentinel or unset it"
            )
        if (
            self.redis_mode == "standalone"
            and self.redis_url
            and "," in urlsplit(self.redis_url).netloc.rpartition("@")[2]
        ):
            raise ConfigurationError(
                "REDIS_URL names several hosts; that needs REDIS_MODE=sentinel (the sentinels) "
                "or REDIS_MODE=cluster (seed nodes)"
            )

    def __repr__(self) -> str:
        # Never the secrets: a Settings object can end up in a log line or a traceback.
        shown = ", ".join(f"{k}={v!r}" for k, v in self.redacted().items())
        return f"Settings({shown})"

    def secrets(self) -> tuple[str, ...]:
        """The secret values set, for the log redaction layer to mask wherever they appear."""
        values = [
            self.zoho_client_secret,
            self.zoho_refresh_token,
            self.zoho_authorization_code,
            *self.api_keys,
            self.console_secret,
            redis_password(self.redis_url),
            self.zoho_webhook_token,
            *(token for _, token in self.attachment_host_tokens),
        ]
        return tuple(v for v in values if v)

    def redacted(self) -> dict[str, object]:
        """Settings safe to print: secrets replaced by whether they are set."""
        secret = {
            "zoho_client_secret",
            "zoho_refresh_token",
            "zoho_authorization_code",
            "api_keys",
            "console_secret",
            "zoho_webhook_token",
        }
        out: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in secret:
                out[f.name] = "<set>" if value else "<unset>"
            elif f.name == "attachment_host_tokens":
                out[f.name] = tuple((host, "<set>") for host, _ in value)
            elif f.name == "redis_url" and value:
                out[f.name] = redact_url_password(value)
            elif isinstance(value, Priority):
                out[f.name] = value.value
            else:
                out[f.name] = value
        return out


# Each setting's variable name, parser and default, by field name, as declared on `Settings`.
SPEC: dict[str, dict[str, Any]] = {f.name: dict(f.metadata) for f in fields(Settings)}
