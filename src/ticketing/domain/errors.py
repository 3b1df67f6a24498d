"""One error tree for the whole service; adapters translate their failures into it."""

from __future__ import annotations


class TicketingError(Exception):
    """Base of every error this service raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(TicketingError):
    """Input that can never be accepted; names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class IdempotencyKeyReused(ValidationError):
    """An idempotency key sent again with another request: refused, as Stripe refuses it (a
    key names one request; the same request sent again gets its first answer)."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "Idempotency-Key",
            f"{key!r} was first sent with another request (its customer, subject, "
            "description, priority, category or channel differ); send that same request to "
            "get its answer, or a new key for a new request",
        )
        self.key = key


class DuplicateField(ValidationError):
    """A field given twice in one request (a repeated query parameter or form field, a JSON
    key written twice, or the query and the body both): refused, never one value guessed."""

    def __init__(self, field: str, where: str) -> None:
        super().__init__(field, f"{field} is given twice ({where}); send it once")


class PayloadTooLarge(ValidationError):
    """A body or field over its size limit."""


class ConfigurationError(TicketingError):
    """A setting is missing or wrong; names the variable."""


class NotFound(TicketingError):
    """The thing asked for does not exist."""


class TicketTaken(TicketingError):
    """A helpdesk ticket is recorded for another idempotency key: it is not this key's."""

    def __init__(self, ticket_id: str, owner: str) -> None:
        super().__init__(f"ticket {ticket_id} belongs to key {owner!r}")
        self.ticket_id = ticket_id
        self.owner = owner


class HelpdeskError(TicketingError):
    """Any failure talking to the helpdesk (Zoho Desk)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


class HelpdeskUnavailable(HelpdeskError):
    """Transient: connection refused, timeout, 5xx, 429. Safe to retry later.

    ``sent`` is True when the request may have reached the helpdesk, so a create may have
    happened (an *ambiguous* failure): the caller must look before re-posting.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        sent: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.sent = sent
        self.retry_after = retry_after


class RateLimited(HelpdeskUnavailable):
    """429 / throttled: retry after ``retry_after`` seconds. Nothing was created."""


class BreakerOpen(HelpdeskUnavailable):
    """The circuit breaker refused the call: the helpdesk is considered down."""


class HelpdeskRejected(HelpdeskError):
    """Permanent: the helpdesk refused the data (4xx other than 401/429). Do not retry."""


class HelpdeskAuthError(HelpdeskError):
    """The credentials are wrong, revoked or for another data centre. Needs an operator."""


class StoreUnavailable(TicketingError):
    """The durable store (Redis) cannot be reached; nothing was accepted."""


class RefreshPaused(RateLimited, BreakerOpen):
    """Access-token refreshes are paused fleet-wide: the refresh budget for the window is
    spent, Zoho answered that it throttles, or the accounts server failed and the next try
    is backed off. The message says until when and why.

    Nothing was sent to Desk, so, like ``BreakerOpen``, it costs a queued ticket no attempt;
    the pause is held by the refresh budget (Redis for a fleet), not by the caller.
    """


class AccountsUnavailable(HelpdeskUnavailable):
    """The Zoho accounts server (OAuth) failed a token refresh: unreachable, timed out, 5xx.
    No Desk call was made; Desk itself may be fine (its circuit breaker is not fed)."""


class TokenStoreUnavailable(HelpdeskUnavailable, StoreUnavailable):
    """The shared token store (Redis) is unreachable, so no Zoho call could be made.

    Both a ``HelpdeskUnavailable`` (callers of the Helpdesk port handle only those; nothing
    was sent) and a ``StoreUnavailable`` (the operator must fix Redis, not Zoho).
    """


class SignatureInvalid(TicketingError):
    """A webhook delivery's signature is not the helpdesk's for this organization and
    webhook (a bad signature, an unknown key, a wrong issuer or audience, expired), or a
    signature that must be there is missing. The delivery is refused."""


class SignatureUnverifiable(TicketingError):
    """A webhook delivery's signature could not be checked: the helpdesk's public keys (or
    the organization id) could not be had in time. Says nothing about the delivery."""
