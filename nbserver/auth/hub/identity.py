"""Identity under JupyterHub: hub tokens, the hub's OAuth login and the ``jupyterhub-user-<name>`` cookie.

A single-user server spawned by JupyterHub has no token or password of its own. A request
proves who it is with a token the hub issued:
- API clients send it (``Authorization: token <t>`` or ``Bearer <t>``, or ``?token=``); the
  hub says whose it is (``GET <api>/user``, cached ``cache_max_age`` seconds);
- browsers log in through the hub's OAuth 2 authorization code flow with PKCE (RFC 6749 section
  4.1, RFC 7636 ``S256``): a page visited without a session redirects to the hub's authorize URL
  with a random ``state`` remembered here and in a state cookie; the hub sends the browser back to
  ``<prefix>oauth_callback`` with a code, which this server exchanges (with the PKCE verifier and
  its own token as client secret) for the user's token, kept in a signed HttpOnly cookie named
  after the OAuth client (``jupyterhub-user-<name>``) on the server's path.
Whether the hub user may use this server is the authorizer's question
(:class:`nbserver.auth.hub.authorizer.HubAuthorizer`), from the token's scopes.
Configuration comes from the ``JUPYTERHUB_*`` variables the hub's spawner sets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, fields
from typing import Any, Awaitable
from urllib.parse import urlencode

from tornado.web import RequestHandler
from traitlets import Float, List, Unicode, default

from nbserver.auth.hub.client import HubClient, HubRefused, HubUnavailable
from nbserver.auth.hub.scopes import ServerTarget, grants_access, needs_owner_groups
from nbserver.auth.identity import AuthMethod, IdentityProvider, User
from nbserver.base.urls import url_path_join
from nbserver.errors import Forbidden, InvalidInput, NbserverError, ServiceUnavailable

#: Logins in progress remembered at most; the oldest is forgotten first.
PENDING_LOGINS = 1024


def environ(name: str, fallback: str = "") -> str:
    return os.environ.get(name, "") or fallback


@dataclass(frozen=True)
class HubUser(User):
    """A hub user, with the scopes of the token they came with and their groups."""

    scopes: frozenset[str] = frozenset()
    groups: tuple[str, ...] = ()
    #: The groups of this server's owner, when a ``group=`` scope needs them.
    owner_groups: tuple[str, ...] = ()

    def to_model(self) -> dict[str, Any]:
        """Jupyter's identity model only: the scopes are the hub's business."""
        return {spec.name: getattr(self, spec.name) for spec in fields(User)}


@dataclass
class PendingLogin:
    """An OAuth login started here and not yet finished."""

    code_verifier: str
    next_path: str
    expires: float  # time.monotonic() seconds


def pkce_challenge(verifier: str) -> str:
    """The ``S256`` code challenge of ``verifier`` (RFC 7636 section 4.2): base64url, no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class HubIdentityProvider(IdentityProvider):
    """Authenticates hub users by their hub tokens (header or cookie); no token of its own."""

    hub_api_url = Unicode(help="The hub's REST API (default: $JUPYTERHUB_API_URL).").tag(config=True)
    hub_api_token = Unicode(
        help="This server's token for the hub API, also its OAuth client secret "
        "(default: $JUPYTERHUB_API_TOKEN)."
    ).tag(config=True)
    oauth_client_id = Unicode(
        help="This server's OAuth client id (default: $JUPYTERHUB_CLIENT_ID); also its cookie's name."
    ).tag(config=True)
    oauth_callback_url = Unicode(
        help="Where the hub sends browsers back with a code (default: $JUPYTERHUB_OAUTH_CALLBACK_URL)."
    ).tag(config=True)
    access_scopes = List(
        Unicode(),
        help="Scopes that grant access besides those naming this server "
        "(default: the JSON list in $JUPYTERHUB_OAUTH_ACCESS_SCOPES).",
    ).tag(config=True)
    hub_user = Unicode(help="The owner of this server (default: $JUPYTERHUB_USER).").tag(config=True)
    server_name = Unicode(help="This server's name, '' for the default one (default: $JUPYTERHUB_SERVER_NAME).").tag(
        config=True
    )
    hub_host = Unicode(
        help="Scheme and host of the hub's public URL, '' when it is this server's own (default: $JUPYTERHUB_HOST)."
    ).tag(config=True)
    hub_prefix = Unicode(help="URL path of the hub (default: $JUPYTERHUB_BASE_URL + 'hub/').").tag(config=True)
    cache_max_age = Float(
        60.0, help="Seconds a hub's answer about a token is reused; a revoked token works at most this long."
    ).tag(config=True)
    oauth_state_max_age = Float(600.0, help="Seconds a browser has to finish a hub login.").tag(config=True)

    @default("token")
    def _default_token(self) -> str:
        return ""  # the hub's tokens, never one of the server's own

    @default("hub_api_url")
    def _default_hub_api_url(self) -> str:
        return environ("JUPYTERHUB_API_URL")

    @default("hub_api_token")
    def _default_hub_api_token(self) -> str:
        return environ("JUPYTERHUB_API_TOKEN", environ("JPY_API_TOKEN"))

    @default("oauth_client_id")
    def _default_oauth_client_id(self) -> str:
        return environ("JUPYTERHUB_CLIENT_ID")

    @default("oauth_callback_url")
    def _default_oauth_callback_url(self) -> str:
        prefix = environ("JUPYTERHUB_SERVICE_PREFIX", "/")
        return environ("JUPYTERHUB_OAUTH_CALLBACK_URL", url_path_join(prefix, "oauth_callback"))

    @default("access_scopes")
    def _default_access_scopes(self) -> list[str]:
        raw = environ("JUPYTERHUB_OAUTH_ACCESS_SCOPES", environ("JUPYTERHUB_OAUTH_SCOPES", "[]"))
        try:
            scopes = json.loads(raw)
        except ValueError:
            raise ValueError("JUPYTERHUB_OAUTH_ACCESS_SCOPES is not a JSON list") from None
        return [str(scope) for scope in scopes] if isinstance(scopes, list) else []

    @default("hub_user")
    def _default_hub_user(self) -> str:
        return environ("JUPYTERHUB_USER")

    @default("server_name")
    def _default_server_name(self) -> str:
        return environ("JUPYTERHUB_SERVER_NAME")

    @default("hub_host")
    def _default_hub_host(self) -> str:
        return environ("JUPYTERHUB_HOST")

    @default("hub_prefix")
    def _default_hub_prefix(self) -> str:
        return url_path_join(environ("JUPYTERHUB_BASE_URL", "/"), "hub/")

    @default("username")
    def _default_username(self) -> str:
        return self.hub_user or "nbserver"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hub = HubClient(self.hub_api_url, self.hub_api_token, cache_seconds=self.cache_max_age)
        self.target = ServerTarget(self.hub_user, self.server_name)
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()
        self._owner_groups: tuple[float, tuple[str, ...]] = (0.0, ())

    # -- configuration -----------------------------------------------------------------

    @property
    def auth_enabled(self) -> bool:
        return True

    def check_configuration(self) -> None:
        """Refuse to start without what the hub's spawner provides."""
        missing = [name for name, value in (
            ("JUPYTERHUB_API_URL", self.hub_api_url), ("JUPYTERHUB_API_TOKEN", self.hub_api_token),
            ("JUPYTERHUB_CLIENT_ID", self.oauth_client_id), ("JUPYTERHUB_USER", self.hub_user),
        ) if not value]
        if missing:
            raise ValueError(f"Not started by JupyterHub: {', '.join(missing)} not set.")

    @property
    def cookie_secret(self) -> bytes:
        """Derived from this server's hub token: nothing written to disk, and a respawn (new token)
        ends the sessions of the previous one."""
        return hmac.new(self.hub_api_token.encode(), b"nbserver hub cookie secret", hashlib.sha256).hexdigest().encode()

    def cookie_name(self, handler: RequestHandler) -> str:
        """JupyterHub's name for a server's cookie: its OAuth client id, ``jupyterhub-user-<name>``."""
        return self.oauth_client_id

    def the_user(self) -> User:
        return HubUser(username=self.username, name=self.username, display_name=self.username,
                       initials=self.username[:1].upper() or None)

    def missing_credentials_error(self, message: str) -> NbserverError:
        """Like JupyterHub's single-user servers: 403, with the hub's kind of credentials named."""
        return Forbidden("Authentication is required: send a JupyterHub token, or log in through the hub.")

    # -- tokens ------------------------------------------------------------------------

    def token_matches(self, candidate: str | None) -> bool:
        """Whether the hub recognised ``candidate`` in this request's lookup (``?token=`` on a page)."""
        return bool(candidate) and self.hub.cached_user_for_token(candidate or "") is not None

    def secret_matches(self, secret: str) -> bool:
        return False  # no password form: logins go through the hub

    def cookie_token(self, handler: RequestHandler) -> str | None:
        raw = handler.get_signed_cookie(self.cookie_name(handler), max_age_days=self.session_max_age_days,
                                        min_version=2)
        return raw.decode("ascii", "replace") if raw else None

    def authenticate(self, handler: RequestHandler) -> tuple[User | None, AuthMethod]:
        """From answers the hub already gave (:meth:`authenticate_async` asks it)."""
        for token, method in self._credentials(handler):
            model = self.hub.cached_user_for_token(token)
            if model is not None:
                return self._user_from_model(model, ()), method
        return None, AuthMethod.NONE

    def authenticate_async(self, handler: RequestHandler) -> Awaitable[tuple[User | None, AuthMethod]] | None:
        return self._authenticate_with_hub(handler)

    def _credentials(self, handler: RequestHandler) -> list[tuple[str, AuthMethod]]:
        found = []
        token = self.token_from_request(handler)
        if token:
            found.append((token, AuthMethod.TOKEN))
        cookie = self.cookie_token(handler)
        if cookie:
            found.append((cookie, AuthMethod.COOKIE))
        return found

    async def _authenticate_with_hub(self, handler: RequestHandler) -> tuple[User | None, AuthMethod]:
        for token, method in self._credentials(handler):
            user = await self.user_for_token(token)
            if user is not None:
                return user, method
            if method is AuthMethod.COOKIE:
                self.clear_login_cookie(handler)  # expired or revoked at the hub
        return None, AuthMethod.NONE

    async def user_for_token(self, token: str) -> HubUser | None:
        """The hub user holding ``token``, None when the hub refuses it; 503 when the hub is down."""
        try:
            model = await self.hub.user_for_token(token)
        except HubUnavailable as exc:
            raise ServiceUnavailable("JupyterHub did not answer; try again shortly.", log_detail=str(exc)) from None
        if model is None:
            return None
        scopes = [str(scope) for scope in model.get("scopes") or ()]
        owner_groups: tuple[str, ...] = ()
        if model["name"] != self.target.owner and needs_owner_groups(scopes):
            owner_groups = await self.owner_groups()
        return self._user_from_model(model, owner_groups)

    def _user_from_model(self, model: dict[str, Any], owner_groups: tuple[str, ...]) -> HubUser:
        name = str(model["name"])
        groups = tuple(str(group) for group in model.get("groups") or ())
        return HubUser(
            username=name, name=name, display_name=name, initials=name[:1].upper() or None,
            scopes=frozenset(str(scope) for scope in model.get("scopes") or ()), groups=groups,
            owner_groups=groups if name == self.target.owner else owner_groups,
        )

    async def owner_groups(self) -> tuple[str, ...]:
        """The groups of this server's owner (cached like token answers); empty if the hub won't say."""
        expires, groups = self._owner_groups
        if expires < time.monotonic():
            try:
                groups = tuple(await self.hub.user_groups(self.target.owner))
            except HubUnavailable as exc:
                self.log.warning("Could not read the groups of %s: %s", self.target.owner, exc)
                groups = ()
            self._owner_groups = (time.monotonic() + self.cache_max_age, groups)
        return groups

    def grants_access(self, user: User) -> bool:
        """Whether ``user`` holds a scope that lets them use this server."""
        if not isinstance(user, HubUser):
            return False
        if user.scopes & set(self.access_scopes):
            return True
        return grants_access(user.scopes, self.target, user.owner_groups)

    # -- browser sessions --------------------------------------------------------------

    def _cookie_options(self, handler: RequestHandler) -> dict[str, Any]:
        https = handler.request.protocol == "https" or handler.request.headers.get("X-Forwarded-Proto") == "https"
        return {"path": handler.settings.get("base_url", "/"), "httponly": True, "samesite": "Lax",
                "secure": https}

    def store_token_cookie(self, handler: RequestHandler, token: str) -> None:
        """The browser's session: the user's hub token in a signed cookie on this server's path."""
        handler.set_signed_cookie(self.cookie_name(handler), token, expires_days=self.session_max_age_days,
                                  **self._cookie_options(handler))

    def session_xsrf_token(self, handler: RequestHandler) -> bytes | None:
        """Derived from the hub cookie's token: on a hub's shared origin, another user's server can
        set an ``_xsrf`` cookie on this server's path, but cannot compute this value."""
        token = self.cookie_token(handler)
        if not token:
            return None
        return hmac.new(self.cookie_secret, b"xsrf\0" + token.encode(), hashlib.sha256).digest()[:16]

    def set_login_cookie(self, handler: RequestHandler) -> None:
        """Keep the request's (hub-approved) ``?token=`` as the browser's session."""
        token = self.token_from_request(handler)
        if token:
            self.store_token_cookie(handler, token)

    def clear_login_cookie(self, handler: RequestHandler) -> None:
        handler.clear_cookie(self.cookie_name(handler), path=handler.settings.get("base_url", "/"))

    def state_cookie_name(self, state: str) -> str:
        """One state cookie per login in progress, so two tabs logging in at once both finish."""
        return f"{self.oauth_client_id}-oauth-state-{hashlib.sha256(state.encode()).hexdigest()[:12]}"

    def login_url(self, handler: RequestHandler, next_path: str | None) -> str:
        """Start a hub login: remember a state and a PKCE verifier, and send the hub's authorize URL."""
        now = time.monotonic()
        while self._pending and (len(self._pending) >= PENDING_LOGINS or next(iter(self._pending.values())).expires < now):
            self._pending.popitem(last=False)
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        base_url = handler.settings.get("base_url", "/")
        self._pending[state] = PendingLogin(verifier, next_path or base_url, now + self.oauth_state_max_age)
        handler.set_signed_cookie(self.state_cookie_name(state), state, expires_days=None,
                                  max_age=int(self.oauth_state_max_age), **self._cookie_options(handler))
        query = urlencode({
            "client_id": self.oauth_client_id, "redirect_uri": self.oauth_callback_url, "response_type": "code",
            "state": state, "code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256",
        })
        return f"{self.hub_host}{url_path_join(self.hub_prefix, 'api/oauth2/authorize')}?{query}"

    async def finish_login(self, handler: RequestHandler, code: str, state: str) -> str:
        """The OAuth callback: check ``state`` against the browser's cookie, exchange ``code``, start
        the session; returns where to go next. 400 for a stale or foreign state, 403 when the hub
        user may not use this server, 503 when the hub does not answer."""
        cookie_name = self.state_cookie_name(state)
        cookie = handler.get_signed_cookie(cookie_name, max_age_days=1, min_version=2)
        handler.clear_cookie(cookie_name, path=handler.settings.get("base_url", "/"))
        pending = self._pending.pop(state, None)
        if cookie is None or not hmac.compare_digest(cookie, state.encode()) or pending is None \
                or pending.expires < time.monotonic():
            raise InvalidInput("This login link is stale or was started elsewhere; open the page again.")
        try:
            token = await self.hub.token_for_code(code, pending.code_verifier, self.oauth_client_id,
                                                  self.oauth_callback_url)
        except HubRefused as exc:
            raise InvalidInput("JupyterHub refused this login code; open the page again.", log_detail=str(exc)) from None
        except HubUnavailable as exc:
            raise ServiceUnavailable("JupyterHub did not complete the login; try again.", log_detail=str(exc)) from None
        user = await self.user_for_token(token)
        if user is None or not self.grants_access(user):
            name = user.username if user is not None else "this user"
            raise Forbidden(f"{name} may not use this server.")
        self.store_token_cookie(handler, token)
        return pending.next_path

    def hub_logout_url(self) -> str:
        return f"{self.hub_host}{url_path_join(self.hub_prefix, 'logout')}"


def hub_identity_provider(provider: IdentityProvider) -> HubIdentityProvider:
    """``provider``, which the hub mode's routes and app need to be a :class:`HubIdentityProvider`."""
    if not isinstance(provider, HubIdentityProvider):
        raise TypeError(f"the JupyterHub mode needs the HubIdentityProvider, not {type(provider).__name__}")
    return provider
