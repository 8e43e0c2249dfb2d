"""XSRF for cookie-authenticated writes, origin checks, CORS, security headers, bounded bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.browser_session import BrowserSession

EVIL_ORIGIN = "https://evil.example"


async def logged_in(browser_session: BrowserSession, token: str) -> BrowserSession:
    await browser_session.get(f"/tree?token={token}")
    assert (await browser_session.get("/tree")).status == 200
    assert browser_session.session_cookie_names()
    assert "_xsrf" in browser_session.cookies
    return browser_session


def json_put(text: str) -> bytes:
    return json.dumps({"type": "file", "format": "text", "content": text}).encode()


# -- XSRF --------------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_cookie_authenticated_write_without_xsrf_is_403(browser_session, token, root_dir):
    session = await logged_in(browser_session, token)
    response = await session.request("PUT", "/api/contents/x.txt", body=json_put("hi"),
                                     headers={"Content-Type": "application/json"})
    assert response.status == 403
    assert "XSRF" in response.json()["message"]
    assert not (root_dir / "x.txt").exists()


@pytest.mark.gen_test(timeout=30)
async def test_cookie_authenticated_write_with_wrong_xsrf_is_403(browser_session, token, root_dir):
    session = await logged_in(browser_session, token)
    response = await session.request("PUT", "/api/contents/x.txt", body=json_put("hi"),
                                     headers={"Content-Type": "application/json", "X-XSRFToken": "2|00|11|22"})
    assert response.status == 403
    assert not (root_dir / "x.txt").exists()


@pytest.mark.gen_test(timeout=30)
async def test_cookie_authenticated_write_with_xsrf_header_succeeds(browser_session, token, root_dir):
    session = await logged_in(browser_session, token)
    response = await session.request("PUT", "/api/contents/x.txt", body=json_put("hi"), headers={
        "Content-Type": "application/json", "X-XSRFToken": session.cookies["_xsrf"]})
    assert response.status == 201
    assert (root_dir / "x.txt").read_text() == "hi"


@pytest.mark.gen_test(timeout=30)
async def test_cookie_authenticated_delete_needs_xsrf(browser_session, token, root_dir):
    (root_dir / "keep.txt").write_text("x")
    session = await logged_in(browser_session, token)
    assert (await session.request("DELETE", "/api/contents/keep.txt")).status == 403
    assert (root_dir / "keep.txt").exists()
    ok = await session.request("DELETE", "/api/contents/keep.txt",
                               headers={"X-XSRFToken": session.cookies["_xsrf"]})
    assert ok.status == 204


@pytest.mark.gen_test(timeout=30)
async def test_token_header_write_needs_no_xsrf(api, root_dir):
    response = await api.put("api/contents/y.txt", {"type": "file", "format": "text", "content": "ok"})
    assert response.status == 201
    assert (root_dir / "y.txt").read_text() == "ok"


@pytest.mark.gen_test(timeout=30)
async def test_token_header_write_with_session_cookie_needs_no_xsrf(browser_session, token, root_dir):
    """JupyterLab sends both the token header and the cookies; the token decides."""
    session = await logged_in(browser_session, token)
    response = await session.request("PUT", "/api/contents/z.txt", body=json_put("z"), headers={
        "Content-Type": "application/json", "Authorization": f"token {token}"})
    assert response.status == 201


@pytest.mark.gen_test(timeout=30)
async def test_pages_set_a_script_readable_xsrf_cookie(browser_session, token):
    await logged_in(browser_session, token)
    xsrf_headers = [h for h in browser_session.set_cookie_headers if h.startswith("_xsrf=")]
    assert xsrf_headers
    assert "httponly" not in xsrf_headers[-1].lower()  # JupyterLab reads it to send X-XSRFToken


# -- origins and CORS --------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_api_request_from_another_origin_is_403_by_default(api):
    response = await api.get("api/status", headers={"Origin": EVIL_ORIGIN})
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.gen_test(timeout=30)
async def test_api_request_from_own_origin_is_allowed(api, base_url):
    origin = base_url.rstrip("/")
    response = await api.get("api/status", headers={"Origin": origin})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers  # no CORS unless configured


@pytest.mark.gen_test(timeout=30)
async def test_login_post_from_another_origin_is_403(browser_session: BrowserSession, token):
    xsrf = await browser_session.xsrf_token()
    response = await browser_session.post_form("/login", {"password": token, "_xsrf": xsrf},
                                               headers={"Origin": EVIL_ORIGIN})
    assert response.status == 403
    assert browser_session.session_cookie_names() == []


@pytest.mark.parametrize("server_config", [{"allow_origin": "https://app.example"}])
@pytest.mark.gen_test(timeout=30)
async def test_cors_preflight_for_allowed_origin(server_config, api):
    response = await api.request("OPTIONS", "api/contents", authenticated=False, headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.body == b""


@pytest.mark.parametrize("server_config", [{"allow_origin": "https://app.example"}])
@pytest.mark.gen_test(timeout=30)
async def test_cors_preflight_from_other_origin_gets_no_grant(server_config, api):
    response = await api.request("OPTIONS", "api/contents", authenticated=False, headers={
        "Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "PUT"})
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("server_config", [{"allow_origin": "https://app.example", "allow_credentials": True}])
@pytest.mark.gen_test(timeout=30)
async def test_cors_response_for_allowed_origin_with_credentials(server_config, api):
    response = await api.get("api/status", headers={"Origin": "https://app.example"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers.get("Vary", "")


@pytest.mark.parametrize("server_config", [{"allow_origin": "https://app.example"}])
@pytest.mark.gen_test(timeout=30)
async def test_cors_still_needs_the_token(server_config, api):
    response = await api.get("api/status", authenticated=False, headers={"Origin": "https://app.example"})
    assert response.status == 401


@pytest.mark.parametrize("server_config", [{"allow_origin_pat": r"https://[a-z]+\.good\.example"}])
@pytest.mark.parametrize("origin,allowed", [
    ("https://lab.good.example", True),
    ("https://lab.good.example.evil.example", False),  # a prefix match would allow this
    ("https://lab.good.example:8443", False),
    ("https://evil.example/https://lab.good.example", False),
    ("http://lab.good.example", False),
])
@pytest.mark.gen_test(timeout=30)
async def test_allow_origin_pat_must_match_the_whole_origin(server_config, api, origin, allowed):
    response = await api.get("api/status", headers={"Origin": origin})
    assert (response.status == 200) is allowed
    assert (response.headers.get("Access-Control-Allow-Origin") == origin) is allowed


@pytest.mark.parametrize("server_config", [{"allow_origin": "https://app.example"}])
@pytest.mark.gen_test(timeout=30)
async def test_allow_origin_is_exact_not_a_prefix(server_config, api):
    for origin in ("https://app.example.evil.example", "https://app.exampl", "https://app.example:1"):
        assert (await api.get("api/status", headers={"Origin": origin})).status == 403


# -- headers -----------------------------------------------------------------------------


@pytest.mark.gen_test(timeout=30)
async def test_security_headers_on_api_pages_and_errors(http_server, http_client, base_url, token):
    auth = {"Authorization": f"token {token}"}
    for path, headers in (("/api/status", auth), ("/api/contents/missing", auth), ("/login", {}),
                          ("/tree", auth), ("/tree/missing", auth), ("/api/status", {})):
        response = await http_client.fetch(base_url + path, headers=headers, raise_error=False,
                                           follow_redirects=False)
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "frame-ancestors 'self'" in response.headers["Content-Security-Policy"], path


@pytest.mark.parametrize("server_config", [{"content_security_policy": "frame-ancestors 'none'"}])
@pytest.mark.gen_test(timeout=30)
async def test_content_security_policy_is_configurable(server_config, api):
    page = await api.get("tree")
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    response = await api.get("api/status")
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'; default-src 'none'"


@pytest.mark.gen_test(timeout=30)
async def test_api_policy_is_jupyters_with_a_report_uri_under_the_base_url(api, base_url):
    for path in ("api/status", "api/contents/missing", "api/no-such-route"):
        response = await api.get(path)
        assert response.headers["Content-Security-Policy"] == (
            "frame-ancestors 'self'; report-uri /api/security/csp-report; default-src 'none'"
        ), path
    page = await api.get("tree")
    assert page.headers["Content-Security-Policy"] == "frame-ancestors 'self'; report-uri /api/security/csp-report"


@pytest.mark.gen_test(timeout=30)
async def test_api_json_including_errors_is_typed_json(api):
    for path in ("api/status", "api/contents", "api/contents/missing", "api/no-such-route"):
        response = await api.get(path)
        assert response.headers["Content-Type"] == "application/json", path
    unauthenticated = await api.get("api/contents", authenticated=False)
    assert unauthenticated.headers["Content-Type"] == "application/json"


# -- bounded bodies ----------------------------------------------------------------------


@pytest.mark.parametrize("server_config", [{"max_body_size": 1024}])
@pytest.mark.gen_test(timeout=30)
async def test_declared_oversized_body_is_413_json(server_config, api, root_dir):
    response = await api.put("api/contents/big.txt", {"type": "file", "format": "text", "content": "x" * 4096})
    assert response.status == 413
    assert response.json()["reason"] == "Payload Too Large"
    assert not (root_dir / "big.txt").exists()


@pytest.mark.parametrize("server_config", [{"max_body_size": 1024}])
@pytest.mark.gen_test(timeout=30)
async def test_streamed_oversized_body_is_413_json(server_config, http_server, http_client, base_url, token, root_dir):
    async def produce(write: Any) -> None:
        for _ in range(8):
            await write(b" " * 512)

    response = await http_client.fetch(
        base_url + "/api/contents/big.txt", method="PUT", body_producer=produce, raise_error=False,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"}, request_timeout=20,
    )
    assert response.code == 413
    assert json.loads(response.body)["reason"] == "Payload Too Large"


@pytest.mark.parametrize("server_config", [{"max_body_size": 1024}])
@pytest.mark.gen_test(timeout=30)
async def test_body_under_the_limit_is_accepted(server_config, api):
    response = await api.put("api/contents/small.txt", {"type": "file", "format": "text", "content": "x" * 100})
    assert response.status == 201
