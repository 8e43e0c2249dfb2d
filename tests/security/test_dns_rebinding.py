"""A local server answers only requests addressed to a local host name (DNS rebinding)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tornado import websocket
from tornado.httpclient import HTTPClientError, HTTPRequest

from nbserver.app import NotebookServerApp
from tests.support.routes import KERNEL_ID


def host_header(base_url: str, name: str) -> dict[str, str]:
    port = base_url.rsplit(":", 1)[1]
    return {"Host": f"{name}:{port}"}


@pytest.mark.parametrize("path", ["/api/status", "/api", "/login", "/tree", "/api/me"])
@pytest.mark.gen_test(timeout=30)
async def test_foreign_host_name_is_403(path, http_server, http_client, base_url, token):
    response = await http_client.fetch(
        base_url + path, headers={**host_header(base_url, "rebound.evil.example"), "Authorization": f"token {token}"},
        raise_error=False, follow_redirects=False)
    assert response.code == 403


@pytest.mark.gen_test(timeout=30)
async def test_foreign_host_name_websocket_is_403(http_server, base_url, token):
    url = base_url.replace("http://", "ws://") + f"/api/kernels/{KERNEL_ID}/channels"
    request = HTTPRequest(url, headers={**host_header(base_url, "rebound.evil.example"),
                                        "Authorization": f"token {token}"})
    with pytest.raises(HTTPClientError) as raised:
        await websocket.websocket_connect(request)
    assert raised.value.code == 403


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "127.1.2.3", "[::1]", "LOCALHOST"])
@pytest.mark.gen_test(timeout=30)
async def test_local_host_names_are_answered(name, http_server, http_client, base_url, token):
    response = await http_client.fetch(
        base_url + "/api/status", headers={**host_header(base_url, name), "Authorization": f"token {token}"},
        raise_error=False)
    assert response.code == 200


@pytest.mark.parametrize("server_config", [{"allow_remote_access": True}])
@pytest.mark.gen_test(timeout=30)
async def test_allow_remote_access_answers_any_host(server_config, http_server, http_client, base_url, token):
    response = await http_client.fetch(
        base_url + "/api/status", raise_error=False,
        headers={**host_header(base_url, "my-server.example"), "Authorization": f"token {token}"})
    assert response.code == 200


@pytest.mark.parametrize("server_config", [{"local_hostnames": ["localhost", "nb.internal"]}])
@pytest.mark.gen_test(timeout=30)
async def test_local_hostnames_are_configurable(server_config, http_server, http_client, base_url, token):
    response = await http_client.fetch(
        base_url + "/api/status", raise_error=False,
        headers={**host_header(base_url, "nb.internal"), "Authorization": f"token {token}"})
    assert response.code == 200


@pytest.mark.parametrize("ip,remote", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                       ("0.0.0.0", True), ("", True), ("192.0.2.10", True)])
def test_remote_access_defaults_to_whether_the_ip_is_loopback(ip, remote, root_dir: Path):
    app = NotebookServerApp(root_dir=str(root_dir), open_browser=False, ip=ip)
    try:
        assert app.allow_remote_access is remote
    finally:
        NotebookServerApp.clear_instance()
