"""Base request handlers: authentication hook, common headers and JSON errors.

Every handler of the server derives from :class:`BaseHandler`; REST handlers derive
from :class:`APIHandler`, which turns every failure into a JSON body
``{"message": ..., "reason": ...}`` with the right status and never a traceback.
"""

from __future__ import annotations

import json
import logging
from http.client import responses
from typing import Any, Awaitable
from urllib.parse import urlsplit

from tornado import web

from nbserver.auth.identity import IdentityProvider, User
from nbserver.base.urls import url_path_join
from nbserver.errors import (
    InvalidInput,
    NbserverError,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)

# What a JSON body may be labelled: curl's default form type too, as scripts often omit -H.
JSON_CONTENT_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded")

log = logging.getLogger("nbserver")


class BaseHandler(web.RequestHandler):
    """Common ground: identity, security headers, base URL."""

    #: Set to False on the few handlers that answer without authentication.
    auth_required = True

    @property
    def base_url(self) -> str:
        return str(self.settings.get("base_url", "/"))

    @property
    def identity_provider(self) -> IdentityProvider:
        return self.settings["identity_provider"]

    def base_path(self, *pieces: str) -> str:
        """A URL path under the server's base URL."""
        return url_path_join(self.base_url, *pieces)

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        csp = self.settings.get("content_security_policy", "frame-ancestors 'self'")
        if csp:
            self.set_header("Content-Security-Policy", csp)

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a browser request from ``origin`` may act here: same host only, for now."""
        if not origin:
            return True  # not a browser cross-origin request
        host = self.request.headers.get("Host", "")
        return urlsplit(origin).netloc.lower() == host.lower()

    def get_current_user(self) -> User | None:
        return self.identity_provider.get_user(self)

    def check_auth(self) -> None:
        """Raise 401 when this handler needs a user and the request has none."""
        if self.auth_required and self.current_user is None:
            raise Unauthorized("Authentication is required: send the server token.")

    def on_request_activity(self) -> None:
        tracker = self.settings.get("activity_tracker")
        if tracker is not None:
            tracker.touch()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, NbserverError):
            # The access log already records the status; add what only the log may see.
            if value.log_detail:
                log.info("%s %s: %s (%s)", self.request.method, self.request.path,
                         value.message, value.log_detail)
            return
        super().log_exception(typ, value, tb)


def error_status_and_message(exc: BaseException | None, status_code: int) -> tuple[int, str, str]:
    """Map an exception to (status, public message, reason); one place for all handlers."""
    if isinstance(exc, NbserverError):
        return exc.status_code, exc.message, exc.reason
    reason = responses.get(status_code, "Unknown")
    if isinstance(exc, web.HTTPError):
        # The log message stays private; the public text is the reason, if one was given.
        return status_code, exc.reason or reason, reason
    if status_code >= 500:
        return status_code, "Internal server error; see the server log.", reason
    return status_code, reason, reason


@web.stream_request_body
class APIHandler(BaseHandler):
    """A REST handler: JSON in, JSON out, JSON errors, bounded bodies."""

    def initialize(self, **kwargs: Any) -> None:
        self._body_chunks: list[bytes] = []
        self._body_size = 0
        self._body_too_large = False

    @property
    def max_body_size(self) -> int:
        return int(self.settings.get("max_body_size", 512 * 1024 * 1024))

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")

    def prepare(self) -> Awaitable[None] | None:
        self.check_auth()
        self.on_request_activity()
        length = self.request.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_body_size:
            raise PayloadTooLarge(f"The request body is larger than {self.max_body_size} bytes.")
        if self.request.connection is not None and hasattr(self.request.connection, "set_max_body_size"):
            # Our own limit is enforced in data_received; let tornado accept a little more.
            self.request.connection.set_max_body_size(self.max_body_size + 1)
        return None

    def data_received(self, chunk: bytes) -> None:
        self._body_size += len(chunk)
        if self._body_size > self.max_body_size:
            self._body_too_large = True
            self._body_chunks = []
            return
        self._body_chunks.append(chunk)

    @property
    def body(self) -> bytes:
        if self._body_too_large:
            raise PayloadTooLarge(f"The request body is larger than {self.max_body_size} bytes.")
        return b"".join(self._body_chunks)

    def get_json_body(self) -> Any:
        """The parsed JSON body, or None when there is none. 400/415 on a bad one."""
        raw = self.body
        if not raw.strip():
            return None
        content_type = self.request.headers.get("Content-Type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type and media_type not in JSON_CONTENT_TYPES and not media_type.endswith("+json"):
            raise UnsupportedMediaType(f"Expected a JSON body, got Content-Type {media_type!r}.")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"The request body is not valid JSON: {exc}") from None

    def get_json_object_body(self) -> dict[str, Any] | None:
        """Like get_json_body, but the body must be a JSON object when present."""
        body = self.get_json_body()
        if body is not None and not isinstance(body, dict):
            raise InvalidInput("The request body must be a JSON object.")
        return body

    def finish_json(self, model: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(model, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, message, reason = error_status_and_message(exc, status_code)
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({"message": message, "reason": reason}))


class NotFoundAPIHandler(APIHandler):
    """Catch-all under /api: unknown routes get a JSON 404, after authentication."""

    def prepare(self) -> None:
        super().prepare()
        raise web.HTTPError(404, reason="No such API route.")
