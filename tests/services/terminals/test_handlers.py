"""/api/terminals and /terminals/websocket/<name> against an in-process server with real shells."""

from __future__ import annotations

import os
import re

import pytest
from tornado import websocket
from tornado.httpclient import HTTPClientError, HTTPRequest

from tests.support.terminal_client import TerminalWebsocketClient, terminal_ws_url

pytestmark = pytest.mark.timeout(90)

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def assert_model(model: dict, name: str) -> None:
    assert set(model) == {"name", "last_activity"}
    assert model["name"] == name
    assert TIMESTAMP.fullmatch(model["last_activity"]), model["last_activity"]


async def ws_refusal(base_url: str, name: str, headers: dict[str, str]) -> int | None:
    """The status a websocket connection attempt is refused with, or None if it connected."""
    request = HTTPRequest(terminal_ws_url(base_url, name), headers=headers, request_timeout=20)
    try:
        connection = await websocket.websocket_connect(request)
    except HTTPClientError as exc:
        return exc.code
    connection.close()
    return None


# -- REST ----------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_post_starts_a_terminal_listed_and_got_by_name(api, start_terminal):
    model = await start_terminal()
    assert_model(model, "1")
    second = await start_terminal()
    assert second["name"] == "2"
    listed = (await api.get("api/terminals")).json()
    assert sorted(item["name"] for item in listed) == ["1", "2"]
    for item in listed:
        assert_model(item, item["name"])
    got = await api.get("api/terminals/1")
    assert got.status == 200 and got.headers["Content-Type"].startswith("application/json")
    assert_model(got.json(), "1")


@pytest.mark.gen_test(timeout=60)
async def test_post_with_a_name_uses_it_and_a_taken_name_is_409(start_terminal, api):
    assert (await start_terminal(name="work_1"))["name"] == "work_1"
    response = await api.post("api/terminals", {"name": "work_1"})
    assert response.status == 409
    assert response.json()["message"] == "Terminal already exists: work_1"


@pytest.mark.gen_test(timeout=60)
async def test_delete_closes_the_terminal_and_its_name_is_then_404(api, start_terminal):
    await start_terminal()
    response = await api.delete("api/terminals/1")
    assert response.status == 204 and not response.body
    assert (await api.get("api/terminals")).json() == []
    for method in ("GET", "DELETE"):
        response = await api.request(method, "api/terminals/1")
        assert response.status == 404
        assert response.json() == {"message": "Terminal not found: 1", "reason": "Not Found"}


@pytest.mark.gen_test(timeout=60)
async def test_unknown_name_is_404_json(api, terminal_app):
    response = await api.get("api/terminals/nosuch")
    assert response.status == 404
    assert response.json() == {"message": "Terminal not found: nosuch", "reason": "Not Found"}


@pytest.mark.parametrize("body, message", [
    ({"cwd": "missing"}, "is not a folder inside the server's root"),
    ({"cwd": "notes.txt"}, "is not a folder inside the server's root"),
    ({"cwd": "../outside"}, "'..'"),
    ({"cwd": "escape"}, "is not a folder inside the server's root"),
    ({"cwd": 3}, "'cwd' must be a string"),
    ({"name": "a b"}, "letters, digits or underscores"),
    ({"name": ["x"]}, "'name' must be a string"),
])
@pytest.mark.gen_test(timeout=60)
async def test_bad_cwd_or_name_is_400_without_server_paths(api, terminal_app, root_dir, tmp_path, body, message):
    (root_dir / "notes.txt").write_text("text")
    (tmp_path / "outside").mkdir(exist_ok=True)
    if not (root_dir / "escape").exists():
        (root_dir / "escape").symlink_to(tmp_path / "outside")
    response = await api.post("api/terminals", body)
    assert response.status == 400, response.body
    assert message in response.json()["message"]
    assert str(tmp_path) not in response.body.decode()
    assert (await api.get("api/terminals")).json() == []


@pytest.mark.gen_test(timeout=60)
async def test_body_that_is_not_an_object_is_400(api, terminal_app):
    response = await api.post("api/terminals", raw_body=b"[1]")
    assert response.status == 400


# -- the websocket -------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_echo_over_the_websocket(start_terminal, connect_terminal):
    await start_terminal()
    client = await connect_terminal("1")
    assert client.messages == [] or client.messages[0] == ["setup", {}]
    assert await client.run("echo hello", "done") == "hello\n"
    assert client.messages[0] == ["setup", {}]


@pytest.mark.gen_test(timeout=60)
async def test_shell_starts_in_the_root_or_the_given_cwd(start_terminal, connect_terminal, root_dir):
    (root_dir / "sub dir" / "deeper").mkdir(parents=True)
    await start_terminal()
    await start_terminal(cwd="/sub dir/deeper/")
    in_root = await connect_terminal("1")
    in_sub = await connect_terminal("2")
    assert await in_root.run("pwd", "cwd") == f"{os.path.realpath(root_dir)}\n"
    assert await in_sub.run("pwd", "cwd") == f"{os.path.realpath(root_dir / 'sub dir' / 'deeper')}\n"


@pytest.mark.gen_test(timeout=60)
async def test_set_size_resizes_the_pty_to_the_smallest_client(start_terminal, connect_terminal):
    await start_terminal()
    first = await connect_terminal("1")
    first.send(["set_size", 33, 120, 600, 900])  # JupyterLab adds the size in pixels
    assert await first.run("stty size", "size") == "33 120\n"
    second = await connect_terminal("1")
    second.send(["set_size", 30, 150])
    assert await second.run("stty size", "size2") == "30 120\n"  # typed after its set_size
    second.close()
    await second.connection.read_message()  # closed on both ends
    first.send(["set_size", 33, 120])  # the pty is sized again as the one client left asks
    assert await first.run("stty size", "size3") == "33 120\n"


@pytest.mark.gen_test(timeout=60)
async def test_a_later_client_gets_the_earlier_output_replayed(start_terminal, connect_terminal):
    await start_terminal()
    first = await connect_terminal("1")
    await first.run("echo before", "first")
    later = await connect_terminal("1")
    await later.read_until(r"before\r\n.*first-42")
    assert later.messages[0] == ["setup", {}]


@pytest.mark.gen_test(timeout=60)
async def test_malformed_messages_are_dropped_and_the_connection_lives_on(start_terminal, connect_terminal):
    await start_terminal()
    client = await connect_terminal("1")
    for raw in ("not json", "{}", "[]", "[1, 2]", '["set_size", "a", "b"]', '["set_size", 0, 10]',
                '["set_size", 5]', '["stdin", 3]', '["unknown", 1]'):
        client.connection.write_message(raw)
    assert await client.run("echo alive", "still") == "alive\n"


@pytest.mark.gen_test(timeout=60)
async def test_shell_exit_sends_disconnect_closes_and_unlists(api, start_terminal, connect_terminal):
    await start_terminal()
    client = await connect_terminal("1")
    client.stdin("exit\r")
    await client.wait_closed()
    assert client.messages[-1] == ["disconnect", 1]
    assert (await api.get("api/terminals")).json() == []


@pytest.mark.gen_test(timeout=60)
async def test_delete_disconnects_clients(api, start_terminal, connect_terminal):
    await start_terminal()
    client = await connect_terminal("1")
    await client.run("true", "ready")
    assert (await api.delete("api/terminals/1")).status == 204
    await client.wait_closed()
    assert client.messages[-1] == ["disconnect", 1]


@pytest.mark.gen_test(timeout=60)
async def test_websocket_to_unknown_terminal_is_404(base_url, token, terminal_app):
    assert await ws_refusal(base_url, "nosuch", {"Authorization": f"token {token}"}) == 404


@pytest.mark.gen_test(timeout=60)
async def test_activity_moves_last_activity(api, start_terminal, connect_terminal):
    before = (await start_terminal())["last_activity"]
    client = await connect_terminal("1")
    await client.run("sleep 0.01", "active")
    after = (await api.get("api/terminals/1")).json()["last_activity"]
    assert after > before


# -- authentication, origin, XSRF (the kernels' rules) -------------------------------------


@pytest.mark.gen_test(timeout=60)
async def test_rest_routes_need_authentication(api, terminal_app):
    for method, path in (("GET", "api/terminals"), ("POST", "api/terminals"), ("GET", "api/terminals/1"),
                         ("DELETE", "api/terminals/1")):
        response = await api.request(method, path, authenticated=False)
        assert response.status == 401, (method, path)
    assert (await api.get("api/terminals")).json() == []


@pytest.mark.gen_test(timeout=60)
async def test_websocket_without_credentials_is_refused(base_url, start_terminal):
    await start_terminal()
    assert await ws_refusal(base_url, "1", {}) == 401
    assert await ws_refusal(base_url, "1", {"Authorization": "token wrong"}) == 401


@pytest.mark.gen_test(timeout=60)
async def test_websocket_from_another_origin_is_403(base_url, token, start_terminal, connect_terminal):
    await start_terminal()
    code = await ws_refusal(base_url, "1", {"Authorization": f"token {token}", "Origin": "https://evil.example"})
    assert code == 403
    client = await connect_terminal("1", {"Authorization": f"token {token}", "Origin": base_url.rstrip("/")})
    assert await client.run("echo own-origin", "ok") == "own-origin\n"


@pytest.mark.gen_test(timeout=60)
async def test_cross_site_websocket_with_session_cookie_is_403(base_url, token, start_terminal, browser_session):
    await start_terminal()
    await browser_session.get(f"/tree?token={token}")
    cookie = "; ".join(f"{k}={v}" for k, v in browser_session.cookies.items())
    assert await ws_refusal(base_url, "1", {"Cookie": cookie, "Origin": "http://evil.example"}) == 403
    assert await ws_refusal(base_url, "1", {"Cookie": cookie, "Origin": base_url.rstrip("/")}) is None


@pytest.mark.gen_test(timeout=60)
async def test_cookie_authenticated_post_and_delete_need_xsrf(api, token, terminal_app, browser_session):
    await browser_session.get(f"/tree?token={token}")
    xsrf = await browser_session.xsrf_token()  # the browser has the cookie, but sends no header
    json_type = {"Content-Type": "application/json"}
    refused = await browser_session.request("POST", "/api/terminals", body=b"{}", headers=json_type)
    assert refused.status == 403 and "XSRF" in refused.json()["message"]
    assert (await api.get("api/terminals")).json() == []
    with_xsrf = {**json_type, "X-XSRFToken": xsrf}
    created = await browser_session.request("POST", "/api/terminals", body=b"{}", headers=with_xsrf)
    assert created.status == 200
    name = created.json()["name"]
    assert (await browser_session.request("DELETE", f"/api/terminals/{name}")).status == 403
    assert (await browser_session.request("DELETE", f"/api/terminals/{name}", headers=with_xsrf)).status == 204


@pytest.mark.gen_test(timeout=60)
async def test_rest_request_from_another_origin_is_403(api, terminal_app):
    response = await api.post("api/terminals", {}, headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert (await api.get("api/terminals")).json() == []


@pytest.mark.gen_test(timeout=60)
async def test_authorizer_is_asked_about_the_terminals_resource(api, server_app, start_terminal, base_url, token):
    asked: list[tuple[str, str]] = []

    def refuse_terminals(handler, user, action, resource):
        asked.append((action, resource))
        return resource != "terminals"

    await start_terminal()
    server_app.authorizer.is_authorized = refuse_terminals
    assert (await api.get("api/terminals")).status == 403
    assert (await api.post("api/terminals", {})).status == 403
    assert (await api.delete("api/terminals/1")).status == 403
    assert await ws_refusal(base_url, "1", {"Authorization": f"token {token}"}) == 403
    # Starting a shell runs code, as starting a kernel does: "execute", like the websocket.
    assert asked == [("read", "terminals"), ("execute", "terminals"), ("write", "terminals"),
                     ("execute", "terminals")]


# -- switched off --------------------------------------------------------------------------


@pytest.mark.parametrize("server_config", [{"terminals_enabled": False}])
@pytest.mark.gen_test(timeout=60)
async def test_disabled_terminals_answer_404_everywhere(server_config, api, server_app, base_url, token,
                                                         browser_session):
    assert server_app.terminal_manager is None
    for method, path in (("GET", "api/terminals"), ("POST", "api/terminals"), ("GET", "api/terminals/1"),
                         ("DELETE", "api/terminals/1")):
        response = await api.request(method, path)
        assert response.status == 404, (method, path)
        assert response.json()["message"] == "Terminals are not enabled on this server."
    assert await ws_refusal(base_url, "1", {"Authorization": f"token {token}"}) == 404
    await browser_session.get(f"/tree?token={token}")
    assert (await browser_session.get("/terminals/1")).status == 404
    tree = await browser_session.get("/tree")
    assert b'id="new-terminal"' not in tree.body and b'id="running-terminals"' not in tree.body


@pytest.mark.gen_test(timeout=60)
async def test_enabled_terminals_show_on_the_dashboard(token, terminal_app, browser_session):
    await browser_session.get(f"/tree?token={token}")
    tree = await browser_session.get("/tree")
    assert b'id="new-terminal"' in tree.body and b'id="running-terminals"' in tree.body


def test_message_parser_refuses_what_is_not_a_terminado_array():
    from nbserver.errors import InvalidInput
    from nbserver.services.terminals.handlers import parse_client_message

    assert parse_client_message('["stdin", "ls\\r"]') == ["stdin", "ls\r"]
    assert parse_client_message(b'["set_size", 1, 2]') == ["set_size", 1, 2]
    for raw in ("", "nope", "{}", "[]", "[1]", b"\xff"):
        with pytest.raises(InvalidInput):
            parse_client_message(raw)
