"""GatewayClient: how to reach a kernel gateway, and HTTP requests to it with retries.

The settings are Jupyter Server's ``GatewayClient`` ones, with the same names, defaults and
``JUPYTER_GATEWAY_*`` environment variables, so a deployment configured for Jupyter Server
works unchanged: a variable gives a setting's default, configuration overrides it.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from traitlets import Bool, Float, Integer, TraitType, Unicode, validate
from traitlets.config import LoggingConfigurable

from nbserver.errors import Conflict, Forbidden, InvalidInput, NbserverError, NotFound

#: tornado's status for a request that got no answer: the connection closed or timed out.
NO_ANSWER = 599
#: HTTP statuses of a gateway that a retry may cure: it is starting, overloaded, behind a proxy
#: that lost it, or did not answer at all. Other errors are the gateway's answer, passed on at once.
RETRY_STATUSES = frozenset({502, 503, 504, NO_ANSWER})
#: What may be retried of a request that is not idempotent (a kernel start): only answers saying
#: it was not handled. One that timed out or lost its connection may have started a kernel.
RETRY_STATUSES_POST = frozenset({502, 503})
#: Longest part of a gateway's own error message passed on to clients, in characters.
MAX_GATEWAY_MESSAGE = 500
#: Gateway statuses passed on to clients as themselves; any other failure is a 502.
PASSED_ON_ERRORS: dict[int, type[NbserverError]] = {
    400: InvalidInput, 403: Forbidden, 404: NotFound, 409: Conflict,
}


class GatewayError(NbserverError):
    """The gateway failed, could not be reached, or answered with something unusable (502)."""

    status_code = 502
    reason = "Bad Gateway"


def _env_value(trait: TraitType[Any, Any], text: str) -> Any:
    """An environment variable's text as the trait's value (Jupyter Server's readings)."""
    if isinstance(trait, Bool):
        return text.strip().lower() not in ("no", "false", "0")
    if isinstance(trait, Float):
        return float(text)
    if isinstance(trait, Integer):
        return int(text)
    return text


def _env(name: str) -> dict[str, str]:
    return {"env": name}


class GatewayClient(LoggingConfigurable):
    """The connection to a kernel gateway: settings, and requests with retries and backoff."""

    url = Unicode(
        "", help="URL of the kernel gateway (Enterprise Gateway, Kernel Gateway or another nbserver). "
        "When set, every kernel runs there and kernelspecs come from there. (JUPYTER_GATEWAY_URL)",
    ).tag(config=True, **_env("JUPYTER_GATEWAY_URL"))
    ws_url = Unicode(
        "", help="Websocket URL of the gateway; default: url with ws:// or wss://. (JUPYTER_GATEWAY_WS_URL)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_WS_URL"))
    kernels_endpoint = Unicode(
        "/api/kernels", help="The gateway's kernels API path. (JUPYTER_GATEWAY_KERNELS_ENDPOINT)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_KERNELS_ENDPOINT"))
    kernelspecs_endpoint = Unicode(
        "/api/kernelspecs", help="The gateway's kernelspecs API path. (JUPYTER_GATEWAY_KERNELSPECS_ENDPOINT)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_KERNELSPECS_ENDPOINT"))
    kernelspecs_resource_endpoint = Unicode(
        "/kernelspecs", help="The gateway's path of kernelspec resources (logos). "
        "(JUPYTER_GATEWAY_KERNELSPECS_RESOURCE_ENDPOINT)",
    ).tag(config=True, **_env("JUPYTER_GATEWAY_KERNELSPECS_RESOURCE_ENDPOINT"))
    connect_timeout = Float(
        40.0, help="Seconds allowed to connect to the gateway. (JUPYTER_GATEWAY_CONNECT_TIMEOUT)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_CONNECT_TIMEOUT"))
    request_timeout = Float(
        42.0, help="Seconds allowed for one request to the gateway, a kernel start included; sent to "
        "the gateway as KERNEL_LAUNCH_TIMEOUT when the client sets none. (JUPYTER_GATEWAY_REQUEST_TIMEOUT)",
    ).tag(config=True, **_env("JUPYTER_GATEWAY_REQUEST_TIMEOUT"))
    validate_cert = Bool(
        True, help="Check the gateway's TLS certificate. (JUPYTER_GATEWAY_VALIDATE_CERT)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_VALIDATE_CERT"))
    ca_certs = Unicode(
        "", help="File of CA certificates the gateway's certificate is checked against. (JUPYTER_GATEWAY_CA_CERTS)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_CA_CERTS"))
    client_cert = Unicode(
        "", help="Client certificate file for TLS to the gateway. (JUPYTER_GATEWAY_CLIENT_CERT)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_CLIENT_CERT"))
    client_key = Unicode(
        "", help="Key file of the client certificate. (JUPYTER_GATEWAY_CLIENT_KEY)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_CLIENT_KEY"))
    http_user = Unicode(
        "", help="User name for HTTP basic authentication to the gateway. (JUPYTER_GATEWAY_HTTP_USER)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_HTTP_USER"))
    http_pwd = Unicode(
        "", help="Password for HTTP basic authentication to the gateway. (JUPYTER_GATEWAY_HTTP_PWD)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_HTTP_PWD"))
    headers = Unicode(
        "{}", help="Extra HTTP headers sent with every request, as a JSON object. (JUPYTER_GATEWAY_HEADERS)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_HEADERS"))
    auth_header_key = Unicode(
        "Authorization", help="Header that carries the token. (JUPYTER_GATEWAY_AUTH_HEADER_KEY)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_AUTH_HEADER_KEY"))
    auth_token = Unicode(
        "", help="Token sent to the gateway as '<auth_header_key>: <auth_scheme> <auth_token>'. "
        "(JUPYTER_GATEWAY_AUTH_TOKEN)",
    ).tag(config=True, **_env("JUPYTER_GATEWAY_AUTH_TOKEN"))
    auth_scheme = Unicode(
        "token", help="Word before the token in its header; empty for none. (JUPYTER_GATEWAY_AUTH_SCHEME)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_AUTH_SCHEME"))
    allowed_envs = Unicode(
        "", help="Comma-separated names of this server's environment variables sent, with their values, "
        "to every kernel started on the gateway (the gateway must allow them: EG_CLIENT_ENVS). "
        "(JUPYTER_GATEWAY_ALLOWED_ENVS, formerly JUPYTER_GATEWAY_ENV_WHITELIST)",
    ).tag(config=True, **_env("JUPYTER_GATEWAY_ALLOWED_ENVS"))
    env_whitelist = Unicode("", help="The former name of allowed_envs.").tag(
        config=True, **_env("JUPYTER_GATEWAY_ENV_WHITELIST"))
    gateway_retry_interval = Float(
        1.0, help="Seconds before the first retry of a failed connection; each next wait doubles. "
        "(JUPYTER_GATEWAY_RETRY_INTERVAL)",
    ).tag(config=True, **_env("JUPYTER_GATEWAY_RETRY_INTERVAL"))
    gateway_retry_interval_max = Float(
        30.0, help="Longest wait between two retries, in seconds. (JUPYTER_GATEWAY_RETRY_INTERVAL_MAX)"
    ).tag(config=True, **_env("JUPYTER_GATEWAY_RETRY_INTERVAL_MAX"))
    gateway_retry_max = Integer(
        5, help="Retries of a request (or of a kernel's websocket) after the gateway could not be "
        "reached, before giving up. (JUPYTER_GATEWAY_RETRY_MAX)",
    ).tag(config=True, **_env("JUPYTER_GATEWAY_RETRY_MAX"))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # An environment variable gives the default of a setting that configuration left unset.
        configured = set(kwargs)
        for section in self.section_names():
            if section in self.config:
                configured.update(self.config[section])
        for name, trait in self.traits(env=lambda value: value is not None).items():
            text = os.environ.get(trait.metadata["env"])
            if text is not None and name not in configured:
                try:
                    setattr(self, name, _env_value(trait, text))
                except (ValueError, TypeError) as exc:
                    raise ValueError(f"{trait.metadata['env']}={text!r} is not a valid value: {exc}") from None
        self.extra_headers()  # refuse bad JSON at start, not at the first request

    @validate("url", "ws_url")
    def _validate_url(self, proposal: Any) -> str:
        value = str(proposal["value"]).rstrip("/")
        return value

    @property
    def enabled(self) -> bool:
        """Whether kernels run on a gateway (a url is set)."""
        return bool(self.url)

    @property
    def websocket_url(self) -> str:
        if self.ws_url:
            return self.ws_url
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(scheme="wss" if parts.scheme == "https" else "ws"))

    def extra_headers(self) -> dict[str, str]:
        """``headers`` as a dict; ValueError when it is not a JSON object of strings."""
        try:
            value = json.loads(self.headers or "{}")
        except ValueError:
            raise ValueError("GatewayClient.headers (JUPYTER_GATEWAY_HEADERS) is not valid JSON") from None
        if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
            raise ValueError("GatewayClient.headers (JUPYTER_GATEWAY_HEADERS) must be a JSON object of strings")
        return value

    def request_headers(self) -> dict[str, str]:
        """Every header a request to the gateway carries: the extra ones and the token."""
        headers = self.extra_headers()
        if self.auth_token:
            headers[self.auth_header_key] = f"{self.auth_scheme} {self.auth_token}".strip()
        return headers

    def forwarded_env(self) -> dict[str, str]:
        """The server's variables named in allowed_envs (or env_whitelist), for every kernel."""
        names = [name.strip() for name in (self.allowed_envs or self.env_whitelist).split(",")]
        return {name: os.environ[name] for name in names if name and name in os.environ}

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): doubling, capped."""
        return float(min(self.gateway_retry_interval * 2 ** attempt, self.gateway_retry_interval_max))

    def _request(self, url: str, method: str = "GET", body: bytes | None = None,
                 timeout: float | None = None) -> HTTPRequest:
        return HTTPRequest(
            url, method=method, body=body, headers=self.request_headers(),
            connect_timeout=self.connect_timeout, request_timeout=timeout or self.request_timeout,
            validate_cert=self.validate_cert, ca_certs=self.ca_certs or None,
            client_cert=self.client_cert or None, client_key=self.client_key or None,
            auth_username=self.http_user or None, auth_password=self.http_pwd or None,
            follow_redirects=False,
        )

    def websocket_request(self, path: str) -> HTTPRequest:
        """The request that opens the websocket at ``path`` (under the gateway's ws URL)."""
        request = self._request(self.websocket_url + path)
        request.request_timeout = None  # a websocket lives on: only connecting is timed
        return request

    async def fetch(self, method: str, path: str, body: Any = None, timeout: float | None = None,
                    retries: int | None = None) -> HTTPResponse:
        """``method path`` on the gateway (``body`` sent as JSON); retried with backoff while the
        gateway cannot be reached, or answers 502/503 (or, except for a POST, 504 or nothing).

        ``retries`` overrides gateway_retry_max. Raises NotFound, InvalidInput, Forbidden or
        Conflict for the gateway's 404, 400, 403 and 409 (with its message), GatewayError (502)
        for anything else that fails.
        """
        most = self.gateway_retry_max if retries is None else retries
        retry_statuses = RETRY_STATUSES_POST if method == "POST" else RETRY_STATUSES
        data = json.dumps(body).encode("utf-8") if body is not None else (b"" if method == "POST" else None)
        request = self._request(self.url + path, method, data, timeout)
        attempt = 0
        while True:
            try:
                return await AsyncHTTPClient().fetch(request)
            except HTTPClientError as exc:
                if exc.code not in retry_statuses or attempt >= most:
                    raise self._error(method, path, exc) from None
                problem = f"HTTP {exc.code}"
            except (OSError, asyncio.TimeoutError) as exc:
                if attempt >= most:
                    raise GatewayError(
                        "The kernel gateway could not be reached; see the server log.",
                        log_detail=f"{method} {path}: {exc}",
                    ) from None
                problem = str(exc) or type(exc).__name__
            delay = self.backoff(attempt)
            self.log.warning("Gateway %s %s failed (%s); retrying in %.1f s", method, path, problem, delay)
            await asyncio.sleep(delay)
            attempt += 1

    async def fetch_json(self, method: str, path: str, body: Any = None, timeout: float | None = None) -> Any:
        """``fetch`` and the reply's JSON (None for an empty reply); GatewayError when it is not JSON."""
        response = await self.fetch(method, path, body, timeout)
        if not response.body:
            return None
        try:
            return json.loads(response.body)
        except ValueError:
            raise GatewayError("The kernel gateway sent a reply that is not JSON.",
                               log_detail=f"{method} {path}: {response.body[:200]!r}") from None

    def _error(self, method: str, path: str, exc: HTTPClientError) -> NbserverError:
        gateway_message = ""
        if exc.response is not None and exc.response.body:
            try:
                reply = json.loads(exc.response.body)
                gateway_message = str(reply.get("message") or reply.get("reason") or "")
            except (ValueError, AttributeError):
                gateway_message = ""
        detail = f"{method} {path}: HTTP {exc.code} {gateway_message or exc}"
        if exc.code == NO_ANSWER:
            return GatewayError("The kernel gateway could not be reached; see the server log.", log_detail=detail)
        error_class = PASSED_ON_ERRORS.get(exc.code)
        if error_class is not None:
            text = gateway_message[:MAX_GATEWAY_MESSAGE] or f"The kernel gateway answered {exc.code}."
            return error_class(text, log_detail=detail)
        return GatewayError(f"The kernel gateway answered {exc.code}; see the server log.", log_detail=detail)


def quote_segment(value: str) -> str:
    """One path segment, percent-encoded for a gateway URL."""
    return quote(value, safe="")
