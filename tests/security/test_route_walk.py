"""Every route of the application refuses requests without valid credentials.

The walk uses the tornado Application's own rules (route_table() plus what tornado adds,
such as the static routes), fills each pattern with plausible values and sends every
method the handler implements, with no credentials, a wrong token and a forged cookie.
Only the allow-list may answer: the login page, static assets, the ``/api`` version root and the
public share links (``/shared/<token>``, which open one file by a capability token; their own
tests are in tests/services/files/test_sharing.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado import web, websocket
from tornado.httpclient import HTTPClientError, HTTPRequest

from nbserver.auth.authorizer import PUBLIC
from nbserver.base.handlers import APIHandler, PageHandler
from tests.support.routes import application_routes, implemented_methods, sample_path

ALLOWED_WITHOUT_AUTH = {"APIVersionHandler", "LoginHandler", "LogoutHandler", "StaticAssetHandler",
                        "SharedFileHandler", "SharedRawHandler"}
CREDENTIAL_VARIANTS = {
    "none": {},
    "wrong token header": {"Authorization": "token not-the-server-token"},
    "wrong bearer header": {"Authorization": "Bearer not-the-server-token"},
    "forged session cookie": {"Cookie": "nbserver-session-0=2|1:0|10:1700000000|5:forge|8:e30=|deadbeef"},
}


def test_walk_covers_the_route_table(server_app, app):
    walked = {pattern for pattern, _ in application_routes(app)}
    for pattern, _ in server_app.route_table():
        assert pattern in walked


def test_only_the_allow_list_is_declared_public(app):
    public = {handler.__name__ for _, handler in application_routes(app) if handler.auth_resource == PUBLIC}
    assert public == ALLOWED_WITHOUT_AUTH


def refusal_problem(handler: type[web.RequestHandler], method: str, status: int, headers: Any,
                    body: bytes) -> str | None:
    """Why this answer is not a proper refusal, or None when it is one."""
    if issubclass(handler, APIHandler):
        if status != 401:
            return f"expected 401, got {status}"
        if method != "HEAD":
            if not headers.get("Content-Type", "").startswith("application/json"):
                return "401 without a JSON body"
            if set(json.loads(body)) != {"message", "reason"}:
                return "401 body is not {message, reason}"
        return None
    if issubclass(handler, PageHandler) and method in ("GET", "HEAD"):
        if status != 302 or not headers.get("Location", "").startswith("/login"):
            return f"expected a redirect to /login, got {status} {headers.get('Location')}"
        return None
    if status in (401, 403):
        return None
    if status == 302 and headers.get("Location", "").startswith("/login"):
        return None
    return f"expected 401/403 or a redirect to /login, got {status}"


@pytest.mark.parametrize("variant", list(CREDENTIAL_VARIANTS))
@pytest.mark.gen_test(timeout=120)
async def test_every_route_refuses_requests_without_valid_credentials(
    variant, app, http_server, http_client, base_url, populated_root
):
    problems = []
    for pattern, handler in application_routes(app):
        if handler.__name__ in ALLOWED_WITHOUT_AUTH:
            continue
        path = sample_path(pattern)
        headers = dict(CREDENTIAL_VARIANTS[variant])
        if issubclass(handler, websocket.WebSocketHandler):
            request = HTTPRequest(base_url.replace("http", "ws") + path, headers=headers, request_timeout=20)
            try:
                connection = await websocket.websocket_connect(request)
            except HTTPClientError as exc:
                if exc.code not in (401, 403):
                    problems.append(f"WS {path}: expected 401/403, got {exc.code}")
            else:
                connection.close()
                problems.append(f"WS {path}: connected without credentials")
            continue
        for method in implemented_methods(handler):
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            response = await http_client.fetch(
                base_url + path, method=method, body=body, headers=headers, raise_error=False,
                follow_redirects=False, request_timeout=20,
            )
            problem = refusal_problem(handler, method, response.code, response.headers, response.body or b"")
            if problem:
                problems.append(f"{method} {path} ({handler.__name__}): {problem}")
    assert problems == []


@pytest.mark.gen_test(timeout=60)
async def test_wrong_query_token_on_every_page_never_logs_in(app, http_server, http_client, base_url,
                                                             populated_root):
    for pattern, handler in application_routes(app):
        if not issubclass(handler, PageHandler) or handler.__name__ in ALLOWED_WITHOUT_AUTH:
            continue
        path = sample_path(pattern)
        response = await http_client.fetch(base_url + path + "?token=wrong", raise_error=False,
                                           follow_redirects=False, request_timeout=20)
        assert response.code == 302, path
        assert "token" not in response.headers["Location"], path
        assert not any(c.startswith("nbserver-session") for c in response.headers.get_list("Set-Cookie")), path


@pytest.mark.gen_test(timeout=60)
async def test_allow_list_answers_without_auth(http_server, http_client, base_url):
    for path, status in (("/api", 200), ("/login", 200), ("/static/css/nbserver.css", 200)):
        response = await http_client.fetch(base_url + path, raise_error=False, follow_redirects=False)
        assert response.code == status, path
    version = await http_client.fetch(base_url + "/api", raise_error=False)
    assert set(json.loads(version.body)) == {"version"}


@pytest.mark.gen_test(timeout=60)
async def test_wrong_query_token_on_every_api_route_is_401(app, http_server, http_client, base_url,
                                                            populated_root):
    problems = []
    for pattern, handler in application_routes(app):
        if not issubclass(handler, APIHandler) or handler.__name__ in ALLOWED_WITHOUT_AUTH:
            continue
        path = sample_path(pattern) + "?token=not-the-server-token"
        for method in implemented_methods(handler):
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            response = await http_client.fetch(base_url + path, method=method, body=body, raise_error=False,
                                               follow_redirects=False, request_timeout=20)
            if response.code != 401:
                problems.append(f"{method} {path}: {response.code}")
    assert problems == []


@pytest.mark.gen_test(timeout=60)
async def test_cors_preflight_answers_without_auth_but_grants_nothing_unconfigured(
        app, http_server, http_client, base_url, populated_root):
    """OPTIONS is the one method an API route answers unauthenticated: it carries no data."""
    for pattern, handler in application_routes(app):
        if not issubclass(handler, APIHandler):
            continue
        response = await http_client.fetch(
            base_url + sample_path(pattern), method="OPTIONS", raise_error=False, request_timeout=20,
            headers={"Access-Control-Request-Method": "PUT"})
        if handler.__name__ == "NotFoundAPIHandler":
            assert response.code == 404  # no such route, preflight or not
        else:
            assert response.code == 204, pattern
            assert not response.body
        assert "Access-Control-Allow-Origin" not in response.headers
