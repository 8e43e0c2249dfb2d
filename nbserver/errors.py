"""The project's own exceptions, raised by managers and mapped to HTTP in one place.

Each carries a public ``message`` that is safe to show to a client; details that
must not leave the server (absolute paths, tracebacks) go in ``log_detail``.
"""

from __future__ import annotations

import contextlib
import errno
from typing import Any, Iterator


class NbserverError(Exception):
    """Base class: a failure a client caused or must be told about."""

    status_code = 500
    reason = "Internal Server Error"

    def __init__(self, message: str, log_detail: str | None = None, code: str | None = None,
                 **details: str | int | None) -> None:
        super().__init__(message)
        self.message = message
        self.log_detail = log_detail
        #: A machine-readable name of the error (``not_found``, ``restore_conflict``...), sent as ``code``.
        self.code = code
        #: Public context fields sent beside ``code`` (``conflict_path``...); never server paths.
        self.details = details

    def public_fields(self) -> dict[str, str | int | None]:
        """What the JSON error body carries beyond ``message`` and ``reason``."""
        return {"code": self.code, **self.details} if self.code else dict(self.details)


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


class MethodNotAllowed(NbserverError):
    status_code = 405
    reason = "Method Not Allowed"


class PreconditionFailed(NbserverError):
    """An ``If-Match`` that no longer matches (RFC 9110, section 13.1.1)."""

    status_code = 412
    reason = "Precondition Failed"


class PayloadTooLarge(NbserverError):
    status_code = 413
    reason = "Payload Too Large"


class UnsupportedMediaType(NbserverError):
    status_code = 415
    reason = "Unsupported Media Type"


class InsufficientStorage(NbserverError):
    """The disk or the user's quota is full (RFC 4918, section 11.5)."""

    status_code = 507
    reason = "Insufficient Storage"


class ServiceUnavailable(NbserverError):
    status_code = 503
    reason = "Service Unavailable"


class Unprocessable(NbserverError):
    """Content that was read but is not what was asked for (not a notebook; RFC 9110, section 15.5.21)."""

    status_code = 422
    reason = "Unprocessable Content"


class TooManyRequests(NbserverError):
    """A rate limit: ``retry_after`` seconds until the client may try again (RFC 6585, section 4)."""

    status_code = 429
    reason = "Too Many Requests"

    def __init__(self, message: str, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class BadGateway(NbserverError):
    """An upstream server (an external notebook's host) answered wrongly or too much."""

    status_code = 502
    reason = "Bad Gateway"


class GatewayTimeout(NbserverError):
    """An upstream server did not answer in time."""

    status_code = 504
    reason = "Gateway Timeout"


#: What each errno means to a client: the exception that carries it and the words that name it.
#: The words never hold a path (``strerror`` does not either; ``str(exc)`` does, so it is logged only).
OS_ERRORS: dict[int, tuple[type[NbserverError], str]] = {
    errno.ENOENT: (NotFound, "no such file or folder"),
    errno.ENOTDIR: (NotFound, "a part of the path is not a folder"),
    errno.ELOOP: (NotFound, "too many levels of symbolic links"),
    errno.ENAMETOOLONG: (InvalidInput, "the name is too long (at most 255 bytes per name, 4096 per path)"),
    errno.EINVAL: (InvalidInput, "the operation is not valid for this path"),
    errno.EACCES: (Forbidden, "permission denied"),
    errno.EPERM: (Forbidden, "operation not permitted"),
    errno.EROFS: (Forbidden, "the filesystem is read-only"),
    errno.EEXIST: (Conflict, "a file or folder already exists there"),
    errno.ENOTEMPTY: (Conflict, "the folder is not empty"),
    errno.EISDIR: (Conflict, "it is a folder"),
    errno.EBUSY: (Conflict, "it is in use (a mount point, or busy)"),
    errno.ETXTBSY: (Conflict, "the file is in use"),
    errno.EXDEV: (Conflict, "it is on another filesystem"),
    errno.ENOSPC: (InsufficientStorage, "the disk is full"),
    errno.EDQUOT: (InsufficientStorage, "the disk quota is exceeded (the disk is full for this user)"),
    errno.EFBIG: (PayloadTooLarge, "the file is too large for the filesystem"),
    errno.EMFILE: (ServiceUnavailable, "the server has too many open files; try again later"),
    errno.ENFILE: (ServiceUnavailable, "the system has too many open files; try again later"),
}

#: Actions that only read: there a name too long or a folder in place of a file means "not found".
READ_ACTIONS = frozenset({"access", "read", "list", "open"})
_NOT_FOUND_WHEN_READING = frozenset({errno.ENAMETOOLONG, errno.EISDIR})


def error_for_os_error(exc: OSError, action: str = "access", path: str | None = None) -> NbserverError:
    """The project exception for an ``OSError`` met while doing ``action`` ("save", "read"...) to ``path``.

    The one place that maps errno to HTTP: ENOENT, ENOTDIR and ELOOP 404; ENAMETOOLONG 400 when
    writing (404 when reading); EACCES, EPERM and EROFS 403; EEXIST, ENOTEMPTY, EBUSY and EXDEV 409;
    ENOSPC and EDQUOT 507; anything else 500 with the system's words for it. ``path`` is the API
    path the client gave (None: not known); the OS path is kept in ``log_detail`` only.
    """
    code = exc.errno if isinstance(exc.errno, int) else -1
    where = "this path" if path is None else (path or "the root folder")
    kind, words = OS_ERRORS.get(code, (NbserverError, (exc.strerror or "input/output error").lower()))
    if code in _NOT_FOUND_WHEN_READING and action in READ_ACTIONS:
        kind = NotFound
    return kind(f"Cannot {action} {where}: {words}.", log_detail=f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def os_errors_as(action: str, path: str | None) -> Iterator[None]:
    """Turn an ``OSError`` raised inside the block into :func:`error_for_os_error`'s exception."""
    try:
        yield
    except OSError as exc:
        raise error_for_os_error(exc, action, path) from exc
