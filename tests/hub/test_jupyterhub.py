"""nbserver-singleuser under a real JupyterHub and configurable-http-proxy, all on 127.0.0.1.

A user logs in at the hub, the hub spawns nbserver-singleuser, a browser-like client follows
the OAuth redirects to the user's contents, a hub API token runs code over the kernel websocket
through the proxy, the hub sees the activity, and everything stops with no process left.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.hub.components import RealHub, install_jupyterhub, install_proxy
from tests.support.kernel_client import KernelWebsocketClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def hub_commands() -> tuple[Path, Path, Path]:
    if shutil.which("npm") is None:
        pytest.fail("npm is needed for configurable-http-proxy (.ci/run installs it)")
    singleuser = Path(sys.executable).parent / "nbserver-singleuser"
    if not singleuser.exists():
        pytest.fail("nbserver-singleuser is not installed: pip install -e . in this environment")
    return singleuser, install_proxy(), install_jupyterhub()


@pytest.fixture
def hub(tmp_path: Path, hub_commands: tuple[Path, Path, Path]) -> Iterator[RealHub]:
    singleuser, proxy, jupyterhub = hub_commands
    real = RealHub(tmp_path, singleuser, proxy, jupyterhub)
    try:
        real.wait_until_up()
        yield real
    finally:
        left = real.stop()
        assert left == [], f"processes left after the hub stopped: {left}\n{real.log[-3000:]}"


class RecordingRedirects(urllib.request.HTTPRedirectHandler):
    def __init__(self) -> None:
        self.trail: list[str] = []

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        self.trail.append(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class Browser:
    """urllib with a cookie jar: follows redirects and keeps cookies, as a browser does."""

    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.redirects = RecordingRedirects()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), self.redirects)

    def open(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str, bytes]:
        """(status, final URL, body) of ``url`` after every redirect."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=data), timeout=60) as response:
                return response.status, response.url, response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.url, exc.read()

    def cookie(self, name: str) -> http.cookiejar.Cookie | None:
        return next((cookie for cookie in self.jar if cookie.name == name), None)


def activity_of(hub: RealHub) -> str:
    return str(hub.api("GET", "users/alice")["servers"][""]["last_activity"])


def read_url(request: urllib.request.Request) -> bytes:
    with urllib.request.urlopen(request, timeout=60) as response:
        return bytes(response.read())


async def run_code_over_the_proxy(hub: RealHub, token: str) -> str:
    base = f"{hub.url}/user/alice"
    request = urllib.request.Request(f"{base}/api/kernels", data=b"{}", method="POST",
                                     headers={"Authorization": f"token {token}"})
    kernel = json.loads(await asyncio.to_thread(read_url, request))
    client = await KernelWebsocketClient.connect(base, token, kernel["id"])
    try:
        return (await client.run("print(6 * 7)", timeout=60)).stdout
    finally:
        await client.close_and_drain()


def test_nbserver_singleuser_under_jupyterhub(hub: RealHub) -> None:
    browser = Browser()
    status, _, page = browser.open(f"{hub.url}/hub/login")
    assert status == 200
    xsrf = browser.cookie("_xsrf")
    assert xsrf is not None, page[:500]
    status, _, _ = browser.open(f"{hub.url}/hub/login?next=%2Fhub%2Fhome",
                                {"username": "alice", "password": RealHub.PASSWORD, "_xsrf": xsrf.value})
    assert status == 200, hub.log[-3000:]

    hub.api("POST", "users/alice/server")
    hub.wait_for_server("alice", ready=True)
    assert "nbserver-singleuser" in hub.log or "Serving JupyterHub user alice" in hub.log, hub.log[-3000:]

    # A browser: the page redirects to the hub's OAuth, which comes back with a code, then the cookie.
    status, final_url, _ = browser.open(f"{hub.url}/user/alice/tree")
    assert status == 200 and final_url == f"{hub.url}/user/alice/tree", (final_url, hub.log[-3000:])
    trail = [urllib.parse.urlsplit(url).path for url in browser.redirects.trail]
    assert "/hub/api/oauth2/authorize" in trail and "/user/alice/oauth_callback" in trail, trail
    user_cookie = browser.cookie("jupyterhub-user-alice")
    assert user_cookie is not None and user_cookie.path == "/user/alice/"
    status, _, body = browser.open(f"{hub.url}/user/alice/api/contents")
    assert status == 200 and json.loads(body)["type"] == "directory"
    # A write from the page, as JupyterLab makes it: the hub cookie, the origin, the _xsrf value.
    xsrf = next(cookie for cookie in browser.jar if cookie.name == "_xsrf" and cookie.path == "/user/alice/")
    write = urllib.request.Request(f"{hub.url}/user/alice/api/contents", data=b'{"type": "notebook"}',
                                   method="POST", headers={"Origin": hub.url, "X-XSRFToken": xsrf.value,
                                                           "Content-Type": "application/json"})
    with browser.opener.open(write, timeout=30) as created:
        assert created.status == 201 and json.loads(created.read())["name"] == "Untitled.ipynb"

    # No credentials: a JSON 403 from the API.
    with pytest.raises(urllib.error.HTTPError) as refused:
        read_url(urllib.request.Request(f"{hub.url}/user/alice/api/contents"))
    with refused.value as error:
        assert error.code == 403 and "message" in json.loads(error.read())

    # An API client with a hub token, and code run over the kernel websocket through the proxy.
    token = hub.api("POST", "users/alice/tokens", {"scopes": ["access:servers!user=alice"],
                                                    "note": "nbserver test"})["token"]
    before = activity_of(hub)
    time.sleep(1.1)
    assert asyncio.run(run_code_over_the_proxy(hub, token)).strip() == "42"
    hub.note_processes()
    deadline = time.monotonic() + 30
    while activity_of(hub) <= before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert activity_of(hub) > before, hub.log[-3000:]
    assert "could cause failure to authenticate" not in hub.log  # the hub's warning on a version mismatch

    hub.api("DELETE", "users/alice/server")
    hub.wait_for_server("alice", ready=False)
