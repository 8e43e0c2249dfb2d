"""A cookie-keeping HTTP client that behaves like a browser toward an in-process server."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient

from tests.support.api_client import APIResponse


class BrowserSession:
    """Sends requests with the cookies earlier responses set; never follows redirects itself."""

    def __init__(self, http_client: AsyncHTTPClient, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url.rstrip("/")
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    @property
    def origin(self) -> str:
        return re.match(r"https?://[^/]+", self.base_url).group(0)  # type: ignore[union-attr]

    def remember(self, headers: Any) -> None:
        for header in headers.get_list("Set-Cookie"):
            self.set_cookie_headers.append(header)
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                expired = morsel["expires"] and "1970" in morsel["expires"] or morsel["max-age"] == "0"
                if expired or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def request(self, method: str, path: str, body: bytes | None = None,
                      headers: dict[str, str] | None = None) -> APIResponse:
        url = path if path.startswith("http") else self.base_url + path
        all_headers = dict(headers or {})
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        response = await self.http_client.fetch(
            url, method=method, body=body, headers=all_headers, raise_error=False,
            follow_redirects=False, request_timeout=30,
        )
        self.remember(response.headers)
        return APIResponse(response.code, response.headers, response.body or b"")

    async def get(self, path: str, **kwargs: Any) -> APIResponse:
        return await self.request("GET", path, **kwargs)

    async def post_form(self, path: str, fields: dict[str, str], **kwargs: Any) -> APIResponse:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kwargs.pop("headers", {})}
        return await self.request("POST", path, body=urlencode(fields).encode(), headers=headers, **kwargs)

    async def xsrf_token(self) -> str:
        """The ``_xsrf`` cookie, fetching the login page first to get one."""
        if "_xsrf" not in self.cookies:
            await self.get("/login")
        return self.cookies["_xsrf"]

    async def login(self, secret: str, next_path: str | None = None) -> APIResponse:
        xsrf = await self.xsrf_token()
        path = "/login" + (f"?{urlencode({'next': next_path})}" if next_path else "")
        return await self.post_form(path, {"password": secret, "_xsrf": xsrf})

    def session_cookie_names(self) -> list[str]:
        return [name for name in self.cookies if name.startswith("nbserver-session")]
