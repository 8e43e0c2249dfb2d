"""Base request handlers: the access pipeline, common headers and JSON errors.

Every handler of the server derives from :class:`BaseHandler`, whose ``prepare`` runs one
access pipeline for every kind of route (API, page, websocket, static file) in a fixed
order: Host, origin, authentication, authorization, activity. Each handler declares the
resource it acts on and the action of each method (see :mod:`nbserver.auth.authorizer`);
the server checks at start-up that every routed handler does (:func:`undeclared_access`).
REST handlers derive from :class:`APIHandler`, which turns every failure into a JSON body
``{"message": ..., "reason": ...}`` with the right status and never a traceback.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
import time
from http.client import responses
from typing import Any, Awaitable, Callable, ClassVar, Iterable, Mapping, NoReturn
from urllib.parse import urlencode, urlsplit

from tornado import web
from tornado.escape import xhtml_escape

from nbserver.auth.authorizer import ACTIONS, METHOD_ACTIONS, PUBLIC, UNMAPPED_METHOD_ACTION
from nbserver.auth.identity import AuthMethod, IdentityProvider, User
from nbserver.auth.redirects import safe_next_path
from nbserver.base.bodyreader import declared_length, read_body_whole
from nbserver.base.urls import url_path_join
from nbserver.errors import (
    NbserverError,
    PayloadTooLarge,
    error_for_os_error,
    Forbidden,
    UnsupportedMediaType,
)
from nbserver.base.jsonbody import is_blank, json_object, parse_json_body
from nbserver.jsonio import dumps_for_client

# The Content-Type of every JSON reply, exactly as Jupyter Server sends it (JSON is UTF-8 by RFC 8259).
JSON_MEDIA_TYPE = "application/json"
# What a JSON body may be labelled: curl's default form type too, as scripts often omit -H.
JSON_CONTENT_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded")

log = logging.getLogger("nbserver")

BODY_OVERRUN_BYTES = 1024 * 1024  # read and discarded past max_body_size before answering 413
#: Request bodies from this size are parsed off the event loop (see APIHandler.large_json_body).
OFF_LOOP_BODY_BYTES = 256 * 1024
#: Largest body read into one buffer of its length as it arrives (bodyreader.read_body_whole).
WHOLE_BODY_MAX_BYTES = 64 * 1024 * 1024
#: Tagged bodies from this size go out after their headers, not joined to them (see APIHandler.finish_body).
SEPARATE_BODY_BYTES = 64 * 1024
CORS_ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_ALLOWED_HEADERS = "Authorization, Content-Type, X-XSRFToken, X-Requested-With"


def defined_methods(handler: web.RequestHandler) -> list[str]:
    """The methods the class of ``handler`` defines over tornado's defaults (which answer 405)."""
    cls = type(handler)
    return [method for method in cls.SUPPORTED_METHODS
            if getattr(cls, method.lower(), None) is not getattr(web.RequestHandler, method.lower(), None)]


def set_allow_header(handler: web.RequestHandler, status: int) -> None:
    """A 405 says which methods the resource answers now: ``Allow`` (RFC 9110 section 15.5.6
    requires it; empty when it answers none). The handler's ``allowed_methods()`` when it has
    one, else the methods its class defines."""
    if status != 405:
        return
    allowed = getattr(handler, "allowed_methods", None)
    methods: list[str] = allowed() if callable(allowed) else defined_methods(handler)
    handler.set_header("Allow", ", ".join(methods))


class BaseHandler(web.RequestHandler):
    """Common ground: the access pipeline, identity, security headers, base URL, plain HTML errors."""

    #: The resource this handler's requests act on, for the authorizer ("contents", "kernels"...),
    #: or PUBLIC for a handler that answers anyone. Every routed handler declares one.
    auth_resource: ClassVar[str | None] = None
    #: The action (read, write, execute) of each HTTP method on ``auth_resource``.
    auth_actions: ClassVar[Mapping[str, str]] = METHOD_ACTIONS

    @property
    def base_url(self) -> str:
        return str(self.settings.get("base_url", "/"))

    @property
    def identity_provider(self) -> IdentityProvider:
        provider: IdentityProvider = self.settings["identity_provider"]
        return provider

    def base_path(self, *pieces: str) -> str:
        """A URL path under the server's base URL."""
        return url_path_join(self.base_url, *pieces)

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        csp = self.content_security_policy
        if csp:
            self.set_header("Content-Security-Policy", csp)

    @property
    def content_security_policy(self) -> str:
        """The ``NotebookServerApp.content_security_policy`` setting; API handlers narrow it."""
        return str(self.settings.get("content_security_policy", "frame-ancestors 'self'"))

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a browser request from ``origin`` may act here.

        Allowed: no Origin (not a cross-origin browser request), the server's own host, the
        ``allow_origin`` setting (exactly, or ``*``) and ``allow_origin_pat`` (matched whole).
        """
        if not origin:
            return True
        allow_origin = str(self.settings.get("allow_origin") or "")
        if allow_origin == "*":
            return True
        if allow_origin and origin == allow_origin:
            return True
        pattern: re.Pattern[str] | None = self.settings.get("allow_origin_pat")
        if pattern is not None and pattern.fullmatch(origin):
            return True
        try:
            origin_netloc = urlsplit(origin).netloc.lower()
        except ValueError:
            return False
        return origin_netloc in self.public_hosts()

    def public_hosts(self) -> set[str]:
        """The host names (with port) browsers use for this server: ``Host``, and ``X-Forwarded-Host``
        when the request comes from a ``trusted_proxies`` address (a proxy that rewrites Host)."""
        hosts = {self.request.headers.get("Host", "").lower()}
        forwarded = self.request.headers.get("X-Forwarded-Host", "")
        if forwarded and self.request.remote_ip in self.settings.get("trusted_proxies", ()):
            hosts.add(forwarded.split(",", 1)[0].strip().lower())
        hosts.discard("")
        return hosts

    def host_allowed(self) -> bool:
        """Whether the Host header names this machine, unless ``allow_remote_access``.

        A local server must refuse other host names: a site whose DNS name is rebound to
        127.0.0.1 is same-origin with itself, so origin checks and cookies do not stop it.
        """
        if self.settings.get("allow_remote_access", True):
            return True
        host = self.request.host_name.strip("[]").lower()
        if host in self.settings.get("local_hostnames", ("localhost",)):
            return True
        return is_loopback_address(host)

    def check_host(self) -> None:
        if not self.host_allowed():
            raise Forbidden("Host not allowed: start the server with --allow-remote-access to use this name.",
                            log_detail=f"Host {self.request.host!r}")

    def check_request_origin(self) -> None:
        """403 when a browser on another, not allowed origin sends this request."""
        origin = self.request.headers.get("Origin")
        if not self.origin_allowed(origin):
            raise Forbidden("Requests from this origin are not allowed.", log_detail=f"Origin {origin!r}")

    def _authenticate(self) -> tuple[User | None, AuthMethod]:
        if not hasattr(self, "_auth_result"):
            self._auth_result = self._screen_credentials(self.identity_provider.authenticate(self))
        return self._auth_result

    def _screen_credentials(self, result: tuple[User | None, AuthMethod]) -> tuple[User | None, AuthMethod]:
        """No credit for the browser's cookie on a foreign subresource request."""
        user, method = result
        if method in (AuthMethod.COOKIE, AuthMethod.ANONYMOUS) and self.is_foreign_subresource_request():
            return None, AuthMethod.NONE
        return user, method

    def is_foreign_subresource_request(self) -> bool:
        """Whether a page of another origin makes the browser fetch this as part of itself.

        Such a request (``<script src>``, ``<img>``, a fetch from another port of this host)
        gets no credit for the browser's cookie, so files and JSON cannot be included
        cross-site (XSSI). SameSite cookies alone do not stop it: other ports of the same
        host are the same *site*. Browsers without Fetch Metadata headers are not covered.
        """
        site = self.request.headers.get("Sec-Fetch-Site", "").lower()
        if site not in ("cross-site", "same-site"):
            return False  # same-origin, or "none": the user typed the URL or used a bookmark
        mode = self.request.headers.get("Sec-Fetch-Mode", "").lower()
        if mode == "navigate" and self.request.method in ("GET", "HEAD"):
            return False  # following a link here; pages do not change anything on GET
        if mode in ("cors", "websocket"):
            # Allowed only where allow_origin / allow_origin_pat say so (the own host is not "-site").
            return not self.origin_allowed(self.request.headers.get("Origin"))
        return True

    @property
    def auth_method(self) -> AuthMethod:
        """How this request authenticated: token, cookie, anonymous or not at all."""
        return self._authenticate()[1]

    def get_current_user(self) -> User | None:
        return self._authenticate()[0]

    # -- the access pipeline --------------------------------------------------------------

    def prepare(self) -> Awaitable[None] | None:
        """Run the access pipeline; first await the identity provider when it must ask elsewhere
        (a JupyterHub token check), else at once, with no coroutine in the way."""
        pending = None if self.is_public_request() else self.identity_provider.authenticate_async(self)
        if pending is None:
            self.admit_request()
            return None
        return self._admit_when_authenticated(pending)

    async def _admit_when_authenticated(self, pending: Awaitable[tuple[User | None, AuthMethod]]) -> None:
        self._auth_result = self._screen_credentials(await pending)
        self.admit_request()

    def admit_request(self) -> None:
        """:meth:`admit`, then what this kind of handler does before its method runs."""
        self.admit()

    def admit(self) -> None:
        """The one access pipeline, in this order for every kind of route.

        1. Host: 403 for a name that is not this machine (DNS rebinding).
        2. Origin: 403 for a browser request from an origin that is not allowed.
        3. Authentication: 401 (pages: a redirect to the login page) without valid credentials;
           then the XSRF check of writes that the browser authenticated.
        4. Authorization: 403 unless the authorizer grants every permission the request needs.
        5. Activity: the request counts as the user's activity (``/api/status``).

        A public request (``auth_resource`` PUBLIC, or a CORS preflight) stops after step 3's
        XSRF check: it needs no user and is not a user's activity.
        """
        self.check_host()
        if self.origin_checked():
            self.check_request_origin()
        public = self.is_public_request()
        user = self.authenticate(required=not public)
        self.check_xsrf()
        if user is None or public:
            return
        self.authorize(user)
        self.on_request_activity()

    def origin_checked(self) -> bool:
        """Whether step 2 applies to this request (pages let other sites link to them)."""
        return True

    def is_public_request(self) -> bool:
        """Whether this request may be answered without a user."""
        return self.auth_resource == PUBLIC

    def authenticate(self, required: bool) -> User | None:
        """The request's user; refused when ``required`` and there is none."""
        user: User | None = self.current_user
        if user is None and required:
            self.refuse_unauthenticated()
        return user

    def refuse_unauthenticated(self) -> NoReturn:
        raise self.identity_provider.missing_credentials_error("Authentication is required: send the server token.")

    def permissions_needed(self) -> list[tuple[str, str]]:
        """The (resource, action) pairs this request needs, from the handler's declaration."""
        if self.auth_resource is None or self.auth_resource == PUBLIC:
            return []
        method = self.request.method or "GET"
        return [(self.auth_resource, self.auth_actions.get(method, UNMAPPED_METHOD_ACTION))]

    def authorize(self, user: User) -> None:
        """403 unless the authorizer grants ``user`` every permission this request needs."""
        authorizer = self.settings.get("authorizer")
        if authorizer is None:
            return
        for resource, action in self.permissions_needed():
            if not authorizer.is_authorized(self, user, action, resource):
                raise Forbidden(f"You may not {action} {resource}.",
                                log_detail=f"user {user.username!r} refused")

    def check_xsrf_cookie(self) -> None:
        """Tornado calls this before ``prepare``; the pipeline runs :meth:`check_xsrf` in its place."""

    def _get_raw_xsrf_token(self) -> tuple[int | None, bytes, float]:
        # Tornado's hook for the token that X-XSRFToken must carry: an identity provider may bind it
        # to the browser's session, so a cookie set by another server of the same origin (cookie
        # tossing, a JupyterHub risk) does not pass. Version None makes tornado (re)set the cookie.
        bound = self.identity_provider.session_xsrf_token(self)
        if bound is None:
            return super()._get_raw_xsrf_token()
        return None, bound, time.time()

    def check_xsrf(self) -> None:
        """Writes authenticated by the browser (cookie, or no auth at all) need the ``_xsrf`` token.

        Token-authenticated requests are exempt: a cross-site page cannot know the token.
        """
        if self.request.method in ("GET", "HEAD", "OPTIONS") or not self.settings.get("xsrf_cookies"):
            return
        if self.auth_method is AuthMethod.TOKEN:
            return
        try:
            super().check_xsrf_cookie()
        except web.HTTPError as exc:
            raise Forbidden(
                "XSRF check failed: send the _xsrf cookie's value as X-XSRFToken or an _xsrf form field.",
                log_detail=exc.log_message,
            ) from None

    def _request_summary(self) -> str:
        # Never the query string: it may carry the token.
        return f"{self.request.method} {self.request.path} ({self.request.remote_ip})"

    #: False on routes that machines poll or browsers call by themselves (``/api/status``, CSP
    #: reports): they must not make an idle server look used, or idle culling never happens.
    counts_as_activity = True

    def on_request_activity(self) -> None:
        tracker = self.settings.get("activity_tracker")
        if tracker is not None and self.counts_as_activity:
            tracker.touch()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """A small HTML error page: the public message only, escaped."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, message, reason = error_status_and_message(exc, status_code)
        self.set_status(status)
        set_allow_header(self, status)
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{status} {xhtml_escape(reason)}</title></head><body>"
            f"<h1>{status} {xhtml_escape(reason)}</h1><p>{xhtml_escape(message)}</p></body></html>"
        )

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, OSError) and value.errno is not None:
            # Mapped to a client status by error_status_and_message; the traceback shows where the
            # code let it escape, and its text (which holds server paths) stays here.
            mapped = error_for_os_error(value)
            log.warning("%d %s: %s", mapped.status_code, self._request_summary(), mapped.log_detail,
                        exc_info=(typ, value, tb))
            return
        if isinstance(value, NbserverError):
            # The access log already records the status; add what only the log may see.
            if value.log_detail:
                log.info("%s %s: %s (%s)", self.request.method, self.request.path,
                         value.message, value.log_detail)
            return
        if isinstance(value, web.HTTPError):
            if value.log_message:
                detail = value.log_message % value.args if value.args else value.log_message
                log.warning("%d %s: %s", value.status_code, self._request_summary(), detail)
            return
        # Unexpected errors: the traceback, but not tornado's request repr (its URI may hold the token).
        log.error("Uncaught exception %s", self._request_summary(), exc_info=(typ, value, tb))


@functools.lru_cache(maxsize=64)
def is_loopback_address(host: str) -> bool:
    """Whether ``host`` is a loopback IP address (127.0.0.0/8, ::1); False for a name.

    Kept for the few Host values a server sees (parsing the address was a thirtieth of a small
    request's CPU time); bounded, as clients choose the Host header.
    """
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def error_status_and_message(exc: BaseException | None, status_code: int) -> tuple[int, str, str]:
    """Map an exception to (status, public message, reason); one place for all handlers.

    An ``OSError`` that escaped a handler of any kind gets its status by errno
    (:func:`nbserver.errors.error_for_os_error`), with a message free of server paths.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        exc = error_for_os_error(exc)
    if isinstance(exc, NbserverError):
        return exc.status_code, exc.message, exc.reason
    reason = responses.get(status_code, "Unknown")
    if isinstance(exc, web.HTTPError):
        # The log message stays private; the public text is the reason, if one was given.
        return status_code, exc.reason or reason, reason
    if status_code >= 500:
        return status_code, "Internal server error; see the server log.", reason
    return status_code, reason, reason


class JSONErrorsMixin(web.RequestHandler):
    """Errors as ``{"message", "reason"}`` JSON: for the API, and for routes of other kinds
    (websockets, kernelspec resources) that API clients call."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, message, reason = error_status_and_message(exc, status_code)
        self.set_status(status)
        set_allow_header(self, status)
        self.set_header("Content-Type", JSON_MEDIA_TYPE)
        body: dict[str, Any] = {"message": message, "reason": reason}
        if isinstance(exc, NbserverError):
            body.update(exc.public_fields())
        self.finish(json.dumps(body))


@web.stream_request_body
class APIHandler(JSONErrorsMixin, BaseHandler):
    """A REST handler: JSON in, JSON out, JSON errors, bounded bodies."""

    #: Whether large bodies of known length are read into one buffer (see :meth:`admit_request`).
    reads_large_bodies_whole = False
    _undo_body_reader: Callable[[], None] | None = None

    def initialize(self, **kwargs: Any) -> None:
        self._body_chunks: list[bytes] = []
        self._body_size = 0
        self._body_too_large = False

    @property
    def max_body_size(self) -> int:
        return int(self.settings.get("max_body_size", 512 * 1024 * 1024))

    @property
    def content_security_policy(self) -> str:
        # A JSON reply loads nothing: Jupyter Server's API policy, the page policy plus default-src 'none'.
        page_policy = super().content_security_policy
        return f"{page_policy}; default-src 'none'" if page_policy else "default-src 'none'"

    def set_default_headers(self) -> None:
        super().set_default_headers()
        self.set_header("Content-Type", JSON_MEDIA_TYPE)
        self.set_header("Cache-Control", "no-store, no-cache, must-revalidate, max-age=0")
        self.set_cors_headers()

    def set_cors_headers(self) -> None:
        """CORS only as configured: ``allow_origin`` / ``allow_origin_pat``, ``allow_credentials``."""
        origin = self.request.headers.get("Origin")
        allow_origin = self.settings.get("allow_origin") or ""
        if not origin or not (allow_origin or self.settings.get("allow_origin_pat")):
            return
        if allow_origin == "*" and not self.settings.get("allow_credentials"):
            self.set_header("Access-Control-Allow-Origin", "*")
        elif self.origin_allowed(origin):
            self.set_header("Access-Control-Allow-Origin", origin)
            self.add_header("Vary", "Origin")
        else:
            return
        if self.settings.get("allow_credentials"):
            self.set_header("Access-Control-Allow-Credentials", "true")

    def options(self, *args: Any, **kwargs: Any) -> None:
        """A CORS preflight: browsers send it without credentials, so it needs none."""
        if self.request.headers.get("Access-Control-Request-Method"):
            self.set_header("Access-Control-Allow-Methods", CORS_ALLOWED_METHODS)
            self.set_header("Access-Control-Allow-Headers", CORS_ALLOWED_HEADERS)
            self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    def is_public_request(self) -> bool:
        # A CORS preflight: browsers send it without credentials, and it carries no data.
        return super().is_public_request() or self.request.method == "OPTIONS"

    def admit_request(self) -> None:
        self.admit()
        if self.request.method == "OPTIONS":
            return
        length = declared_length(self.request.headers)
        if length is not None and length > self.max_body_size:
            raise PayloadTooLarge(f"The request body is larger than {self.max_body_size} bytes.")
        if self.request.connection is not None and hasattr(self.request.connection, "set_max_body_size"):
            # Our own limit is enforced in data_received, which drops what exceeds it, so a
            # chunked body a little over the limit still gets a 413 JSON rather than a dropped
            # connection; far over it, tornado closes the connection.
            self.request.connection.set_max_body_size(self.max_body_size + BODY_OVERRUN_BYTES)
        if self.reads_large_bodies_whole:
            # From OFF_LOOP_BODY_BYTES the body is parsed off the event loop (large_json_body),
            # from the one buffer the socket filled (nbserver/base/bodyreader.py).
            self._undo_body_reader = read_body_whole(
                self, OFF_LOOP_BODY_BYTES, min(self.max_body_size, WHOLE_BODY_MAX_BYTES))

    def on_finish(self) -> None:
        if self._undo_body_reader is not None:
            self._undo_body_reader()
        super().on_finish()

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
        """The parsed JSON body, or None when there is none.

        413 past ``max_body_size``, 415 for a body labelled as another media type, 400 for one that
        is not strict JSON (see :func:`nbserver.jsonio.parse_client_json`: UTF-8, finite numbers,
        at most ``MAX_DEPTH`` levels).
        """
        self._check_json_media_type()
        return parse_json_body(self.body)

    def get_json_object_body(self) -> dict[str, Any] | None:
        """Like get_json_body, but the body must be a JSON object when present."""
        return json_object(self.get_json_body())

    def large_json_body(self) -> bytes | bytearray | None:
        """The whole raw body of a request whose body may be large (a notebook's save) when it is
        :data:`OFF_LOOP_BODY_BYTES` or more, for its owner to parse off the event loop (2-5 ms for
        3 MB, while other requests wait): in the thread pool, or a notebook process
        (:meth:`ContentsManager.save_body`), by :func:`nbserver.base.jsonbody.parse_json_body`.
        None for a smaller body, which :meth:`get_json_object_body` parses here. 413 past
        ``max_body_size``, 415 for a body labelled as another media type."""
        if self._body_too_large or self._body_size < OFF_LOOP_BODY_BYTES:
            return None
        self._check_json_media_type()
        chunks = self._body_chunks
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)  # one chunk: read whole

    def _check_json_media_type(self) -> None:
        if self._body_too_large:
            raise PayloadTooLarge(f"The request body is larger than {self.max_body_size} bytes.")
        content_type = self.request.headers.get("Content-Type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if self._body_size and media_type and media_type not in JSON_CONTENT_TYPES \
                and not media_type.endswith("+json") and not all(map(is_blank, self._body_chunks)):
            raise UnsupportedMediaType(f"Expected a JSON body, got Content-Type {media_type!r}.")

    def finish_body(self, body: bytes) -> None:
        """Finish with ``body``, already encoded. A large body whose ``Etag`` is set is sent after
        its headers rather than with them: tornado joins the first chunk to the header block in one
        new bytes object (``HTTP1Connection.write_headers``), a copy of the whole body on the event
        loop (0.6 ms for 3 MB here), while a later chunk goes to the socket as it is. Without a tag
        set, tornado must see the body before the headers go out (it tags it), so it is finished whole."""
        if len(body) < SEPARATE_BODY_BYTES or "Etag" not in self._headers or self._headers_written:
            self.finish(body)
            return
        self.set_header("Content-Length", len(body))
        self.flush()  # the headers alone
        self.finish(body)

    def finish_json(self, model: Any, status: int = 200) -> None:
        """Send ``model`` as strict JSON (a stored NaN or infinity goes out as null, logged)."""
        self.set_status(status)
        # ASCII-escaped: the C encoder's fast path, and bytes with no second pass to UTF-8.
        self.finish(dumps_for_client(model).encode("ascii"))


class NotFoundAPIHandler(APIHandler):
    """Catch-all under /api: unknown routes get a JSON 404, after authentication."""

    auth_resource = "api"

    def admit_request(self) -> None:
        super().admit_request()
        raise web.HTTPError(404, reason="No such API route.")


class PageHandler(BaseHandler):
    """Base of the HTML pages: login redirect, the ``?token=`` exchange, the ``_xsrf`` cookie.

    ``admit_request`` ends the request (``web.Finish``) when it redirects, so a subclass that
    extends it can go on after ``super().admit_request()`` returns.
    """

    def admit_request(self) -> None:
        self.admit()
        self.xsrf_token  # sets the _xsrf cookie that scripts send back as X-XSRFToken

    def origin_checked(self) -> bool:
        # Other sites may link to a page (a GET navigation); only writes must come from here.
        return self.request.method not in ("GET", "HEAD", "OPTIONS")

    def authenticate(self, required: bool) -> User | None:
        """The ``?token=`` exchange first, then the user as for any request."""
        if "token" in self.request.query_arguments and self.request.method in ("GET", "HEAD"):
            self.exchange_query_token()
        return super().authenticate(required)

    def refuse_unauthenticated(self) -> NoReturn:
        """A GET goes to the login page and comes back after it; other methods get 401."""
        if self.request.method in ("GET", "HEAD"):
            self.redirect(self.login_url_for(self.request.uri or self.base_url))
            raise web.Finish()
        raise self.identity_provider.missing_credentials_error("Authentication is required: log in first.")

    def login_url_for(self, next_url: str) -> str:
        """The login page (the identity provider's) leading back to ``next_url`` if it is a path here."""
        return self.identity_provider.login_url(self, safe_next_path(next_url, self.base_url))

    def url_without_token(self) -> str:
        """This request's URL path and query with the ``token`` parameter taken out."""
        query = [
            (name, value.decode("utf-8", "replace"))
            for name, values in self.request.query_arguments.items()
            if name != "token"
            for value in values
        ]
        return self.request.path + ("?" + urlencode(query) if query else "")

    def exchange_query_token(self) -> None:
        """``?token=`` on a page: trade a right token for a session cookie; drop it from the URL."""
        candidate = self.get_query_argument("token", default="")
        if self.identity_provider.token_matches(candidate):
            self.identity_provider.set_login_cookie(self)
        # Whatever the outcome, the token leaves the address bar (and so the history and Referer).
        self.set_header("Referrer-Policy", "no-referrer")
        self.redirect(self.url_without_token())
        raise web.Finish()


class StaticAssetHandler(BaseHandler, web.StaticFileHandler):
    """``/static/...``: the server's own css, scripts and icons, to anyone (the login page needs them),
    after the pipeline's Host and origin checks."""

    auth_resource = PUBLIC


def undeclared_access(handlers: Iterable[type[web.RequestHandler]]) -> list[str]:
    """Why each of ``handlers`` would escape the access pipeline; empty when none would.

    The start-up check: every routed handler derives from BaseHandler (so ``prepare`` runs the
    pipeline) and declares ``auth_resource`` (PUBLIC included), with actions from ACTIONS.
    """
    problems = []
    for handler in handlers:
        name = f"{handler.__module__}.{handler.__qualname__}"
        if not issubclass(handler, BaseHandler):
            problems.append(f"{name} does not derive from BaseHandler, so no access check runs for it")
        elif not handler.auth_resource:
            problems.append(f"{name} declares no auth_resource (a resource name, or PUBLIC)")
        elif unknown := sorted(set(handler.auth_actions.values()) - set(ACTIONS)):
            problems.append(f"{name} declares unknown actions {unknown}; known: {', '.join(ACTIONS)}")
    return problems
