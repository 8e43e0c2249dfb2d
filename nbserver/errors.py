"""The project's own exceptions, raised by managers and mapped to HTTP in one place.

Each carries a public ``message`` that is safe to show to a client; details that
must not leave the server (absolute paths, tracebacks) go in ``log_detail``.
"""

from __future__ import annotations


class NbserverError(Exception):
    """Base class: a failure a client caused or must be told about."""

    status_code = 500
    reason = "Internal Server Error"

    def __init__(self, message: str, log_detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.log_detail = log_detail


class InvalidInput(NbserverError):
    status_code = 400
    reason = "Bad Request"


class Unauthorized(NbserverError):
    status_code = 401
    reason = "Unauthorized"


class Forbidden(NbserverError):
    status_code = 403
    reason = "Forbidden"


class NotFound(NbserverError):
    status_code = 404
    reason = "Not Found"


class Conflict(NbserverError):
    status_code = 409
    reason = "Conflict"


class PayloadTooLarge(NbserverError):
    status_code = 413
    reason = "Payload Too Large"


class UnsupportedMediaType(NbserverError):
    status_code = 415
    reason = "Unsupported Media Type"


class ServiceUnavailable(NbserverError):
    status_code = 503
    reason = "Service Unavailable"
