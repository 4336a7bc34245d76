"""Errors the services raise; the API turns each into RFC 9457 problem+json with its status."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


class O2CError(Exception):
    status = 400
    type = "about:blank"
    title = "Bad request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None, **extra):
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors or [])
        self.extra = extra

    def problem(self) -> dict:
        body = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [e.as_dict() for e in self.errors]
        body.update(self.extra)
        return body


class ValidationFailed(O2CError):
    """The request names things that do not exist or breaks a hard limit: nothing was stored."""

    status = 422
    type = "/problems/validation"
    title = "The request is not valid"

    @classmethod
    def one(cls, field: str, code: str, message: str) -> "ValidationFailed":
        return cls(message, [FieldError(field, code, message)])


class NotFound(O2CError):
    status = 404
    type = "/problems/not-found"
    title = "Not found"


class Conflict(O2CError):
    """The request is well-formed but the record's state does not allow it (e.g. illegal transition)."""

    status = 409
    type = "/problems/conflict"
    title = "Conflict with the current state"


class IdempotencyMismatch(O2CError):
    status = 422
    type = "/problems/idempotency-key-reused"
    title = "Idempotency-Key reused with a different request"


class UnsupportedMediaType(O2CError):
    status = 415
    type = "/problems/unsupported-media-type"
    title = "Unsupported media type"


class TooLarge(O2CError):
    status = 413
    type = "/problems/too-large"
    title = "Request body too large"


class Unauthorized(O2CError):
    status = 401
    type = "/problems/unauthorized"
    title = "Authentication required"


class Forbidden(O2CError):
    status = 403
    type = "/problems/forbidden"
    title = "Not allowed"


@dataclass
class ErrorList:
    """Collects field errors, then raises them together."""

    items: list[FieldError] = field(default_factory=list)

    def add(self, field: str, code: str, message: str) -> None:
        self.items.append(FieldError(field, code, message))

    def raise_if_any(self, detail: str = "The request is not valid") -> None:
        if self.items:
            raise ValidationFailed(
                detail if len(self.items) > 1 else self.items[0].message, self.items
            )
