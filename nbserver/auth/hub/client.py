"""Calls to the JupyterHub REST API that a single-user server makes, with a TTL cache of token checks.

The calls (JupyterHub's REST API document and its ``jupyterhub.services.auth``):
- ``GET <api>/user`` with ``Authorization: token <t>``: whose token ``t`` is, with its ``scopes``
  and ``groups``; 403 (or 401) when the token is not valid;
- ``GET <api>/users/<name>``: another user's model (for group-filtered scopes);
- ``POST <api>/oauth2/token``: the OAuth 2 authorization code exchanged for a token
  (RFC 6749 section 4.1.3, with the PKCE ``code_verifier`` of RFC 7636);
- ``POST`` to the activity URL: the server's last activity, for the hub's culler;
- ``GET <api>/``: the hub's version, in its ``X-JupyterHub-Version`` header.
Every call except the token check authenticates with the server's own token
(``JUPYTERHUB_API_TOKEN``). A hub that cannot be reached raises :class:`HubUnavailable`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from nbserver.base.urls import url_path_join

#: Tokens remembered at most (oldest dropped first), so unknown tokens cannot fill the memory.
TOKEN_CACHE_ENTRIES = 1024


class HubUnavailable(Exception):
    """The hub did not answer, or answered with an error that says nothing about the credentials."""


class HubRefused(Exception):
    """The hub refused what was asked (an OAuth code that is unknown, used or not for this client)."""


class HubClient:
    """The hub's REST API at ``api_url`` (``.../hub/api``), as the server holding ``api_token``."""

    def __init__(self, api_url: str, api_token: str, cache_seconds: float = 60.0,
                 request_timeout: float = 20.0) -> None:
        self.api_url = api_url
        self.api_token = api_token
        self.cache_seconds = cache_seconds
        self.request_timeout = request_timeout
        self._token_cache: OrderedDict[str, tuple[float, dict[str, Any] | None]] = OrderedDict()

    async def _call(self, method: str, url: str, token: str | None = None, body: bytes | None = None,
                    content_type: str = "application/json") -> HTTPResponse:
        headers = {"Authorization": f"token {token or self.api_token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = HTTPRequest(url, method=method, headers=headers, body=body, follow_redirects=False,
                              connect_timeout=self.request_timeout, request_timeout=self.request_timeout)
        try:
            return await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise HubUnavailable(f"{method} {url}: {exc}") from exc

    def _api(self, *pieces: str) -> str:
        return url_path_join(self.api_url, *pieces)

    @staticmethod
    def _json(response: HTTPResponse, what: str) -> Any:
        if response.code >= 400 or response.code < 200:
            raise HubUnavailable(f"{what}: HTTP {response.code}")
        try:
            return json.loads(response.body)
        except ValueError as exc:
            raise HubUnavailable(f"{what}: not JSON") from exc

    async def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The hub's model of the user holding ``token`` (with ``scopes`` and ``groups``), None when
        the hub refuses the token. Answers, refusals included, are cached ``cache_seconds``."""
        key = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        cached = self._token_cache.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        response = await self._call("GET", self._api("user"), token=token)
        model: dict[str, Any] | None
        if response.code in (401, 403, 404):
            model = None
        else:
            found = self._json(response, "token check")
            model = found if isinstance(found, dict) and isinstance(found.get("name"), str) else None
        self._token_cache[key] = (now + self.cache_seconds, model)
        self._token_cache.move_to_end(key)
        while len(self._token_cache) > TOKEN_CACHE_ENTRIES:
            self._token_cache.popitem(last=False)
        return model

    def cached_user_for_token(self, token: str) -> dict[str, Any] | None:
        """The cached answer of :meth:`user_for_token`, without asking the hub."""
        cached = self._token_cache.get(hashlib.sha256(token.encode("utf-8", "replace")).hexdigest())
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    async def user_groups(self, name: str) -> list[str]:
        """The groups of user ``name``; empty when this server's token may not read them."""
        response = await self._call("GET", self._api("users", quote(name, safe="")))
        if response.code in (401, 403, 404):
            return []
        model = self._json(response, "user groups")
        groups = model.get("groups") if isinstance(model, dict) else None
        return [group for group in groups if isinstance(group, str)] if isinstance(groups, list) else []

    async def token_for_code(self, code: str, code_verifier: str, client_id: str, redirect_uri: str) -> str:
        """Exchange an OAuth authorization ``code`` for the user's token (the client secret is the
        server's own token, as JupyterHub registers it)."""
        form = urlencode({
            "grant_type": "authorization_code", "code": code, "code_verifier": code_verifier,
            "client_id": client_id, "client_secret": self.api_token, "redirect_uri": redirect_uri,
        }).encode()
        response = await self._call("POST", self._api("oauth2/token"), body=form,
                                    content_type="application/x-www-form-urlencoded")
        if 400 <= response.code < 500:
            raise HubRefused(f"OAuth code exchange: HTTP {response.code}")
        reply = self._json(response, "OAuth code exchange")
        token = reply.get("access_token") if isinstance(reply, dict) else None
        if not isinstance(token, str) or not token:
            raise HubUnavailable("OAuth code exchange: no access_token in the reply")
        return token

    async def post_activity(self, activity_url: str, payload: dict[str, Any]) -> None:
        """Report activity (JupyterHub's ``POST /users/<name>/activity`` body)."""
        response = await self._call("POST", activity_url, body=json.dumps(payload).encode())
        if response.code >= 300:
            raise HubUnavailable(f"activity report: HTTP {response.code}")

    async def hub_version(self) -> str | None:
        """The hub's ``X-JupyterHub-Version`` header (None when it sends none)."""
        response = await self._call("GET", self.api_url)
        if response.code >= 500:
            raise HubUnavailable(f"version check: HTTP {response.code}")
        return response.headers.get("X-JupyterHub-Version")
