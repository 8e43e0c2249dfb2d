"""Hub tokens, the hub's OAuth login and the hub cookie (nbserver.auth.hub.identity), with a fake hub API."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httpclient import HTTPClientError

from tests.support.fake_hub import CLIENT_ID, PREFIX, log_in
from tests.support.browser_session import BrowserSession
from tests.support.kernel_client import KernelWebsocketClient


@pytest.mark.gen_test
async def test_hub_token_in_header_reads_contents(api):
    response = await api.get("api/contents")
    assert response.status == 200 and response.json()["type"] == "directory"


@pytest.mark.gen_test
async def test_bearer_scheme_is_accepted(api):
    response = await api.get("api/contents", authenticated=False,
                             headers={"Authorization": f"Bearer {api.token}"})
    assert response.status == 200


@pytest.mark.gen_test
async def test_api_without_credentials_is_403_json(api):
    response = await api.get("api/contents", authenticated=False)
    assert response.status == 403
    assert "JupyterHub token" in response.json()["message"]


@pytest.mark.gen_test
async def test_unknown_token_is_403(api):
    response = await api.get("api/contents", authenticated=False, headers={"Authorization": "token nope"})
    assert response.status == 403


@pytest.mark.gen_test
async def test_token_checks_are_cached(api, fake_hub):
    for _ in range(3):
        assert (await api.get("api/contents")).status == 200
    assert fake_hub.state.token_checks == 1


@pytest.mark.gen_test
async def test_hub_down_is_503(api, fake_hub):
    fake_hub.stop()
    fake_hub.socket.close()
    response = await api.get("api/contents")
    assert response.status == 503 and "JupyterHub" in response.json()["message"]


@pytest.mark.gen_test
async def test_readiness_check_and_version_header(http_server, http_client, base_url):
    response = await http_client.fetch(base_url + PREFIX + "api", raise_error=False)
    assert response.code == 200 and "version" in json.loads(response.body)
    assert response.headers["X-JupyterHub-Version"]
    missing = await http_client.fetch(base_url + "/elsewhere", raise_error=False)
    assert missing.code == 404 and missing.headers["X-JupyterHub-Version"]


@pytest.mark.gen_test
async def test_page_without_session_redirects_to_the_hub_with_pkce(browser, fake_hub):
    response = await browser.get(PREFIX + "tree")
    assert response.status == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == fake_hub.api_url + "/oauth2/authorize"
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == PREFIX + "oauth_callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    state_cookies = [header for header in browser.set_cookie_headers if "-oauth-state-" in header]
    assert len(state_cookies) == 1 and "HttpOnly" in state_cookies[0] and f"Path={PREFIX}" in state_cookies[0]


@pytest.mark.gen_test
async def test_oauth_login_sets_the_user_cookie_and_returns(browser, fake_hub):
    done = await log_in(browser, fake_hub, PREFIX + "tree?x=1")
    assert done.status == 302 and done.headers["Location"] == PREFIX + "tree?x=1"
    cookie = [header for header in browser.set_cookie_headers if header.startswith(CLIENT_ID + "=")][-1]
    assert "HttpOnly" in cookie and f"Path={PREFIX}" in cookie and "SameSite=Lax" in cookie
    assert (await browser.get(PREFIX + "api/contents")).status == 200
    assert (await browser.get(PREFIX + "tree")).status == 200
    assert not any(name.startswith(CLIENT_ID + "-oauth-state") for name in browser.cookies)


@pytest.mark.gen_test
async def test_cookie_writes_need_the_xsrf_token(browser, fake_hub):
    await log_in(browser, fake_hub)
    body = json.dumps({"type": "notebook"}).encode()
    refused = await browser.request("POST", PREFIX + "api/contents", body=body)
    assert refused.status == 403 and "XSRF" in json.loads(refused.body)["message"]
    await browser.get(PREFIX + "tree")
    allowed = await browser.request("POST", PREFIX + "api/contents", body=body,
                                    headers={"X-XSRFToken": browser.cookies["_xsrf"]})
    assert allowed.status == 201


@pytest.mark.gen_test
async def test_query_token_on_a_page_becomes_the_session(browser, alice_token):
    response = await browser.get(PREFIX + f"tree?token={alice_token}")
    assert response.status == 302 and response.headers["Location"] == PREFIX + "tree"
    assert CLIENT_ID in browser.cookies
    assert (await browser.get(PREFIX + "api/contents")).status == 200


@pytest.mark.gen_test(timeout=60)
async def test_kernel_websocket_takes_the_hub_cookie_from_this_origin_only(browser, fake_hub, api, base_url):
    await log_in(browser, fake_hub)
    kernel = (await api.post("api/kernels", {})).json()
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    try:
        client = await KernelWebsocketClient.connect(base_url + PREFIX, "", kernel["id"],
                                                     headers={"Cookie": cookie, "Origin": browser.origin})
        assert (await client.run("print(6 * 7)")).stdout.strip() == "42"
        await client.close_and_drain()
        with pytest.raises(HTTPClientError) as refused:
            await KernelWebsocketClient.connect(base_url + PREFIX, "", kernel["id"],
                                                headers={"Cookie": cookie, "Origin": "http://elsewhere.example"})
        assert refused.value.code == 403
    finally:
        await api.delete(f"api/kernels/{kernel['id']}")


@pytest.mark.parametrize("forwarded, trusted, status", [
    ("public.example:8000", True, 201),
    ("", True, 403),
    ("public.example:8000", False, 403),
])
@pytest.mark.gen_test
async def test_origin_of_the_forwarded_host_is_allowed_from_a_trusted_proxy(app, browser, fake_hub, forwarded,
                                                                             trusted, status):
    """A proxy that rewrote Host names the public one in X-Forwarded-Host; only a trusted one
    (127.0.0.1 by default, where this test's requests come from) is believed."""
    if not trusted:
        app.settings["trusted_proxies"] = frozenset()
    await log_in(browser, fake_hub)
    await browser.get(PREFIX + "tree")
    headers = {"X-XSRFToken": browser.cookies["_xsrf"], "Origin": "http://public.example:8000"}
    if forwarded:
        headers["X-Forwarded-Host"] = forwarded
    response = await browser.request("POST", PREFIX + "api/contents", body=b'{"type": "notebook"}',
                                     headers=headers)
    assert response.status == status


@pytest.mark.gen_test
async def test_an_xsrf_cookie_set_by_another_server_does_not_pass(browser, fake_hub, http_client, base_url):
    """On a hub's shared origin another user's server can set ``_xsrf`` on this path (cookie
    tossing): a valid tornado token that is not bound to this session must be refused."""
    stranger = BrowserSession(http_client, base_url)
    await stranger.get(PREFIX + "login")  # a public page: a valid, unbound _xsrf
    tossed = stranger.cookies["_xsrf"]
    await log_in(browser, fake_hub)
    browser.cookies["_xsrf"] = tossed
    response = await browser.request("POST", PREFIX + "api/contents", body=b'{"type": "notebook"}',
                                     headers={"X-XSRFToken": tossed})
    assert response.status == 403 and "XSRF" in json.loads(response.body)["message"]

