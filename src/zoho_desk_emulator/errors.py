"""The error answers of the emulated Zoho: Desk's ``errorCode`` bodies and the accounts server's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

INVALID_DATA_MESSAGE = "The data is invalid due to validation restrictions"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One entry of a validation error's ``errors`` array."""

    field_name: str
    error_type: str  # invalid | duplicate | missing
    message: str

    def as_json(self) -> dict[str, str]:
        return {
            "fieldName": self.field_name,
            "errorType": self.error_type,
            "errorMessage": self.message,
        }


class DeskError(Exception):
    """A Desk API error answer: status, ``errorCode``, ``message`` and maybe ``errors``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errorCode": self.code, "message": self.message}
        if self.errors:
            body["errors"] = [e.as_json() for e in self.errors]
        return body


def invalid_data(*errors: FieldError) -> DeskError:
    return DeskError(422, "INVALID_DATA", INVALID_DATA_MESSAGE, errors)


def not_a_json_object() -> DeskError:
    return DeskError(422, "UNPROCESSABLE_ENTITY", "The request body must be a JSON object.")


class OAuthError(Exception):
    """An accounts-server error answer; ``body`` is what Zoho sends."""

    def __init__(self, error: str, body: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.body: dict[str, str] = dict(body) if body is not None else {"error": error}
