"""A tiny stand-in for JupyterHub's REST API, for fast tests of the hub mode.

It answers what a single-user server asks a hub (``GET /hub/api/``, ``/hub/api/user``,
``/hub/api/users/<name>``, ``POST /hub/api/oauth2/token``, ``/hub/api/users/<name>/activity``)
and plays the browser side of ``/hub/api/oauth2/authorize`` for one logged-in user, checking
PKCE like the real hub. Tests change its users and tokens and read what it recorded.
The real JupyterHub runs in tests/hub/.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest
from tornado import httpserver, web
from tornado.testing import bind_unused_port

SERVER_TOKEN = "server-token-for-alice"
CLIENT_ID = "jupyterhub-user-alice"
HUB_VERSION = "6.1.1"
PREFIX = "/user/alice/"  # alice's server, JUPYTERHUB_SERVICE_PREFIX


@dataclass
class FakeHubState:
    """What the fake hub knows and what it saw."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> model (groups...)
    tokens: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # token -> (user, scopes)
    logged_in: str | None = None  # whom /authorize issues codes for
    login_scopes: list[str] = field(default_factory=list)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    token_checks: int = 0
    activity: list[dict[str, Any]] = field(default_factory=list)
    version: str | None = HUB_VERSION

    def issue_token(self, user: str, scopes: list[str]) -> str:
        token = secrets.token_hex(16)
        self.tokens[token] = (user, scopes)
        return token


class FakeHubHandler(web.RequestHandler):
    def initialize(self, state: FakeHubState) -> None:
        self.state = state

    def prepare(self) -> None:
        if self.state.version:
            self.set_header("X-JupyterHub-Version", self.state.version)

    def bearer(self) -> str:
        return self.request.headers.get("Authorization", "").partition(" ")[2]

    def check_xsrf_cookie(self) -> None:
        pass

    def write_json(self, model: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(model))


class RootHandler(FakeHubHandler):
    def get(self) -> None:
        self.write_json({"version": self.state.version})


class SelfHandler(FakeHubHandler):
    def get(self) -> None:
        self.state.token_checks += 1
        found = self.state.tokens.get(self.bearer())
        if found is None:
            self.write_json({"status": 403, "message": "Forbidden"}, 403)
            return
        name, scopes = found
        model = dict(self.state.users.get(name, {"name": name, "groups": []}))
        self.write_json({**model, "name": name, "kind": "user", "scopes": scopes})


class UserHandler(FakeHubHandler):
    def get(self, name: str) -> None:
        if self.bearer() != SERVER_TOKEN or name not in self.state.users:
            self.write_json({"status": 404, "message": "Not found"}, 404)
            return
        self.write_json(self.state.users[name])


class ActivityHandler(FakeHubHandler):
    def post(self, name: str) -> None:
        if self.bearer() != SERVER_TOKEN:
            self.write_json({"status": 403, "message": "Forbidden"}, 403)
            return
        self.state.activity.append({"user": name, **json.loads(self.request.body)})
        self.set_status(204)
        self.finish()


class AuthorizeHandler(FakeHubHandler):
    """The hub's authorize page for a logged-in user who consents: redirect back with a code."""

    def get(self) -> None:
        if self.state.logged_in is None:
            self.write_json({"status": 403, "message": "not logged in"}, 403)
            return
        assert self.get_argument("client_id") == CLIENT_ID and self.get_argument("response_type") == "code"
        assert self.get_argument("code_challenge_method") == "S256"
        code = secrets.token_hex(8)
        self.state.codes[code] = {"challenge": self.get_argument("code_challenge"),
                                  "redirect_uri": self.get_argument("redirect_uri")}
        query = urlencode({"code": code, "state": self.get_argument("state")})
        self.redirect(f"{self.get_argument('redirect_uri')}?{query}")


class TokenHandler(FakeHubHandler):
    def post(self) -> None:
        form = {name: self.get_body_argument(name, default="") for name in
                ("grant_type", "code", "code_verifier", "client_id", "client_secret", "redirect_uri")}
        issued = self.state.codes.pop(form["code"], None)
        digest = hashlib.sha256(form["code_verifier"].encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if (issued is None or form["grant_type"] != "authorization_code" or form["client_id"] != CLIENT_ID
                or form["client_secret"] != SERVER_TOKEN or challenge != issued["challenge"]
                or form["redirect_uri"] != issued["redirect_uri"] or self.state.logged_in is None):
            self.write_json({"error": "invalid_grant"}, 400)
            return
        token = self.state.issue_token(self.state.logged_in, self.state.login_scopes)
        self.write_json({"access_token": token, "token_type": "Bearer"})


class FakeHub:
    """The fake hub's server on 127.0.0.1; ``api_url`` is what JUPYTERHUB_API_URL would say."""

    def __init__(self) -> None:
        self.state = FakeHubState()
        kwargs = {"state": self.state}
        app = web.Application([
            (r"/hub/api/?", RootHandler, kwargs),
            (r"/hub/api/user", SelfHandler, kwargs),
            (r"/hub/api/users/([^/]+)", UserHandler, kwargs),
            (r"/hub/api/users/([^/]+)/activity", ActivityHandler, kwargs),
            (r"/hub/api/oauth2/authorize", AuthorizeHandler, kwargs),
            (r"/hub/api/oauth2/token", TokenHandler, kwargs),
        ])
        sock, self.port = bind_unused_port()
        self.socket: socket.socket = sock
        self.server = httpserver.HTTPServer(app)
        self.server.add_sockets([sock])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/hub/api"

    def environment(self, service_url: str = "http://127.0.0.1:0/user/alice/") -> dict[str, str]:
        """The JUPYTERHUB_* variables a spawner would set for alice's default server."""
        return {
            "JUPYTERHUB_API_URL": self.api_url,
            "JUPYTERHUB_API_TOKEN": SERVER_TOKEN,
            "JUPYTERHUB_CLIENT_ID": CLIENT_ID,
            "JUPYTERHUB_USER": "alice",
            "JUPYTERHUB_SERVER_NAME": "",
            "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
            "JUPYTERHUB_SERVICE_URL": service_url,
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_HOST": self.url,
            "JUPYTERHUB_OAUTH_CALLBACK_URL": "/user/alice/oauth_callback",
            "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps(["access:servers!server=alice/",
                                                          "access:servers!user=alice"]),
            "JUPYTERHUB_ACTIVITY_URL": f"{self.api_url}/users/alice/activity",
        }

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def fake_hub(io_loop: Any) -> Iterator[FakeHub]:
    """A fake hub knowing alice (in group ``team``) and bob; import it into a test module to use it."""
    hub = FakeHub()
    hub.state.users["alice"] = {"name": "alice", "groups": ["team"]}
    hub.state.users["bob"] = {"name": "bob", "groups": []}
    yield hub
    hub.stop()


@pytest.fixture
def hub_env(fake_hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The spawner's environment for alice's server, pointing at the fake hub."""
    env = fake_hub.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


async def through_the_hub(browser: Any, fake_hub: FakeHub, user: str = "alice", start: str = PREFIX + "tree") -> str:
    """The first two legs of a login, as a browser follows them: the page sends it to the hub,
    the hub (where ``user`` is logged in) sends it back; returns the callback URL."""
    fake_hub.state.logged_in = user
    fake_hub.state.login_scopes = [f"access:servers!server={user}/"]
    to_hub = await browser.get(start)
    back = await browser.get(to_hub.headers["Location"])
    assert back.status == 302, back.body
    return str(back.headers["Location"])


async def log_in(browser: Any, fake_hub: FakeHub, start: str = PREFIX + "tree") -> Any:
    """A whole login; returns the callback's response."""
    return await browser.get(await through_the_hub(browser, fake_hub, start=start))
