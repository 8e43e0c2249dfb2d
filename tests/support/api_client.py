"""A small client for the REST API of an in-process server, used by the tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPResponse


@dataclass
class APIResponse:
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class APIClient:
    """Sends authenticated requests to ``base_url`` and returns status, headers and body."""

    def __init__(self, http_client: AsyncHTTPClient, base_url: str, token: str) -> None:
        self.http_client = http_client
        self.base_url = base_url.rstrip("/")
        self.token = token

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        url = self.base_url + "/" + quote(path.lstrip("/"), safe="/%?=&")
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        return url

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        raw_body: bytes | None = None,
        authenticated: bool = True,
    ) -> APIResponse:
        all_headers = {"Content-Type": "application/json"}
        if authenticated:
            all_headers["Authorization"] = f"token {self.token}"
        all_headers.update(headers or {})
        data = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else None)
        if data is None and method in ("POST", "PUT", "PATCH"):
            data = b""
        response: HTTPResponse = await self.http_client.fetch(
            self.url(path, params), method=method, body=data, headers=all_headers,
            raise_error=False, follow_redirects=False, request_timeout=60,
        )
        return APIResponse(response.code, response.headers, response.body or b"")

    async def get(self, path: str, **kwargs: Any) -> APIResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> APIResponse:
        return await self.request("POST", path, body, **kwargs)

    async def put(self, path: str, body: Any = None, **kwargs: Any) -> APIResponse:
        return await self.request("PUT", path, body, **kwargs)

    async def patch(self, path: str, body: Any = None, **kwargs: Any) -> APIResponse:
        return await self.request("PATCH", path, body, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> APIResponse:
        return await self.request("DELETE", path, **kwargs)
