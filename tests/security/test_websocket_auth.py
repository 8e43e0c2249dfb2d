"""Kernel websockets: authenticated like any request, and only from allowed origins."""

from __future__ import annotations

import contextlib
from typing import Any, AsyncIterator

import pytest
from tornado import websocket
from tornado.httpclient import HTTPClientError, HTTPRequest

from tests.support.browser_session import BrowserSession

pytestmark = pytest.mark.timeout(90)


@contextlib.asynccontextmanager
async def running_kernel(api: Any) -> AsyncIterator[str]:
    response = await api.post("api/kernels", {})
    assert response.status == 201, response.body
    kernel = response.json()["id"]
    try:
        yield kernel
    finally:
        await api.delete(f"api/kernels/{kernel}")


async def open_channels(base_url: str, kernel: str, headers: dict[str, str],
                        query: str = "") -> Any:
    url = base_url.replace("http://", "ws://") + f"/api/kernels/{kernel}/channels{query}"
    return await websocket.websocket_connect(HTTPRequest(url, headers=headers, request_timeout=20))


async def refusal_code(base_url: str, kernel: str, headers: dict[str, str], query: str = "") -> int | None:
    try:
        connection = await open_channels(base_url, kernel, headers, query)
    except HTTPClientError as exc:
        return exc.code
    connection.close()
    return None


@pytest.mark.gen_test(timeout=60)
async def test_websocket_with_token_and_own_origin_connects(api, base_url, token):
    async with running_kernel(api) as kernel_id:
        origin = base_url.rstrip("/")
        connection = await open_channels(base_url, kernel_id, {"Authorization": f"token {token}", "Origin": origin})
        connection.close()


@pytest.mark.gen_test(timeout=60)
async def test_websocket_with_query_token_connects(api, base_url, token):
    """Browsers cannot set headers on websockets; JupyterLab puts the token in the URL."""
    async with running_kernel(api) as kernel_id:
        connection = await open_channels(base_url, kernel_id, {}, query=f"?token={token}")
        connection.close()


@pytest.mark.gen_test(timeout=60)
async def test_websocket_from_another_origin_is_403(api, base_url, token):
    async with running_kernel(api) as kernel_id:
        code = await refusal_code(base_url, kernel_id,
                                  {"Authorization": f"token {token}", "Origin": "https://evil.example"})
        assert code == 403


@pytest.mark.gen_test(timeout=60)
async def test_websocket_without_credentials_is_refused(api, base_url):
    async with running_kernel(api) as kernel_id:
        assert await refusal_code(base_url, kernel_id, {}) in (401, 403)
        assert await refusal_code(base_url, kernel_id, {"Authorization": "token wrong"}) in (401, 403)


@pytest.mark.gen_test(timeout=60)
async def test_websocket_with_session_cookie_from_own_origin_connects(api, base_url, token,
                                                                       browser_session: BrowserSession):
    async with running_kernel(api) as kernel_id:
        await browser_session.get(f"/tree?token={token}")
        cookie = "; ".join(f"{k}={v}" for k, v in browser_session.cookies.items())
        connection = await open_channels(base_url, kernel_id, {"Cookie": cookie, "Origin": base_url.rstrip("/")})
        connection.close()


@pytest.mark.gen_test(timeout=60)
async def test_cross_site_websocket_hijacking_with_session_cookie_is_403(api, base_url, token,
                                                                         browser_session: BrowserSession):
    async with running_kernel(api) as kernel_id:
        await browser_session.get(f"/tree?token={token}")
        cookie = "; ".join(f"{k}={v}" for k, v in browser_session.cookies.items())
        code = await refusal_code(base_url, kernel_id, {"Cookie": cookie, "Origin": "http://evil.example"})
        assert code == 403


@pytest.mark.parametrize("server_config", [{"allow_origin_pat": r"https://[a-z]+\.good\.example"}])
@pytest.mark.gen_test(timeout=60)
async def test_websocket_origin_pattern_matches_whole_origin(server_config, api, base_url, token):
    async with running_kernel(api) as kernel_id:
        auth = {"Authorization": f"token {token}"}
        connection = await open_channels(base_url, kernel_id, {**auth, "Origin": "https://lab.good.example"})
        connection.close()
        code = await refusal_code(base_url, kernel_id, {**auth, "Origin": "https://lab.good.example.evil.example"})
        assert code == 403
