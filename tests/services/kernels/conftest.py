"""Fixtures of the kernel tests: a started kernel and websocket clients of it."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterator

import pytest

from tests.support.api_client import APIClient
from tests.support.kernel_client import KernelWebsocketClient


@pytest.fixture
def start_kernel(api: APIClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def start(**body: Any) -> dict[str, Any]:
        response = await api.post("api/kernels", body)
        assert response.status == 201, response.body
        return response.json()  # type: ignore[no-any-return]

    return start


@pytest.fixture
def connect(base_url: str, token: str) -> Iterator[Callable[..., Awaitable[KernelWebsocketClient]]]:
    clients: list[KernelWebsocketClient] = []

    async def open_client(kernel_id: str, **kwargs: Any) -> KernelWebsocketClient:
        client = await KernelWebsocketClient.connect(base_url, token, kernel_id, **kwargs)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        client.close()
