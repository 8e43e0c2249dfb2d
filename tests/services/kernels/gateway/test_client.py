"""GatewayClient: Jupyter Server's settings and JUPYTER_GATEWAY_* variables, headers, retries, errors."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado import httpserver, netutil, web
from traitlets.config import Config

from nbserver.errors import Forbidden, NotFound
from nbserver.services.kernels.gateway.client import GatewayClient, GatewayError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("JUPYTER_GATEWAY_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_default_to_the_jupyter_gateway_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JUPYTER_GATEWAY_URL", "https://gateway.example:8443/")
    clean_env.setenv("JUPYTER_GATEWAY_AUTH_TOKEN", "secret")
    clean_env.setenv("JUPYTER_GATEWAY_HEADERS", '{"X-Team": "blue"}')
    clean_env.setenv("JUPYTER_GATEWAY_REQUEST_TIMEOUT", "90")
    clean_env.setenv("JUPYTER_GATEWAY_CONNECT_TIMEOUT", "5")
    clean_env.setenv("JUPYTER_GATEWAY_VALIDATE_CERT", "false")
    clean_env.setenv("JUPYTER_GATEWAY_RETRY_MAX", "2")
    client = GatewayClient()
    assert client.enabled and client.url == "https://gateway.example:8443"
    assert client.websocket_url == "wss://gateway.example:8443"
    assert client.request_timeout == 90.0 and client.connect_timeout == 5.0
    assert client.validate_cert is False and client.gateway_retry_max == 2
    assert client.request_headers() == {"X-Team": "blue", "Authorization": "token secret"}


def test_configuration_wins_over_a_variable(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JUPYTER_GATEWAY_URL", "http://from-env:1")
    clean_env.setenv("JUPYTER_GATEWAY_AUTH_SCHEME", "Bearer")
    client = GatewayClient(config=Config({"GatewayClient": {"url": "http://from-config:2", "auth_token": "t"}}))
    assert client.url == "http://from-config:2"
    assert client.request_headers() == {"Authorization": "Bearer t"}


def test_no_url_means_local_kernels(clean_env: pytest.MonkeyPatch) -> None:
    assert not GatewayClient().enabled


def test_allowed_envs_and_its_former_name_forward_the_servers_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SPARK_HOME", "/opt/spark")
    clean_env.setenv("OTHER", "x")
    clean_env.setenv("JUPYTER_GATEWAY_ENV_WHITELIST", "SPARK_HOME, UNSET_ONE")
    assert GatewayClient().forwarded_env() == {"SPARK_HOME": "/opt/spark"}
    clean_env.setenv("JUPYTER_GATEWAY_ALLOWED_ENVS", "OTHER")
    assert GatewayClient().forwarded_env() == {"OTHER": "x"}


@pytest.mark.parametrize("headers", ["not json", '["a"]', '{"a": 1}'])
def test_bad_headers_are_refused_at_start(clean_env: pytest.MonkeyPatch, headers: str) -> None:
    clean_env.setenv("JUPYTER_GATEWAY_HEADERS", headers)
    with pytest.raises(ValueError, match="JUPYTER_GATEWAY_HEADERS"):
        GatewayClient()


def test_a_variable_that_is_not_a_number_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("JUPYTER_GATEWAY_REQUEST_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="JUPYTER_GATEWAY_REQUEST_TIMEOUT"):
        GatewayClient()


def test_backoff_doubles_up_to_its_cap() -> None:
    client = GatewayClient(gateway_retry_interval=0.5, gateway_retry_interval_max=3.0)
    assert [client.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


class FlakyHandler(web.RequestHandler):
    """Answers 503 ``failures`` times, then the request's headers as JSON; 403/404 on those paths."""

    def initialize(self, state: dict[str, Any]) -> None:
        self.state = state

    async def post(self, what: str) -> None:
        await self.get(what)

    async def get(self, what: str) -> None:
        self.state["calls"] += 1
        if what == "slow":
            await asyncio.sleep(2)
            self.finish("late")
        elif what == "missing":
            self.set_status(404)
            self.finish({"message": "Kernel does not exist: k", "reason": "Not Found"})
        elif what == "forbidden":
            self.set_status(403)
            self.finish({"message": "Resource Limit"})
        elif self.state["calls"] <= self.state["failures"]:
            self.set_status(503)
            self.finish("starting")
        else:
            self.finish(json.dumps(dict(self.request.headers)))


@pytest.fixture
def flaky(io_loop: Any) -> Any:
    state = {"calls": 0, "failures": 2}
    sockets = netutil.bind_sockets(0, "127.0.0.1")
    server = httpserver.HTTPServer(web.Application([(r"/(\w+)", FlakyHandler, {"state": state})]))
    server.add_sockets(sockets)
    state["url"] = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    yield state
    server.stop()


def fast_client(url: str, retries: int = 5) -> GatewayClient:
    return GatewayClient(url=url, auth_token="tok", headers='{"X-Extra": "1"}', gateway_retry_interval=0.01,
                         gateway_retry_max=retries)


@pytest.mark.gen_test(timeout=30)
async def test_a_503_is_retried_and_headers_are_sent(flaky: dict[str, Any]) -> None:
    reply = await fast_client(flaky["url"]).fetch_json("GET", "/echo")
    assert flaky["calls"] == 3
    assert reply["Authorization"] == "token tok" and reply["X-Extra"] == "1"


@pytest.mark.gen_test(timeout=30)
async def test_retries_end_in_a_502(flaky: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as raised:
        await fast_client(flaky["url"], retries=1).fetch("GET", "/echo")
    assert flaky["calls"] == 2 and raised.value.status_code == 502


@pytest.mark.gen_test(timeout=30)
async def test_the_gateways_404_and_403_pass_on_with_its_message(flaky: dict[str, Any]) -> None:
    client = fast_client(flaky["url"])
    with pytest.raises(NotFound, match="Kernel does not exist: k"):
        await client.fetch("GET", "/missing")
    with pytest.raises(Forbidden, match="Resource Limit"):
        await client.fetch("GET", "/forbidden")
    assert flaky["calls"] == 2, "an answer that is not 502/503/504 was retried"


@pytest.mark.gen_test(timeout=30)
async def test_an_unreachable_gateway_is_retried_then_a_502() -> None:
    sockets = netutil.bind_sockets(0, "127.0.0.1")
    port = sockets[0].getsockname()[1]
    sockets[0].close()
    with pytest.raises(GatewayError) as raised:
        await fast_client(f"http://127.0.0.1:{port}", retries=2).fetch("GET", "/api")
    assert "could not be reached" in raised.value.message and str(port) not in raised.value.message


@pytest.mark.gen_test(timeout=30)
async def test_a_post_that_got_no_answer_is_not_sent_again(flaky: dict[str, Any]) -> None:
    client = fast_client(flaky["url"], retries=2)
    client.request_timeout = 0.3
    with pytest.raises(GatewayError):
        await client.fetch("POST", "/slow", {"name": "python3"})
    assert flaky["calls"] == 1, "a kernel start that may have reached the gateway was sent again"
    with pytest.raises(GatewayError):
        await client.fetch("GET", "/slow")
    assert flaky["calls"] == 4
