"""Who is making a request: the token, the password, the session cookie and the user model.

A request is authenticated in one of three ways, recorded as ``AuthMethod``:
- ``TOKEN``: the server token in an ``Authorization: token <t>`` header (or a ``token``
  query parameter on API and websocket URLs, which browsers cannot give headers);
- ``COOKIE``: a signed session cookie, set by the login page or by a page URL's ``?token=``;
- ``ANONYMOUS``: only when the server runs with neither token nor password, which needs
  ``allow_unauthenticated``.
Cookie-authenticated writes need the XSRF token; token-authenticated ones do not.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from typing import Any, Awaitable
from urllib.parse import urlencode, urlsplit

from jupyter_core.paths import jupyter_data_dir
from tornado.web import RequestHandler
from traitlets import Bool, Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from nbserver.auth import passwords
from nbserver.auth.logscrub import MIN_SCRUBBED_LENGTH
from nbserver.auth.ratelimit import LoginRateLimiter
from nbserver.base.urls import url_path_join
from nbserver.errors import NbserverError, Unauthorized

COOKIE_SECRET_BYTES = 32


@dataclass(frozen=True)
class User:
    """The identity model of ``GET /api/me``, with Jupyter's field names."""

    username: str
    name: str = ""
    display_name: str = ""
    initials: str | None = None
    avatar_url: str | None = None
    color: str | None = None

    def to_model(self) -> dict[str, Any]:
        return asdict(self)


class AuthMethod(enum.Enum):
    """How a request proved who it is."""

    NONE = "none"
    TOKEN = "token"
    COOKIE = "cookie"
    ANONYMOUS = "anonymous"


def write_private_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by the owner only (0600), replacing it atomically."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    temp = f"{path}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


class IdentityProvider(LoggingConfigurable):
    """Authenticates requests by token, password session cookie, or (if allowed) nobody."""

    token = Unicode(
        help="Token that clients must present. When not set, a random one is generated, "
        "unless a password is set (then only the password logs in).",
    ).tag(config=True)
    hashed_password = Unicode(
        "", help="scrypt hash of the login password, as written by `nbserver password`."
    ).tag(config=True)
    allow_unauthenticated = Bool(
        False,
        help="Allow running with no token and no password: anyone who reaches the server can "
        "run code as you. Only for servers behind another authenticating layer.",
    ).tag(config=True)
    cookie_secret_file = Unicode(
        help="File holding the key that signs session cookies (default: <data dir>/nbserver_cookie_secret)."
    ).tag(config=True)
    session_max_age_days = Float(30.0, help="Days a login session cookie stays valid.").tag(config=True)
    login_max_failures = Integer(
        5, help="Failed logins a client address may make per login_failure_window before it must wait."
    ).tag(config=True)
    login_failure_window = Float(
        60.0, help="Seconds over which failed logins are counted, per client address."
    ).tag(config=True)
    username = Unicode("nbserver", help="The user name reported by /api/me.").tag(config=True)

    @default("token")
    def _default_token(self) -> str:
        if self.hashed_password:
            return ""
        return secrets.token_hex(24)

    @default("cookie_secret_file")
    def _default_cookie_secret_file(self) -> str:
        return os.path.join(jupyter_data_dir(), "nbserver_cookie_secret")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.login_limiter = LoginRateLimiter(self.login_max_failures, self.login_failure_window)
        self._cookie_secret: bytes | None = None

    # -- configuration -----------------------------------------------------------------

    @property
    def auth_enabled(self) -> bool:
        return bool(self.token or self.hashed_password)

    @property
    def login_available(self) -> bool:
        """Whether the login page can log anyone in (a password or a token to type)."""
        return self.auth_enabled

    def check_configuration(self) -> None:
        """Refuse to run unprotected unless explicitly allowed; then warn loudly. Warn of a weak token."""
        if self.token and len(self.token) < MIN_SCRUBBED_LENGTH:
            self.log.warning(
                "The token is short (%d of at least %d characters): anyone who can reach this server may "
                "guess it, and the log hides it only where it is passed (token=..., Authorization).",
                len(self.token), MIN_SCRUBBED_LENGTH,
            )
        if self.auth_enabled:
            return
        if not self.allow_unauthenticated:
            raise ValueError(
                "No token and no password: refusing to start a server anyone could use. Set a "
                "password (`nbserver password`), a token, or pass --allow-unauthenticated."
            )
        banner = "!" * 72
        self.log.warning(
            "\n%s\nAUTHENTICATION IS DISABLED: anyone who can reach this server can read your files\n"
            "and run any code as your user. Only do this behind another authenticating layer.\n%s",
            banner, banner,
        )

    @property
    def cookie_secret(self) -> bytes:
        """The session-signing key, read from (or created in) ``cookie_secret_file``, mode 0600."""
        if self._cookie_secret is None:
            path = self.cookie_secret_file
            secret = b""
            if os.path.exists(path):
                with open(path, "rb") as handle:
                    secret = handle.read().strip()
                if os.stat(path).st_mode & 0o077:
                    self.log.warning("Tightening permissions of the cookie secret file to 0600")
                    os.chmod(path, 0o600)
            if len(secret) < 32:
                secret = secrets.token_hex(COOKIE_SECRET_BYTES).encode()
                write_private_file(path, secret)
            self._cookie_secret = secret
        return self._cookie_secret

    # -- credentials -------------------------------------------------------------------

    def token_from_request(self, handler: RequestHandler) -> str | None:
        header = handler.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip()
        query_token = handler.get_query_argument("token", default=None)
        return query_token or None

    def token_matches(self, candidate: str | None) -> bool:
        if not candidate or not self.token:
            return False
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def secret_matches(self, secret: str) -> bool:
        """What the login form accepts: the password, or the token typed in its place."""
        if self.hashed_password and passwords.password_matches(secret, self.hashed_password):
            return True
        return self.token_matches(secret)

    def session_generation(self) -> str:
        """Changes whenever the password or token changes, which ends every earlier session."""
        material = f"nbserver-session\0{self.token}\0{self.hashed_password}".encode()
        return hashlib.sha256(material).hexdigest()[:32]

    def cookie_name(self, handler: RequestHandler) -> str:
        """One session cookie per port: browsers share cookies between ports of a host."""
        try:
            port = urlsplit("//" + handler.request.host).port
        except ValueError:
            port = None
        return f"nbserver-session-{port or handler.request.protocol}"

    def the_user(self) -> User:
        name = self.username
        return User(username=name, name=name, display_name=name, initials=name[:1].upper() or None)

    def anonymous_user(self) -> User:
        return User(username="anonymous", name="Anonymous", display_name="Anonymous", initials="A")

    # -- per request -------------------------------------------------------------------

    def authenticate(self, handler: RequestHandler) -> tuple[User | None, AuthMethod]:
        """The user making this request and how they proved it; (None, NONE) when they did not."""
        if self.token_matches(self.token_from_request(handler)):
            return self.the_user(), AuthMethod.TOKEN
        user = self.user_from_cookie(handler)
        if user is not None:
            return user, AuthMethod.COOKIE
        if not self.auth_enabled and self.allow_unauthenticated:
            return self.anonymous_user(), AuthMethod.ANONYMOUS
        return None, AuthMethod.NONE

    def authenticate_async(self, handler: RequestHandler) -> Awaitable[tuple[User | None, AuthMethod]] | None:
        """For a provider that must ask elsewhere (a JupyterHub): an awaitable of what
        :meth:`authenticate` answers, which the pipeline awaits first. None: ask ``authenticate``."""
        return None

    def session_xsrf_token(self, handler: RequestHandler) -> bytes | None:
        """The XSRF token bound to this request's browser session, or None for tornado's own
        (random, kept in the ``_xsrf`` cookie). None here."""
        return None

    def missing_credentials_error(self, message: str) -> NbserverError:
        """What a request that needs a user and brings no valid credentials gets: 401 here."""
        return Unauthorized(message)

    def login_url(self, handler: RequestHandler, next_path: str | None) -> str:
        """Where a browser without a session goes to log in, coming back to ``next_path`` after."""
        login = url_path_join(handler.settings.get("base_url", "/"), "login")
        return f"{login}?{urlencode({'next': next_path})}" if next_path else login

    def get_user(self, handler: RequestHandler) -> User | None:
        """Return the user making this request, or None when it is not authenticated."""
        return self.authenticate(handler)[0]

    def user_from_cookie(self, handler: RequestHandler) -> User | None:
        if not self.auth_enabled or not handler.settings.get("cookie_secret"):
            return None
        raw = handler.get_signed_cookie(
            self.cookie_name(handler), max_age_days=self.session_max_age_days, min_version=2
        )
        if not raw:
            return None
        try:
            session = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(session, dict):
            return None
        generation = str(session.get("generation", ""))
        if not hmac.compare_digest(generation.encode(), self.session_generation().encode()):
            return None
        return self.the_user()

    def set_login_cookie(self, handler: RequestHandler) -> None:
        """Start a browser session: a signed, HttpOnly, SameSite=Lax cookie (Secure over https)."""
        session = json.dumps({"generation": self.session_generation()})
        handler.set_signed_cookie(
            self.cookie_name(handler),
            session,
            expires_days=self.session_max_age_days,
            path=handler.settings.get("base_url", "/"),
            httponly=True,
            samesite="Lax",
            secure=handler.request.protocol == "https",
        )

    def clear_login_cookie(self, handler: RequestHandler) -> None:
        handler.clear_cookie(self.cookie_name(handler), path=handler.settings.get("base_url", "/"))
