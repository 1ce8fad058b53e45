"""The error hierarchy: every expected failure is an ``AbilityError``.

One handler renders them as ``{"detail": ..., "error": "<ClassName>"}``.

- ``AbilityError`` (500, never raised directly)
  - ``BadRequestError`` 400
  - ``NotAuthenticatedError`` 401
  - ``ForbiddenError`` 403
  - ``NotFoundError`` 404
  - ``ConflictError`` 409
  - ``UnprocessableError`` 422 (semantic checks beyond schema validation)
  - ``PayloadTooLargeError`` 413
  - ``UnavailableError`` 503 (carries ``Retry-After``)
"""

from __future__ import annotations


class AbilityError(Exception):
    status_code = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class BadRequestError(AbilityError):
    status_code = 400


class NotAuthenticatedError(AbilityError):
    status_code = 401

    def __init__(self, message: str = "Not authenticated") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class ForbiddenError(AbilityError):
    status_code = 403


class NotFoundError(AbilityError):
    status_code = 404


class ConflictError(AbilityError):
    status_code = 409


class PayloadTooLargeError(AbilityError):
    status_code = 413


class UnprocessableError(AbilityError):
    status_code = 422


class UnavailableError(AbilityError):
    status_code = 503

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after)})


def error_responses(*errors: type[AbilityError]) -> dict[int | str, dict[str, str]]:
    """``responses=`` for a route, so its OpenAPI lists what it may answer."""
    return {error.status_code: {"description": error.__name__} for error in errors}
