"""One access pipeline for every kind of route (API, page, websocket, resource files), in order:
Host, origin, authentication, authorization, activity.

Two walks over the Application's own rules with valid credentials: a deny-all authorizer
must get a 403 from every route that is not public, websockets before the upgrade; an
authorizer that refuses only ``contents:read`` must close exactly the routes that show
contents (``/files``, ``/view``, ``/nbconvert``, the other pages, ``/api/contents``).
"""

from __future__ import annotations

import json
from typing import Any

import nbformat
import pytest
from tornado import websocket
from tornado.httpclient import HTTPClientError, HTTPRequest

from nbserver.auth.authorizer import PUBLIC, Authorizer
from nbserver.base.handlers import JSONErrorsMixin, PageHandler
from tests.support.routes import KERNEL_ID, application_routes, implemented_methods, sample_path

#: Where contents are shown; an authorizer that refuses contents:read must close each of them.
CONTENTS_ROUTES = ("/api/contents", "/api/resolvePath", "/api/files", "/api/fileid", "/api/trash", "/api/search",
                   "/files/", "/view/", "/nbconvert/", "/edit/", "/notebooks/", "/tree", "/api/notebooks",
                   "/rstservice/", "/new", "/copy/")


class DenyAllAuthorizer(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return False


class NoContentsReadAuthorizer(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return (resource, action) != ("contents", "read")


def shows_contents(path: str) -> bool:
    return path == "/" or path.startswith(CONTENTS_ROUTES)


def guarded_routes(app: Any) -> list[tuple[str, type]]:
    """(sample path, handler) of every route that is not public, websockets included."""
    return [(sample_path(pattern), handler) for pattern, handler in application_routes(app)
            if handler.auth_resource != PUBLIC]


async def websocket_status(base_url: str, path: str, token: str) -> int:
    """The HTTP status that refused the upgrade, or 101 when the socket opened."""
    request = HTTPRequest(base_url.replace("http", "ws") + path, headers={"Authorization": f"token {token}"},
                          request_timeout=20)
    try:
        connection = await websocket.websocket_connect(request)
    except HTTPClientError as exc:
        return exc.code
    connection.close()
    return 101


async def fetch_as_user(http_client: Any, base_url: str, path: str, method: str, token: str) -> Any:
    """The response to ``method path`` sent with the server token (an empty JSON object as a body)."""
    return await http_client.fetch(
        base_url + path, method=method, body=b"{}" if method in ("POST", "PUT", "PATCH") else None,
        raise_error=False, follow_redirects=False, headers={"Authorization": f"token {token}"},
        request_timeout=20)


def refusal_problem(handler: type, method: str, status: int, headers: Any, body: bytes) -> str | None:
    """Why this answer is not a 403 of the handler's kind (JSON or an HTML page), or None."""
    if status != 403:
        return f"expected 403, got {status}"
    if method == "HEAD":
        return None
    content_type = headers.get("Content-Type", "")
    if issubclass(handler, PageHandler):
        return None if content_type.startswith("text/html") else f"403 page as {content_type}"
    if issubclass(handler, JSONErrorsMixin):
        if not content_type.startswith("application/json"):
            return f"403 as {content_type}, not JSON"
        if set(json.loads(body)) != {"message", "reason"}:
            return "403 body is not {message, reason}"
    return None


@pytest.mark.parametrize("server_config", [{"authorizer_class": DenyAllAuthorizer}])
@pytest.mark.gen_test(timeout=120)
async def test_deny_all_authorizer_refuses_every_route_and_method(
        server_config, app, http_server, http_client, base_url, token, populated_root):
    problems, walked = [], 0
    for path, handler in guarded_routes(app):
        if issubclass(handler, websocket.WebSocketHandler):
            status = await websocket_status(base_url, path, token)
            if status != 403:
                problems.append(f"WS {path}: expected 403 before the upgrade, got {status}")
            walked += 1
            continue
        for method in implemented_methods(handler):
            response = await fetch_as_user(http_client, base_url, path, method, token)
            problem = refusal_problem(handler, method, response.code, response.headers, response.body or b"")
            if problem:
                problems.append(f"{method} {path} ({handler.__name__}): {problem}")
            walked += 1
    assert problems == []
    assert walked > 40
    assert {p.name for p in populated_root.iterdir()} == {"a.ipynb", "sub"}  # nothing was written


@pytest.mark.parametrize("server_config", [{"authorizer_class": NoContentsReadAuthorizer}])
@pytest.mark.gen_test(timeout=120)
async def test_refusing_contents_read_closes_exactly_the_routes_that_show_contents(
        server_config, app, http_server, http_client, base_url, token, populated_root):
    problems, refused, answered = [], set(), set()
    for path, handler in guarded_routes(app):
        if issubclass(handler, websocket.WebSocketHandler):
            status = await websocket_status(base_url, path, token)
            (refused if status == 403 else answered).add(path)
            continue
        for method in {"GET", "HEAD"} & set(implemented_methods(handler)):  # reads only: no side effects
            response = await fetch_as_user(http_client, base_url, path, method, token)
            (refused if response.code == 403 else answered).add(path)
            if response.code >= 500:
                problems.append(f"{method} {path}: {response.code}")
    assert problems == []
    assert refused == {path for path in refused | answered if shows_contents(path)}
    assert {"/files/a.ipynb", "/view/a.ipynb", "/nbconvert/html/a.ipynb", "/api/contents/a.ipynb/"} <= refused
    assert {"/api/status", "/api/kernelspecs", "/api/sessions/", "/api/me"} <= answered


@pytest.mark.parametrize("server_config", [{"authorizer_class": NoContentsReadAuthorizer}])
@pytest.mark.gen_test(timeout=60)
async def test_pages_refused_by_the_authorizer_are_403_html_pages_without_the_file(server_config, api, root_dir):
    (root_dir / "secret.txt").write_text("the secret")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("the secret")]
    nbformat.write(nb, str(root_dir / "secret.ipynb"))
    for path in ("files/secret.txt", "view/secret.txt", "nbconvert/html/secret.ipynb",
                 "files/secret.txt?download=1", "edit/secret.txt", "notebooks/secret.ipynb", "tree"):
        response = await api.get(path, headers={"Range": "bytes=0-3"})
        assert response.status == 403, path
        assert response.headers["Content-Type"].startswith("text/html"), path
        assert b"You may not read contents." in response.body, path
        assert b"the secret" not in response.body, path
        assert "Content-Disposition" not in response.headers, path


class NoNbconvertAuthorizer(Authorizer):
    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "nbconvert"


@pytest.mark.parametrize("server_config", [{"authorizer_class": NoNbconvertAuthorizer}])
@pytest.mark.gen_test(timeout=60)
async def test_the_nbconvert_page_also_needs_nbconvert_read(server_config, api, root_dir):
    nbformat.write(nbformat.v4.new_notebook(), str(root_dir / "a.ipynb"))
    assert (await api.get("files/a.ipynb")).status == 200
    refused = await api.get("nbconvert/html/a.ipynb")
    assert refused.status == 403
    assert b"You may not read nbconvert." in refused.body


# -- the order of the checks ------------------------------------------------------------------

FOREIGN_HOST_PATHS = ("/api/status", "/tree", "/files/a.ipynb", "/static/css/nbserver.css",
                      "/kernelspecs/python3/logo-64x64.png", "/login")


@pytest.mark.gen_test(timeout=60)
async def test_host_is_checked_before_anything_else_on_every_kind_of_route(
        http_server, http_client, base_url, populated_root):
    port = base_url.rsplit(":", 1)[1]
    for path in FOREIGN_HOST_PATHS:  # no credentials: a 401 or a login redirect would mean auth came first
        response = await http_client.fetch(base_url + path, headers={"Host": f"rebound.example:{port}"},
                                           raise_error=False, follow_redirects=False)
        assert response.code == 403, path
    request = HTTPRequest(base_url.replace("http", "ws") + f"/api/kernels/{KERNEL_ID}/channels",
                          headers={"Host": f"rebound.example:{port}"})
    with pytest.raises(HTTPClientError) as raised:
        await websocket.websocket_connect(request)
    assert raised.value.code == 403


@pytest.mark.gen_test(timeout=60)
async def test_origin_is_checked_before_authentication(http_server, http_client, base_url, populated_root):
    evil = {"Origin": "https://evil.example"}
    for method, path in (("GET", "/api/status"), ("GET", "/kernelspecs/python3/logo-64x64.png"),
                         ("POST", "/logout")):
        response = await http_client.fetch(base_url + path, method=method, headers=evil, raise_error=False,
                                           body=b"" if method == "POST" else None, follow_redirects=False)
        assert response.code == 403, path
    request = HTTPRequest(base_url.replace("http", "ws") + f"/api/kernels/{KERNEL_ID}/channels", headers=evil)
    with pytest.raises(HTTPClientError) as raised:
        await websocket.websocket_connect(request)
    assert raised.value.code == 403


@pytest.mark.parametrize("server_config", [{"authorizer_class": DenyAllAuthorizer}])
@pytest.mark.gen_test(timeout=60)
async def test_authentication_comes_before_authorization(server_config, http_server, http_client, base_url):
    api_answer = await http_client.fetch(base_url + "/api/status", raise_error=False)
    assert api_answer.code == 401
    page_answer = await http_client.fetch(base_url + "/files/a.txt", raise_error=False, follow_redirects=False)
    assert page_answer.code == 302 and page_answer.headers["Location"].startswith("/login")


@pytest.mark.parametrize("server_config", [{"authorizer_class": DenyAllAuthorizer}])
@pytest.mark.gen_test(timeout=60)
async def test_refused_and_public_requests_are_no_activity(server_config, server_app, api):
    tracker = server_app.activity_tracker
    tracker.last_activity = 0.0
    assert (await api.get("api/status")).status == 403
    assert (await api.get("tree")).status == 403
    assert (await api.get("login", authenticated=False)).status == 200
    assert (await api.get("api", authenticated=False)).status == 200
    assert tracker.last_activity == 0.0


@pytest.mark.gen_test(timeout=60)
async def test_admitted_requests_are_activity(server_app, api):
    tracker = server_app.activity_tracker
    for path in ("api/contents", "tree", "kernelspecs/python3/logo-64x64.png"):
        tracker.last_activity = 0.0
        assert (await api.get(path)).status == 200, path
        assert tracker.last_activity > 0.0, path
    tracker.last_activity = 0.0  # polling the status is admitted but is not activity (Jupyter Server's rule)
    assert (await api.get("api/status")).status == 200
    assert tracker.last_activity == 0.0
