"""Hub tokens, the hub's OAuth login and the hub cookie (nbserver.auth.hub.identity), with a fake hub API."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httpclient import HTTPClientError

from tests.auth.hub.conftest import PREFIX
from tests.support.fake_hub import CLIENT_ID
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


@pytest.mark.parametrize("user, scopes, status", [
    ("bob", ["access:servers!user=alice"], 200),
    ("bob", ["access:servers!group=team"], 200),  # alice is in team
    ("admin", ["access:servers"], 200),
    ("bob", ["read:users:name", "access:servers!user=bob"], 403),
    ("bob", ["access:servers!group=elsewhere"], 403),
    ("bob", ["access:servers!server=alice/other"], 403),
])
@pytest.mark.gen_test
async def test_access_needs_a_scope_for_this_server(api, fake_hub, user, scopes, status):
    api.token = fake_hub.state.issue_token(user, scopes)
    response = await api.get("api/contents")
    assert response.status == status
    assert status == 200 or response.json()["reason"] == "Forbidden"


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
async def test_me_reports_the_hub_user_and_permissions(api, fake_hub):
    api.token = fake_hub.state.issue_token("bob", ["access:servers!user=alice"])
    response = await api.get("api/me", params={"permissions": json.dumps({"contents": ["read", "write"]})})
    assert response.status == 200
    body = response.json()
    assert body["identity"]["username"] == "bob" and "scopes" not in body["identity"]
    assert body["permissions"] == {"contents": ["read", "write"]}


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


async def through_the_hub(browser, fake_hub, user="alice", start=PREFIX + "tree"):
    """The first two legs of a login, as a browser follows them: the page sends it to the hub,
    the hub (where ``user`` is logged in) sends it back; returns the callback URL."""
    fake_hub.state.logged_in = user
    fake_hub.state.login_scopes = [f"access:servers!server={user}/"]
    to_hub = await browser.get(start)
    back = await browser.get(to_hub.headers["Location"])
    assert back.status == 302, back.body
    return back.headers["Location"]


async def log_in(browser, fake_hub, start=PREFIX + "tree"):
    """A whole login; returns the callback's response."""
    return await browser.get(await through_the_hub(browser, fake_hub, start=start))


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
async def test_callback_with_a_foreign_state_is_400(browser, fake_hub):
    fake_hub.state.logged_in = "alice"
    await browser.get(PREFIX + "tree")  # sets a state cookie for another state
    response = await browser.get(PREFIX + "oauth_callback?code=abc&state=forged")
    assert response.status == 400


@pytest.mark.gen_test
async def test_a_user_without_access_gets_no_session(browser, fake_hub):
    done = await browser.get(await through_the_hub(browser, fake_hub, user="bob"))
    assert done.status == 403 and CLIENT_ID not in browser.cookies


@pytest.mark.gen_test
async def test_a_login_code_works_once(browser, fake_hub):
    callback = await through_the_hub(browser, fake_hub)
    cookies = dict(browser.cookies)
    assert (await browser.get(callback)).status == 302
    browser.cookies = cookies  # replayed: the state is used up, and so is the code
    assert (await browser.get(callback)).status == 400


@pytest.mark.gen_test
async def test_query_token_on_a_page_becomes_the_session(browser, alice_token):
    response = await browser.get(PREFIX + f"tree?token={alice_token}")
    assert response.status == 302 and response.headers["Location"] == PREFIX + "tree"
    assert CLIENT_ID in browser.cookies
    assert (await browser.get(PREFIX + "api/contents")).status == 200


@pytest.mark.gen_test
async def test_logout_ends_the_session_and_goes_to_the_hub(browser, fake_hub):
    await log_in(browser, fake_hub)
    response = await browser.get(PREFIX + "logout")
    assert response.status == 302 and response.headers["Location"] == fake_hub.url + "/hub/logout"
    assert CLIENT_ID not in browser.cookies
    assert (await browser.get(PREFIX + "api/contents")).status == 403


@pytest.mark.gen_test
async def test_login_page_goes_to_the_hub(browser, fake_hub):
    response = await browser.get(PREFIX + "login?next=" + PREFIX + "tree")
    assert response.status == 302 and response.headers["Location"].startswith(fake_hub.api_url + "/oauth2/authorize")


@pytest.mark.gen_test(timeout=60)
async def test_kernel_websocket_takes_the_hub_cookie_from_this_origin_only(browser, fake_hub, api, base_url):
    await log_in(browser, fake_hub)
    kernel = (await api.post("api/kernels", {})).json()
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())
    try:
        client = await KernelWebsocketClient.connect(base_url + PREFIX, "", kernel["id"],
                                                     headers={"Cookie": cookie, "Origin": browser.origin})
        assert (await client.run("print(6 * 7)")).stdout.strip() == "42"
        client.connection.close()
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
